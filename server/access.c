/* access.c - bearer tokens (constant-time comparison) and CORS origin matching. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "access.h"

int ct_access_init(ct_access *a, const char *token_path, const char *cors_origin, char *msg, size_t cap)
{
    memset(a, 0, sizeof *a);
    a->cors_origin = cors_origin && *cors_origin ? cors_origin : NULL;
    if (!token_path || !*token_path)
        return 0;
    FILE *f = fopen(token_path, "r");
    if (!f) {
        snprintf(msg, cap, "--auth-token-file %s: cannot be read", token_path);
        return -1;
    }
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' ' || buf[n - 1] == '\t'))
        n--;
    if (n == 0) {
        snprintf(msg, cap, "--auth-token-file %s: the file holds no token", token_path);
        return -1;
    }
    a->token = malloc(n + 1);
    if (!a->token) {
        snprintf(msg, cap, "out of memory");
        return -1;
    }
    memcpy(a->token, buf, n);
    a->token[n] = '\0';
    a->token_len = n;
    memset(buf, 0, sizeof buf);
    return 0;
}

void ct_access_free(ct_access *a)
{
    if (a->token) {
        memset(a->token, 0, a->token_len);
        free(a->token);
    }
    a->token = NULL;
}

int ct_access_authorized(const ct_access *a, const char *authorization)
{
    if (!a->token)
        return 1;
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return 0;
    const char *given = authorization + 7;
    size_t given_len = strlen(given);
    /* Every byte of the token is compared whatever the guess: only the length leaks. */
    unsigned char diff = (unsigned char)(given_len != a->token_len);
    for (size_t i = 0; i < a->token_len; i++)
        diff |= (unsigned char)(a->token[i] ^ (i < given_len ? given[i] : 0));
    return diff == 0;
}

const char *ct_access_cors_origin(const ct_access *a, const char *origin)
{
    if (!a->cors_origin)
        return NULL;
    if (strcmp(a->cors_origin, "*") == 0)
        return "*";
    return origin && strcmp(origin, a->cors_origin) == 0 ? a->cors_origin : NULL;
}
