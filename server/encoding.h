/* encoding.h - HTTP content codings with zlib: gzip and deflate request bodies decompressed
 * (bounded, so a small "zip bomb" cannot grow past --max-body), responses compressed when
 * Accept-Encoding asks for it. */
#ifndef CT_SERVER_ENCODING_H
#define CT_SERVER_ENCODING_H

#include <stddef.h>
#include <zlib.h>

#include "api.h"

/* Decompresses body in place (replacing its buffer) when coding is "gzip" or "deflate"
 * ("identity" or NULL: nothing to do). At most max_out bytes may come out. 0, or -1 with
 * err (413 past max_out, 415 for an unknown coding, 400 for corrupt data). */
int ct_decode_body(const char *coding, ct_buffer *body, size_t max_out, ct_api_error *err);

/* The coding to answer with for an Accept-Encoding value: "gzip", "deflate" or NULL. */
const char *ct_choose_encoding(const char *accept_encoding);

/* A compressor fed piece by piece, for an answer sent while it is written. */
typedef struct ct_deflater {
    z_stream z;
} ct_deflater;
/* Starts one for coding ("gzip" or "deflate"). 0 or -1; end it with ct_deflater_end. */
int ct_deflater_start(ct_deflater *d, const char *coding);
/* Compresses len bytes of data, with last the end of the whole, appending what comes out to
 * out (zlib may hold some back until later pieces). 0 or -1 (OOM). */
int ct_deflater_feed(ct_deflater *d, const void *data, size_t len, int last, ct_buffer *out);
void ct_deflater_end(ct_deflater *d);

/* Compresses the count buffers, one after another, with coding into *out (malloc'd,
 * *out_len). 0 or -1. */
int ct_encode(const char *coding, const ct_buffer *parts, int count, char **out, size_t *out_len);

#endif /* CT_SERVER_ENCODING_H */
