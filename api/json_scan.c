/* json_scan.c - the scanner's tokens (json_scan.h): white space, punctuation, strings,
 * objects, lists and skipped values; json_tensor.c reads the numbers. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decimal.h"
#include "json_scan.h"

int ct_scan_error(ct_json_scan *s, const char *what, ct_api_error *err)
{
    int line = 1, col = 1;
    for (const char *q = s->start; q < s->p && q < s->end; q++) {
        if (*q == '\n') {
            line++;
            col = 1;
        } else {
            col++;
        }
    }
    return ct_api_fail(err, 400, "invalid_json", "body: invalid JSON at line %d, column %d: %s", line, col, what);
}

char ct_scan_peek(ct_json_scan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
    return s->p < s->end ? *s->p : 0;
}

int ct_scan_expect(ct_json_scan *s, char c, ct_api_error *err)
{
    if (ct_scan_peek(s) != c) {
        char what[32];
        snprintf(what, sizeof what, "expected '%c'", c);
        return ct_scan_error(s, what, err);
    }
    s->p++;
    return 0;
}

int ct_scan_next(ct_json_scan *s, char close, ct_api_error *err)
{
    char c = ct_scan_peek(s);
    if (c == ',') {
        s->p++;
        return 1;
    }
    if (c == close) {
        s->p++;
        return 0;
    }
    char what[48];
    snprintf(what, sizeof what, "expected ',' or '%c'", close);
    return ct_scan_error(s, what, err);
}

int ct_scan_end(ct_json_scan *s, ct_api_error *err)
{
    return ct_scan_peek(s) != 0 ? ct_scan_error(s, "unexpected data after the JSON value", err) : 0;
}

int ct_scan_object(ct_json_scan *s, ct_scan_member_fn member, void *ctx, ct_api_error *err)
{
    if (ct_scan_expect(s, '{', err) != 0)
        return -1;
    if (ct_scan_peek(s) == '}') {
        s->p++;
        return 0;
    }
    for (;;) {
        char key[64];
        if (ct_scan_peek(s) != '"')
            return ct_scan_error(s, "expected a string key", err);
        if (ct_scan_string(s, key, sizeof key, err) != 0 || ct_scan_expect(s, ':', err) != 0 || member(s, key, ctx, err) != 0)
            return -1;
        const int more = ct_scan_next(s, '}', err);
        if (more <= 0)
            return more;
    }
}

static int hex_value(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int ct_scan_string(ct_json_scan *s, char *buf, size_t cap, ct_api_error *err)
{
    if (ct_scan_expect(s, '"', err) != 0)
        return -1;
    size_t n = 0;
    while (s->p < s->end && *s->p != '"') {
        unsigned char c = (unsigned char)*s->p++;
        if (c < 0x20)
            return ct_scan_error(s, "control character in string", err);
        if (c == '\\') {
            if (s->p >= s->end)
                break;
            char e = *s->p++;
            switch (e) {
            case '"': case '\\': case '/': c = (unsigned char)e; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'n': c = '\n'; break;
            case 'r': c = '\r'; break;
            case 't': c = '\t'; break;
            case 'u': {
                if (s->end - s->p < 4)
                    return ct_scan_error(s, "truncated \\u escape", err);
                int v = 0;
                for (int i = 0; i < 4; i++) {
                    int h = hex_value(s->p[i]);
                    if (h < 0)
                        return ct_scan_error(s, "invalid \\u escape", err);
                    v = v * 16 + h;
                }
                s->p += 4;
                c = v < 0x80 ? (unsigned char)v : '?'; /* names we look for are ASCII */
                break;
            }
            default:
                return ct_scan_error(s, "invalid escape in string", err);
            }
        }
        if (n + 1 < cap)
            buf[n++] = (char)c;
    }
    if (s->p >= s->end)
        return ct_scan_error(s, "unterminated string", err);
    s->p++;
    buf[n] = '\0';
    return 0;
}

int ct_scan_skip_value(ct_json_scan *s, const char **from, const char **to, ct_api_error *err)
{
    char c = ct_scan_peek(s);
    *from = s->p;
    int depth = 0;
    if (c == '"') {
        char tmp[8];
        if (ct_scan_string(s, tmp, sizeof tmp, err) != 0)
            return -1;
        *to = s->p;
        return 0;
    }
    if (c != '[' && c != '{') { /* a scalar: the bytes up to the next delimiter */
        while (s->p < s->end && !strchr(",]} \t\r\n", *s->p))
            s->p++;
        if (s->p == *from)
            return ct_scan_error(s, "expected a value", err);
        *to = s->p;
        return 0;
    }
    while (s->p < s->end) {
        c = *s->p;
        if (c == '"') {
            char tmp[8];
            if (ct_scan_string(s, tmp, sizeof tmp, err) != 0)
                return -1;
            continue;
        }
        if (c == '[' || c == '{') {
            if (++depth > s->max_depth)
                return ct_scan_error(s, "nested too deeply", err);
        } else if (c == ']' || c == '}') {
            if (--depth == 0) {
                s->p++;
                *to = s->p;
                return 0;
            }
        }
        s->p++;
    }
    return ct_scan_error(s, "unterminated value", err);
}

