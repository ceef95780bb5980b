/* multipart.c - splits a multipart/form-data body (RFC 7578) into parts without copying:
 * each part points into the body. Only what form uploads use is read from part headers:
 * Content-Disposition's name and Content-Type. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "api.h"

static const char *find(const char *hay, size_t hay_len, const char *needle, size_t needle_len)
{
    return needle_len <= hay_len ? memmem(hay, hay_len, needle, needle_len) : NULL;
}

/* Extracts boundary="..." or boundary=... from a Content-Type value. */
static int boundary_of(const char *content_type, char *out, size_t cap)
{
    const char *b = content_type ? strcasestr(content_type, "boundary=") : NULL;
    if (!b)
        return -1;
    b += 9;
    size_t n = 0;
    if (*b == '"') {
        b++;
        while (b[n] && b[n] != '"')
            n++;
    } else {
        while (b[n] && b[n] != ';' && b[n] != ' ')
            n++;
    }
    if (n == 0 || n > 70 || n + 1 > cap)
        return -1;
    memcpy(out, b, n);
    out[n] = '\0';
    return (int)n;
}

/* Parses one part's header block [h, h + len) into part. */
static void parse_part_headers(const char *h, size_t len, ct_part *part)
{
    const char *end = h + len;
    while (h < end) {
        const char *eol = find(h, (size_t)(end - h), "\r\n", 2);
        if (!eol)
            eol = end;
        size_t line_len = (size_t)(eol - h);
        if (line_len > 20 && strncasecmp(h, "Content-Disposition:", 20) == 0) {
            const char *nm = find(h, line_len, "name=\"", 6);
            /* skip "filename=" matches: a real name= follows a space or ';' */
            while (nm && nm > h && nm[-1] != ' ' && nm[-1] != ';')
                nm = find(nm + 6, (size_t)(eol - nm - 6), "name=\"", 6);
            if (nm) {
                nm += 6;
                const char *q = memchr(nm, '"', (size_t)(eol - nm));
                if (q) {
                    part->name = nm;
                    part->name_len = (size_t)(q - nm);
                }
            }
        } else if (line_len > 13 && strncasecmp(h, "Content-Type:", 13) == 0) {
            const char *v = h + 13;
            while (v < eol && *v == ' ')
                v++;
            part->content_type = v;
            part->content_type_len = (size_t)(eol - v);
        }
        h = eol + 2;
    }
}

int ct_multipart_parse(const char *content_type, const char *body, size_t len, ct_part *parts,
                       int max_parts, int *nparts, ct_api_error *err)
{
    char boundary[80], delim[84];
    int blen = boundary_of(content_type, boundary, sizeof boundary);
    *nparts = 0;
    if (blen < 0)
        return ct_api_fail(err, 400, "invalid_multipart", "Content-Type: multipart/form-data needs a boundary parameter");
    /* delimiter = "--" boundary, each after CRLF except possibly the first */
    int dlen = snprintf(delim, sizeof delim, "\r\n--%s", boundary);
    const char *end = body + len;
    const char *p = find(body, len, delim + 2, (size_t)dlen - 2);
    if (!p)
        return ct_api_fail(err, 400, "invalid_multipart", "body: no multipart boundary \"%s\" found", boundary);
    p += dlen - 2;
    for (;;) {
        if (end - p >= 2 && p[0] == '-' && p[1] == '-')
            return 0; /* close delimiter */
        if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
            return ct_api_fail(err, 400, "invalid_multipart", "body: malformed multipart delimiter line");
        p += 2;
        const char *hdr_end = find(p, (size_t)(end - p), "\r\n\r\n", 4);
        const char *data;
        if (hdr_end) {
            data = hdr_end + 4;
        } else if (end - p >= 2 && p[0] == '\r' && p[1] == '\n') {
            hdr_end = p; /* no headers */
            data = p + 2;
        } else {
            return ct_api_fail(err, 400, "invalid_multipart", "body: a part's headers are not terminated");
        }
        const char *next = find(data, (size_t)(end - data), delim, (size_t)dlen);
        if (!next)
            return ct_api_fail(err, 400, "invalid_multipart", "body: a part is not closed by the boundary (truncated upload?)");
        if (*nparts == max_parts)
            return ct_api_fail(err, 400, "too_many_parts", "body: more than %d parts", max_parts);
        ct_part *part = &parts[(*nparts)++];
        *part = (ct_part){0};
        parse_part_headers(p, (size_t)(hdr_end - p), part);
        part->data = data;
        part->len = (size_t)(next - data);
        p = next + dlen;
    }
}
