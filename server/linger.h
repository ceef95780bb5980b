/* linger.h - answering an upload that is still arriving: libmicrohttpd queues a response only
 * before the body or after all of it, so a client that sends past --max-body without waiting
 * would otherwise see its connection torn down and no answer. */
#ifndef CT_SERVER_LINGER_H
#define CT_SERVER_LINGER_H

#include <stddef.h>

/* Writes the bytes of an answer on the connection (plain send, or a TLS session's record
 * layer); returns how many it wrote, or -1. */
typedef long (*ct_linger_writer)(void *ctx, const char *bytes, size_t len);

/* Writes a complete HTTP/1.1 response (status, JSON body, Connection: close) on the
 * connection itself, through `write` (NULL: send() on fd), then keeps the socket open on a
 * descriptor of its own and drains what the client still sends (for up to `seconds` and
 * `max_bytes`) before closing it, as nginx's lingering close does: closing a socket with
 * unread data makes the kernel send a reset, which destroys the answer in the client's
 * receive buffer. The drain reads raw bytes, so it works under TLS too (the records it
 * discards need no decrypting). The caller then aborts the connection (its close leaves
 * the socket to the drain). request_id goes in X-Request-Id. 0, or -1 when nothing was
 * written (the caller closes as before). */
int ct_linger_respond(int fd, ct_linger_writer write, void *write_ctx, int status, const char *reason, const char *request_id,
                      const char *json, size_t len, double seconds, size_t max_bytes);

#endif /* CT_SERVER_LINGER_H */
