/* sha256.h - SHA-256 (FIPS 180-4), for the weights' digest in a layer's description. */
#ifndef CT_SERVER_SHA256_H
#define CT_SERVER_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct ct_sha256 {
    uint32_t h[8];
    uint64_t length;        /* bytes hashed so far */
    unsigned char block[64];
    size_t used;            /* bytes waiting in block */
} ct_sha256;

void ct_sha256_init(ct_sha256 *s);
void ct_sha256_update(ct_sha256 *s, const void *data, size_t len);
/* Writes the digest as 64 lowercase hex digits and a NUL. */
void ct_sha256_hex(ct_sha256 *s, char out[65]);

#endif /* CT_SERVER_SHA256_H */
