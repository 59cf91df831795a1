/* Fuzz target: the CoSERV codec (draft-ietf-rats-coserv-07). Property:
 * whatever decodes re-encodes, and the re-encoding decodes to the same
 * request and re-encodes identically; a result set loads into an RV store
 * or is refused; a query answered from a store decodes; never crash or
 * leak. */
#include "vmesh/coserv.h"

#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static vmesh_rv_store *store(void)
{
    static vmesh_rv_store *s;
    static const uint8_t cls[] = {0x00, 0x11, 0x22, 0x33}, d[32] = {1};
    vmesh_rv_env env = {.scheme = "fuzz", .class_id = cls, .class_id_len = sizeof(cls)};
    vmesh_rv_measurement m = {.name = "A", .digest_alg = VMESH_HASH_SHA256, .digest = d, .digest_len = 32};

    if (s == NULL && vmesh_rv_store_new(&s) == VMESH_OK && vmesh_rv_add_measurement(s, &env, &m) != VMESH_OK) {
        vmesh_rv_store_free(s);
        s = NULL;
    }
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static vmesh_coserv c, c2;
    static const uint8_t auth[] = {0xab};
    vmesh_buf a = {0}, b = {0}, raw = {0}, ans = {0};

    if (vmesh_coserv_decode(data, size, &c) == VMESH_OK) {
        if (vmesh_coserv_encode(&c, &a) != VMESH_OK)
            __builtin_trap();
        if (vmesh_coserv_decode(a.data, a.len, &c2) != VMESH_OK || vmesh_coserv_encode(&c2, &b) != VMESH_OK)
            __builtin_trap();
        if (a.len != b.len || memcmp(a.data, b.data, a.len) != 0 || c.nsel != c2.nsel || c.expiry != c2.expiry ||
            c.artifact != c2.artifact || c.kind != c2.kind)
            __builtin_trap();
        if (store() != NULL &&
            vmesh_coserv_answer(&c, store(), "fuzz", auth, sizeof(auth), 1923417002, &ans) == VMESH_OK &&
            vmesh_coserv_decode(ans.data, ans.len, &c2) != VMESH_OK)
            __builtin_trap();
        if (c.results.n > 0) {
            vmesh_rv_store *s = NULL;
            if (vmesh_rv_store_new(&s) == VMESH_OK &&
                vmesh_coserv_load_results(&c, s, "fuzz", 0) != VMESH_OK && vmesh_rv_store_size(s) != 0)
                __builtin_trap(); /* all or nothing */
            vmesh_rv_store_free(s);
        }
    }
    if (vmesh_coserv_decode_b64url((const char *)data, size, &raw, &c) == VMESH_OK && c.nsel == 0)
        __builtin_trap();
    /* The consumer's check of a signed answer: never accepts a forgery (the
     * fuzzer has no key), never crashes on any input. */
    {
        static vmesh_key *k;
        vmesh_buf pl = {0};
        if (k == NULL && vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k) != VMESH_OK)
            k = NULL;
        if (k != NULL && vmesh_coserv_verify_signed(data, size, k, NULL, 0, 0, &pl, &c2) == VMESH_OK)
            __builtin_trap();
        vmesh_buf_free(&pl);
    }
    vmesh_buf_free(&a);
    vmesh_buf_free(&b);
    vmesh_buf_free(&raw);
    vmesh_buf_free(&ans);
    return 0;
}
