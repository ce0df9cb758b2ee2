/* sha256.c - SHA-256 over OpenSSL EVP; see sha256.h. */
#include "compat.h"

#include <openssl/evp.h>

#include "sha256.h"
#include "xalloc.h"

struct sha256 {
    EVP_MD_CTX *ctx;
};

struct sha256 *sha256_new(void)
{
    struct sha256 *h = xmalloc(sizeof(*h));
    h->ctx = EVP_MD_CTX_new();
    if (!h->ctx || EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        abort();
    return h;
}

void sha256_free(struct sha256 *h)
{
    if (!h)
        return;
    EVP_MD_CTX_free(h->ctx);
    free(h);
}

void sha256_reset(struct sha256 *h)
{
    if (EVP_DigestInit_ex(h->ctx, EVP_sha256(), NULL) != 1)
        abort();
}

void sha256_update(struct sha256 *h, const void *p, size_t n)
{
    if (n && EVP_DigestUpdate(h->ctx, p, n) != 1)
        abort();
}

void sha256_final(struct sha256 *h, uint8_t out[SHA256_LEN])
{
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(h->ctx, out, &len) != 1 || len != SHA256_LEN)
        abort();
}

void sha256_final_hex(struct sha256 *h, char hex[SHA256_HEX_LEN + 1])
{
    static const char digits[] = "0123456789abcdef";
    uint8_t d[SHA256_LEN];

    sha256_final(h, d);
    for (size_t i = 0; i < SHA256_LEN; i++) {
        hex[2 * i] = digits[d[i] >> 4];
        hex[2 * i + 1] = digits[d[i] & 15];
    }
    hex[SHA256_HEX_LEN] = '\0';
}

void sha256_hex(const void *p, size_t n, char hex[SHA256_HEX_LEN + 1])
{
    struct sha256 *h = sha256_new();
    sha256_update(h, p, n);
    sha256_final_hex(h, hex);
    sha256_free(h);
}

int sha256_is_hex(const char *s, size_t len)
{
    if (len != SHA256_HEX_LEN)
        return 0;
    for (size_t i = 0; i < len; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    }
    return 1;
}
