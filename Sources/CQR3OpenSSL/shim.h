#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <string.h>

/// HMAC-SHA256 (RFC 2104) under `key` of `head` followed by `body`, written to `out` (32 bytes);
/// returns 1 on success.
///
/// Both signatures of a delivery go through here. It hashes with the low-level SHA-256 functions
/// (still assembly-accelerated) on the stack: no provider lookup, no allocation, about a third of
/// the time of `HMAC()`, which fetches the digest and allocates its contexts on every call. The two
/// parts spare the Standard Webhooks signature ("id.timestamp." and the body) a copy of the body.
/// They are deprecated in OpenSSL 3 but not going away in 3.x; this header is a system module, so
/// Swift sees no warning.
static inline int cqr3_hmac_sha256_parts(
    const unsigned char *key, size_t key_length,
    const unsigned char *head, size_t head_length,
    const unsigned char *body, size_t body_length,
    unsigned char *out
) {
    unsigned char block[SHA256_CBLOCK];
    memset(block, 0, sizeof block);
    if (key_length > SHA256_CBLOCK) {
        SHA256(key, key_length, block);
    } else if (key_length > 0) {
        memcpy(block, key, key_length);
    }
    unsigned char pad[SHA256_CBLOCK];
    unsigned char inner[SHA256_DIGEST_LENGTH];
    SHA256_CTX context;
    for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x36;
    int ok = SHA256_Init(&context) && SHA256_Update(&context, pad, SHA256_CBLOCK)
        && (head_length == 0 || SHA256_Update(&context, head, head_length))
        && (body_length == 0 || SHA256_Update(&context, body, body_length))
        && SHA256_Final(inner, &context);
    for (size_t i = 0; i < SHA256_CBLOCK; i++) pad[i] = block[i] ^ 0x5c;
    ok = ok && SHA256_Init(&context) && SHA256_Update(&context, pad, SHA256_CBLOCK)
        && SHA256_Update(&context, inner, SHA256_DIGEST_LENGTH) && SHA256_Final(out, &context);
    OPENSSL_cleanse(block, sizeof block);
    OPENSSL_cleanse(pad, sizeof pad);
    OPENSSL_cleanse(&context, sizeof context);
    return ok;
}
