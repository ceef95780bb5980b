/* stream.h - a large JSON answer sent while it is written: the worker that computed the
 * tensor formats its numbers chunk after chunk, and libmicrohttpd sends each chunk as soon
 * as it is ready (chunked transfer encoding), so the first byte leaves after one chunk, not
 * after the whole text, and chunks are freed once sent.
 *
 * Two owners share a stream: the producer (the worker, ct_stream_produce) and the response
 * (ct_stream_response; its free callback). The HTTP thread suspends the connection when it
 * has sent everything formatted so far; the producer resumes it when it adds a chunk or
 * ends. Neither touches the request after the worker has resumed it. */
#ifndef CT_SERVER_STREAM_H
#define CT_SERVER_STREAM_H

#include <microhttpd.h>

#include "api.h"

/* Numbers from which a JSON answer is streamed rather than formatted whole first. */
#define CT_STREAM_MIN_NUMBERS (1 << 20)

typedef struct ct_stream ct_stream;

/* A stream that sends head (taken), then data's count numbers (taken: freed when written),
 * comma-separated, then tail, over conn; compressed with coding ("gzip", "deflate") unless
 * it is NULL. NULL when out of memory (data is not taken then). */
ct_stream *ct_stream_create(struct MHD_Connection *conn, ct_pieces *head, float *data, int64_t count, const char *tail,
                            const char *coding);

/* A new reference, for the producer; drop it with ct_stream_release. */
ct_stream *ct_stream_ref(ct_stream *s);
void ct_stream_release(ct_stream *s);

/* Formats every chunk, handing each to the connection as it is done; stops early when the
 * response is gone (the client hung up). Runs on the worker, after it resumed the
 * connection. */
void ct_stream_produce(ct_stream *s);

/* The response that sends the stream (size unknown: chunked); it holds a reference of its
 * own. *bytes_out (the request's count, read when it completes) grows as bytes leave. NULL
 * when out of memory. */
struct MHD_Response *ct_stream_response(ct_stream *s, size_t *bytes_out);

#endif /* CT_SERVER_STREAM_H */
