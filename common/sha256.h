/*
 * sha256.h - incremental SHA-256 (the only OpenSSL user, habit 11).
 *
 * Calling sequence: sha256_new -> sha256_update* -> sha256_final -> sha256_free.
 * After sha256_final the context may be reused after sha256_reset.
 */
#ifndef IMX_SHA256_H
#define IMX_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_LEN 32
#define SHA256_HEX_LEN 64

struct sha256;

struct sha256 *sha256_new(void); /* aborts on OOM */
void sha256_free(struct sha256 *h); /* NULL-safe */
void sha256_reset(struct sha256 *h);
void sha256_update(struct sha256 *h, const void *p, size_t n);
/* Write the digest as 64 lowercase hex digits plus NUL into hex[65]. */
void sha256_final_hex(struct sha256 *h, char hex[SHA256_HEX_LEN + 1]);
void sha256_final(struct sha256 *h, uint8_t out[SHA256_LEN]);
/* One-shot over a buffer. */
void sha256_hex(const void *p, size_t n, char hex[SHA256_HEX_LEN + 1]);
/* True when s is exactly 64 lowercase hex digits. */
int sha256_is_hex(const char *s, size_t len);

#endif
