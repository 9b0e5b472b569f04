#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <stdatomic.h>

/// The HMAC algorithm, fetched once per process (a race fetches twice and frees one).
static inline EVP_MAC *cqr3_hmac_algorithm(void) {
    static _Atomic(EVP_MAC *) cached;
    EVP_MAC *algorithm = atomic_load(&cached);
    if (algorithm != NULL) return algorithm;
    EVP_MAC *fetched = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC *expected = NULL;
    if (atomic_compare_exchange_strong(&cached, &expected, fetched)) return fetched;
    EVP_MAC_free(fetched);
    return expected;
}

/// HMAC-SHA256 under `key` of `head` followed by `body`, without copying them into one buffer
/// (the Standard Webhooks signature covers "id.timestamp." and the body). Writes 32 bytes to
/// `out`; returns 1 on success. The HMAC algorithm is fetched once per process.
static inline int cqr3_hmac_sha256_parts(
    const unsigned char *key, size_t key_length,
    const unsigned char *head, size_t head_length,
    const unsigned char *body, size_t body_length,
    unsigned char *out
) {
    EVP_MAC *algorithm = cqr3_hmac_algorithm();
    if (algorithm == NULL) return 0;
    EVP_MAC_CTX *context = EVP_MAC_CTX_new(algorithm);
    if (context == NULL) return 0;
    OSSL_PARAM parameters[2];
    parameters[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0);
    parameters[1] = OSSL_PARAM_construct_end();
    size_t length = 0;
    int ok = EVP_MAC_init(context, key, key_length, parameters)
        && EVP_MAC_update(context, head, head_length)
        && (body_length == 0 || EVP_MAC_update(context, body, body_length))
        && EVP_MAC_final(context, out, &length, 32);
    EVP_MAC_CTX_free(context);
    return ok && length == 32;
}
