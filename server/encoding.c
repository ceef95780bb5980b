/* encoding.c - see encoding.h. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "encoding.h"

int ct_decode_body(const char *coding, ct_buffer *body, size_t max_out, ct_api_error *err)
{
    if (!coding || !*coding || strcasecmp(coding, "identity") == 0)
        return 0;
    int gzip = strcasecmp(coding, "gzip") == 0 || strcasecmp(coding, "x-gzip") == 0;
    if (!gzip && strcasecmp(coding, "deflate") != 0)
        return ct_api_fail(err, 415, "unsupported_encoding", "Content-Encoding: %.40s is not supported; use gzip or deflate", coding);
    z_stream z = {0};
    /* gzip: 16 + 15; deflate is the zlib format (RFC 9110), 32 + 15 also accepts gzip */
    if (inflateInit2(&z, gzip ? 16 + MAX_WBITS : 32 + MAX_WBITS) != Z_OK)
        return ct_api_fail(err, 503, "out_of_memory", "out of memory");
    ct_buffer out = {0};
    z.next_in = (unsigned char *)body->data;
    z.avail_in = (uInt)body->len;
    int rc;
    do {
        if (ct_buffer_reserve(&out, 1 << 16) != 0) {
            inflateEnd(&z);
            ct_buffer_free(&out);
            return ct_api_fail(err, 503, "out_of_memory", "out of memory");
        }
        z.next_out = (unsigned char *)out.data + out.len;
        z.avail_out = (uInt)(out.cap - out.len);
        rc = inflate(&z, Z_NO_FLUSH);
        out.len = out.cap - z.avail_out;
        if (out.len > max_out) {
            inflateEnd(&z);
            ct_buffer_free(&out);
            return ct_api_fail(err, 413, "body_too_large", "body: more than %zu bytes once decompressed (--max-body)", max_out);
        }
    } while (rc == Z_OK);
    inflateEnd(&z);
    if (rc != Z_STREAM_END) {
        ct_buffer_free(&out);
        return ct_api_fail(err, 400, "invalid_encoding", "body: corrupt %s data", gzip ? "gzip" : "deflate");
    }
    ct_buffer_free(body);
    *body = out;
    return 0;
}

/* Whether Accept-Encoding lists coding without q=0. */
static int accepts_coding(const char *accept, const char *coding)
{
    const char *p = strcasestr(accept, coding);
    if (!p)
        return 0;
    p += strlen(coding);
    while (*p == ' ')
        p++;
    return !(*p == ';' && strstr(p, "q=0") == strchr(p, 'q') && !strstr(p, "q=0."));
}

const char *ct_choose_encoding(const char *accept_encoding)
{
    if (!accept_encoding)
        return NULL;
    if (accepts_coding(accept_encoding, "gzip"))
        return "gzip";
    if (accepts_coding(accept_encoding, "deflate"))
        return "deflate";
    return NULL;
}

int ct_deflater_start(ct_deflater *d, const char *coding)
{
    memset(d, 0, sizeof *d);
    /* level 1: compression pays for itself on the wire; higher levels cost more CPU than they save */
    return deflateInit2(&d->z, 1, Z_DEFLATED, strcmp(coding, "gzip") == 0 ? 16 + MAX_WBITS : MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK
               ? 0
               : -1;
}

int ct_deflater_feed(ct_deflater *d, const void *data, size_t len, int last, ct_buffer *out)
{
    d->z.next_in = (unsigned char *)data;
    d->z.avail_in = (uInt)len;
    for (;;) {
        if (ct_buffer_reserve(out, deflateBound(&d->z, (uLong)d->z.avail_in) + 64) != 0)
            return -1;
        d->z.next_out = (unsigned char *)out->data + out->len;
        d->z.avail_out = (uInt)(out->cap - out->len);
        int rc = deflate(&d->z, last ? Z_FINISH : Z_NO_FLUSH);
        out->len = out->cap - d->z.avail_out;
        if (rc == Z_STREAM_END || (rc == Z_OK && !last && d->z.avail_in == 0))
            return 0;
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return -1;
    }
}

void ct_deflater_end(ct_deflater *d)
{
    deflateEnd(&d->z);
}

int ct_encode(const char *coding, const ct_buffer *parts, int count, char **out, size_t *out_len)
{
    ct_deflater d;
    if (ct_deflater_start(&d, coding) != 0)
        return -1;
    size_t len = 0;
    for (int i = 0; i < count; i++)
        len += parts[i].len;
    ct_buffer b = {0};
    int rc = ct_buffer_reserve(&b, deflateBound(&d.z, (uLong)len) + 64 * (size_t)count + 64); /* one block boundary per piece at worst */
    for (int i = 0; i < count && rc == 0; i++)
        rc = ct_deflater_feed(&d, parts[i].data, parts[i].len, i + 1 == count, &b);
    if (count == 0 && rc == 0)
        rc = ct_deflater_feed(&d, NULL, 0, 1, &b);
    ct_deflater_end(&d);
    if (rc != 0) {
        ct_buffer_free(&b);
        return -1;
    }
    *out = b.data;
    *out_len = b.len;
    return 0;
}
