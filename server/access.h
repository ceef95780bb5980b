/* access.h - who may call: bearer-token authentication and CORS. */
#ifndef CT_SERVER_ACCESS_H
#define CT_SERVER_ACCESS_H

#include <stddef.h>

typedef struct ct_access {
    char *token;          /* NULL: no authentication */
    size_t token_len;
    const char *cors_origin; /* NULL or "": no CORS */
} ct_access;

/* Reads the token (trailing white space trimmed) from path, if path is not empty.
 * 0, or -1 with msg (the token never appears in it). */
int ct_access_init(ct_access *a, const char *token_path, const char *cors_origin, char *msg, size_t cap);
void ct_access_free(ct_access *a);

/* Whether an Authorization header value carries the token. Constant time in the token's
 * contents, so timing does not reveal how much of a guess was right. */
int ct_access_authorized(const ct_access *a, const char *authorization);

/* The Access-Control-Allow-Origin value for a request's Origin, or NULL when CORS does not
 * apply (off, or another origin). */
const char *ct_access_cors_origin(const ct_access *a, const char *origin);

#endif /* CT_SERVER_ACCESS_H */
