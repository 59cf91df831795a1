/*
 * The test/demo CA behind `vmesh ca`: a self-signed CA per trust domain
 * and X509-SVID leaves (SPIFFE X509-SVID standard), with OpenSSL 3 APIs and
 * EC keys. It is for tests and demos: keys live in 0600 files. It must never
 * issue a certificate whose SPIFFE ID is invalid or from another trust
 * domain, and never overwrite an existing CA key.
 */
#include "vmesh/pki.h"

#include <errno.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PEM_MAX (1024 * 1024)

static vmesh_err gen_key(vmesh_key_type kt, EVP_PKEY **out)
{
    vmesh_err rc = VMESH_OK;
    const char *curve = NULL;

    *out = NULL;
    if (kt == VMESH_KEY_EC_P256)
        curve = "P-256";
    else if (kt == VMESH_KEY_EC_P384)
        curve = "P-384";
    else
        VMESH_FAIL(VMESH_ERR_UNSUPPORTED, "the CA issues EC P-256 or P-384 keys only");
    *out = EVP_EC_gen(curve);
    if (*out == NULL)
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "generating an EC key");
out:
    return rc;
}

static vmesh_err path_join(char *buf, size_t n, const char *a, const char *b)
{
    int w = snprintf(buf, n, "%s%s", a, b);

    if (w < 0 || (size_t)w >= n)
        return vmesh_err_set(VMESH_ERR_ARG, "path \"%.64s...\" is too long", a);
    return VMESH_OK;
}

static vmesh_err add_ext(X509 *cert, X509 *issuer, int nid, const char *value)
{
    vmesh_err rc = VMESH_OK;
    X509V3_CTX v3;
    X509_EXTENSION *ext;

    X509V3_set_ctx(&v3, issuer, cert, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, nid, value);
    if (ext == NULL) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "building a certificate extension");
        goto out;
    }
    if (!X509_add_ext(cert, ext, -1))
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "adding a certificate extension");
    X509_EXTENSION_free(ext);
out:
    return rc;
}

static vmesh_err set_serial(X509 *cert)
{
    vmesh_err rc = VMESH_OK;
    uint8_t rnd[16];
    BIGNUM *bn = NULL;

    /* RFC 5280 §4.1.2.2: a positive integer of at most 20 octets. */
    VMESH_ENSURE(RAND_bytes(rnd, sizeof(rnd)) == 1, VMESH_ERR_CRYPTO, "no randomness");
    rnd[0] &= 0x7f;
    rnd[0] |= 0x01;
    bn = BN_bin2bn(rnd, sizeof(rnd), NULL);
    VMESH_ENSURE(bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL,
                 VMESH_ERR_NOMEM, "out of memory");
out:
    BN_free(bn);
    return rc;
}

static vmesh_err new_cert(EVP_PKEY *subject_key, const char *org, const char *cn, long seconds,
                          X509 **out)
{
    vmesh_err rc = VMESH_OK;
    X509 *x = X509_new();
    X509_NAME *name;

    *out = NULL;
    VMESH_ENSURE(x != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_ENSURE(X509_set_version(x, X509_VERSION_3), VMESH_ERR_CRYPTO, "X509_set_version");
    VMESH_GUARD(set_serial(x));
    /* Backdate a little against clock skew between the demo's hosts. */
    VMESH_ENSURE(X509_gmtime_adj(X509_getm_notBefore(x), -300) != NULL &&
                     X509_gmtime_adj(X509_getm_notAfter(x), seconds) != NULL,
                 VMESH_ERR_CRYPTO, "setting the validity period");
    name = X509_get_subject_name(x);
    VMESH_ENSURE(X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, (const unsigned char *)org,
                                            -1, -1, 0) == 1,
                 VMESH_ERR_CRYPTO, "setting the subject");
    if (cn != NULL)
        VMESH_ENSURE(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                                (const unsigned char *)cn, -1, -1, 0) == 1,
                     VMESH_ERR_CRYPTO, "setting the subject (CN too long?)");
    VMESH_ENSURE(X509_set_pubkey(x, subject_key) == 1, VMESH_ERR_CRYPTO, "X509_set_pubkey");
    *out = x;
    x = NULL;
out:
    X509_free(x);
    return rc;
}

static vmesh_err sign_cert(X509 *x, EVP_PKEY *issuer_key)
{
    const EVP_MD *md = EVP_PKEY_get_bits(issuer_key) > 256 ? EVP_sha384() : EVP_sha256();

    if (X509_sign(x, issuer_key, md) <= 0)
        return vmesh_err_ssl(VMESH_ERR_CRYPTO, "signing the certificate");
    return VMESH_OK;
}

static vmesh_err cert_pem(X509 *x, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    long n;

    VMESH_ENSURE(b != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_ENSURE(PEM_write_bio_X509(b, x) == 1, VMESH_ERR_CRYPTO, "writing PEM");
    n = BIO_get_mem_data(b, &p);
    VMESH_ENSURE(n > 0, VMESH_ERR_CRYPTO, "writing PEM");
    VMESH_GUARD(vmesh_buf_append(out, p, (size_t)n));
out:
    BIO_free(b);
    return rc;
}

static vmesh_err key_save(EVP_PKEY *k, const char *path)
{
    vmesh_err rc = VMESH_OK;
    BIO *b = BIO_new(BIO_s_mem());
    char *p;
    long n;

    VMESH_ENSURE(b != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_ENSURE(PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL) == 1,
                 VMESH_ERR_CRYPTO, "writing the private key");
    n = BIO_get_mem_data(b, &p);
    VMESH_ENSURE(n > 0, VMESH_ERR_CRYPTO, "writing the private key");
    rc = vmesh_file_write(path, p, (size_t)n, 0600);
    OPENSSL_cleanse(p, (size_t)n);
out:
    BIO_free(b);
    return rc;
}

/* A self-signed CA certificate for trust_domain over key. */
static vmesh_err make_ca_cert(const char *trust_domain, EVP_PKEY *key, int days, X509 **out)
{
    vmesh_err rc = VMESH_OK;
    X509 *ca = NULL;
    char san[VMESH_PKI_TRUST_DOMAIN_MAX + 16], cn[VMESH_PKI_TRUST_DOMAIN_MAX + 16];

    *out = NULL;
    snprintf(cn, sizeof(cn), "vmesh CA %s", trust_domain);
    VMESH_GUARD(new_cert(key, "vmesh", strlen(cn) <= 64 ? cn : "vmesh CA", (long)days * 86400, &ca));
    VMESH_ENSURE(X509_set_issuer_name(ca, X509_get_subject_name(ca)) == 1, VMESH_ERR_CRYPTO,
                 "setting the issuer");
    /* X509-SVID §4.1: "signing certificates MUST set the cA field to true";
     * §4.3: "MUST have keyCertSign"; "MAY have cRLSign". */
    VMESH_GUARD(add_ext(ca, ca, NID_basic_constraints, "critical,CA:TRUE"));
    VMESH_GUARD(add_ext(ca, ca, NID_key_usage, "critical,keyCertSign,cRLSign"));
    VMESH_GUARD(add_ext(ca, ca, NID_subject_key_identifier, "hash"));
    snprintf(san, sizeof(san), "URI:spiffe://%s", trust_domain);
    VMESH_GUARD(add_ext(ca, ca, NID_subject_alt_name, san));
    VMESH_GUARD(sign_cert(ca, key));
    *out = ca;
    ca = NULL;
out:
    X509_free(ca);
    return rc;
}

static vmesh_err seq_write(const char *dir, uint64_t seq)
{
    vmesh_err rc = VMESH_OK;
    char path[4096], text[32];
    int n = snprintf(text, sizeof(text), "%llu\n", (unsigned long long)seq);

    VMESH_GUARD(path_join(path, sizeof(path), dir, "/sequence"));
    VMESH_GUARD(vmesh_file_write(path, text, (size_t)n, 0644));
out:
    return rc;
}

/* DIR/sequence; 1 when the file is absent (a CA made before rotation). */
static vmesh_err seq_read(const char *dir, uint64_t *seq)
{
    vmesh_err rc = VMESH_OK;
    char path[4096], *end;
    vmesh_buf b = {0};
    unsigned long long v;
    struct stat st;

    *seq = 1;
    VMESH_GUARD(path_join(path, sizeof(path), dir, "/sequence"));
    if (stat(path, &st) != 0)
        goto out;
    VMESH_GUARD(vmesh_file_read(path, 64, &b));
    VMESH_GUARD(vmesh_buf_terminate(&b));
    errno = 0;
    v = strtoull((const char *)b.data, &end, 10);
    VMESH_ENSURE(errno == 0 && end != (char *)b.data && (*end == '\n' || *end == 0) &&
                     v < (1ULL << 62),
                 VMESH_ERR_PARSE, "%s: not a sequence number", path);
    *seq = v;
out:
    vmesh_buf_free(&b);
    return rc;
}

vmesh_err vmesh_pki_ca_init(const char *trust_domain, const char *dir, int days,
                            vmesh_key_type kt)
{
    vmesh_err rc = VMESH_OK;
    EVP_PKEY *key = NULL;
    X509 *ca = NULL;
    vmesh_buf pem = {0};
    char path[4096];
    struct stat st;

    VMESH_GUARD(vmesh_pki_trust_domain_validate(trust_domain));
    VMESH_ENSURE(dir != NULL && dir[0], VMESH_ERR_ARG, "CA directory is missing");
    VMESH_ENSURE(days >= 0 && days <= 36500, VMESH_ERR_ARG, "--days must be 1..36500");
    if (days == 0)
        days = 3650;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        VMESH_FAIL(VMESH_ERR_IO, "cannot create %s: %s", dir, strerror(errno));
    VMESH_GUARD(path_join(path, sizeof(path), dir, "/" VMESH_PKI_CA_KEY));
    VMESH_ENSURE(stat(path, &st) != 0, VMESH_ERR_STATE,
                 "%s already exists; refusing to overwrite a CA key", path);
    VMESH_GUARD(gen_key(kt, &key));
    VMESH_GUARD(make_ca_cert(trust_domain, key, days, &ca));
    VMESH_GUARD(cert_pem(ca, &pem));
    VMESH_GUARD(key_save(key, path));
    VMESH_GUARD(path_join(path, sizeof(path), dir, "/" VMESH_PKI_CA_CERT));
    VMESH_GUARD(vmesh_file_write(path, pem.data, pem.len, 0644));
    VMESH_GUARD(path_join(path, sizeof(path), dir, "/" VMESH_PKI_CA_BUNDLE));
    VMESH_GUARD(vmesh_file_write(path, pem.data, pem.len, 0644));
    VMESH_GUARD(seq_write(dir, 1));
out:
    EVP_PKEY_free(key);
    X509_free(ca);
    vmesh_buf_free(&pem);
    return rc;
}

static vmesh_err load_ca(const char *dir, X509 **cert, EVP_PKEY **key)
{
    vmesh_err rc = VMESH_OK;
    char path[4096];
    vmesh_buf b = {0};
    BIO *bio = NULL;

    *cert = NULL;
    *key = NULL;
    b.secret = true;
    VMESH_GUARD(path_join(path, sizeof(path), dir, "/" VMESH_PKI_CA_CERT));
    VMESH_GUARD(vmesh_file_read(path, PEM_MAX, &b));
    bio = BIO_new_mem_buf(b.data, (int)b.len);
    VMESH_ENSURE(bio != NULL, VMESH_ERR_NOMEM, "out of memory");
    *cert = PEM_read_bio_X509(bio, NULL, NULL, NULL);
    VMESH_ENSURE(*cert != NULL, VMESH_ERR_PARSE, "%s: no PEM certificate", path);
    BIO_free(bio);
    bio = NULL;
    VMESH_GUARD(path_join(path, sizeof(path), dir, "/" VMESH_PKI_CA_KEY));
    VMESH_GUARD(vmesh_file_read(path, PEM_MAX, &b));
    bio = BIO_new_mem_buf(b.data, (int)b.len);
    VMESH_ENSURE(bio != NULL, VMESH_ERR_NOMEM, "out of memory");
    *key = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
    VMESH_ENSURE(*key != NULL, VMESH_ERR_PARSE, "%s: no PEM private key", path);
    VMESH_ENSURE(X509_check_private_key(*cert, *key) == 1, VMESH_ERR_MISMATCH,
                 "%s does not match the CA certificate", path);
out:
    BIO_free(bio);
    vmesh_buf_free(&b);
    if (rc != VMESH_OK) {
        X509_free(*cert);
        EVP_PKEY_free(*key);
        *cert = NULL;
        *key = NULL;
    }
    return rc;
}

/* Signs a leaf X509-SVID for spiffe_id over the public key `key` with the
 * CA of ca_dir; *leaf and *ca returned (caller frees). */
static vmesh_err issue_leaf(const char *ca_dir, const char *spiffe_id, long seconds, EVP_PKEY *key, X509 **leaf_out,
                            X509 **ca_out)
{
    vmesh_err rc = VMESH_OK;
    X509 *ca = NULL, *leaf = NULL;
    EVP_PKEY *ca_key = NULL;
    char *ca_id = NULL, *ca_td = NULL, *td = NULL;
    char san[VMESH_PKI_SPIFFE_ID_MAX + 8];

    *leaf_out = NULL;
    *ca_out = NULL;
    VMESH_GUARD(vmesh_pki_spiffe_id_validate(spiffe_id));
    VMESH_GUARD(vmesh_pki_spiffe_id_trust_domain(spiffe_id, &td));
    VMESH_ENSURE(seconds > 0 && seconds <= 36500L * 86400, VMESH_ERR_ARG, "a validity of %ld s is outside 1 s..36500 days",
                 seconds);
    VMESH_GUARD(load_ca(ca_dir, &ca, &ca_key));
    rc = vmesh_pki_spiffe_id_from_cert(ca, &ca_id);
    if (rc != VMESH_OK) {
        rc = vmesh_err_wrap(rc, "%s/" VMESH_PKI_CA_CERT, ca_dir);
        goto out;
    }
    VMESH_GUARD(vmesh_pki_spiffe_id_trust_domain(ca_id, &ca_td));
    VMESH_ENSURE(strcmp(td, ca_td) == 0, VMESH_ERR_POLICY,
                 "SPIFFE ID %s is in trust domain \"%s\" but this CA issues for \"%s\"", spiffe_id,
                 td, ca_td);
    VMESH_GUARD(new_cert(key, "vmesh", NULL, seconds, &leaf));
    VMESH_ENSURE(X509_set_issuer_name(leaf, X509_get_subject_name(ca)) == 1, VMESH_ERR_CRYPTO,
                 "setting the issuer");
    /* X509-SVID §4.1: "leaf certificates MUST set the cA field to false";
     * §4.3: "MUST set digitalSignature" and "MUST NOT set keyCertSign or
     * cRLSign"; §4.4: EKU "id-kp-serverAuth and id-kp-clientAuth ... SHOULD
     * be included". */
    VMESH_GUARD(add_ext(leaf, ca, NID_basic_constraints, "critical,CA:FALSE"));
    VMESH_GUARD(add_ext(leaf, ca, NID_key_usage, "critical,digitalSignature"));
    VMESH_GUARD(add_ext(leaf, ca, NID_ext_key_usage, "serverAuth,clientAuth"));
    VMESH_GUARD(add_ext(leaf, ca, NID_subject_key_identifier, "hash"));
    VMESH_GUARD(add_ext(leaf, ca, NID_authority_key_identifier, "keyid:always"));
    snprintf(san, sizeof(san), "URI:%s", spiffe_id);
    VMESH_GUARD(add_ext(leaf, ca, NID_subject_alt_name, san));
    VMESH_GUARD(sign_cert(leaf, ca_key));
    *leaf_out = leaf;
    *ca_out = ca;
    leaf = ca = NULL;
out:
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(ca_key);
    free(ca_id);
    free(ca_td);
    free(td);
    return rc;
}

vmesh_err vmesh_pki_ca_issue(const char *ca_dir, const char *spiffe_id, const char *prefix,
                             int days, vmesh_key_type kt)
{
    vmesh_err rc = VMESH_OK;
    X509 *ca = NULL, *leaf = NULL;
    EVP_PKEY *key = NULL;
    char path[4096];
    vmesh_buf pem = {0};

    VMESH_ENSURE(ca_dir != NULL && prefix != NULL && prefix[0], VMESH_ERR_ARG,
                 "CA directory and output prefix are required");
    VMESH_GUARD(vmesh_pki_spiffe_id_validate(spiffe_id));
    VMESH_ENSURE(days >= 0 && days <= 36500, VMESH_ERR_ARG, "--days must be 1..36500");
    VMESH_GUARD(gen_key(kt, &key));
    VMESH_GUARD(issue_leaf(ca_dir, spiffe_id, (long)(days ? days : 90) * 86400, key, &leaf, &ca));
    VMESH_GUARD(path_join(path, sizeof(path), prefix, ".key"));
    VMESH_GUARD(key_save(key, path));
    VMESH_GUARD(cert_pem(leaf, &pem));
    VMESH_GUARD(path_join(path, sizeof(path), prefix, ".pem"));
    VMESH_GUARD(vmesh_file_write(path, pem.data, pem.len, 0644));
    VMESH_GUARD(cert_pem(ca, &pem));
    VMESH_GUARD(path_join(path, sizeof(path), prefix, "-chain.pem"));
    VMESH_GUARD(vmesh_file_write(path, pem.data, pem.len, 0644));
out:
    X509_free(ca);
    X509_free(leaf);
    EVP_PKEY_free(key);
    vmesh_buf_free(&pem);
    return rc;
}

vmesh_err vmesh_pki_ca_issue_for_key(const char *ca_dir, const char *spiffe_id, int days, const vmesh_key *key,
                                     vmesh_buf *chain_pem)
{
    if (days < 0 || days > 36500)
        return vmesh_err_set(VMESH_ERR_ARG, "--days must be 1..36500");
    return vmesh_pki_ca_issue_for_key_seconds(ca_dir, spiffe_id, (int64_t)(days ? days : 90) * 86400, key, chain_pem);
}

vmesh_err vmesh_pki_ca_issue_for_key_seconds(const char *ca_dir, const char *spiffe_id, int64_t seconds,
                                             const vmesh_key *key, vmesh_buf *chain_pem)
{
    vmesh_err rc = VMESH_OK;
    X509 *ca = NULL, *leaf = NULL;

    VMESH_ENSURE(ca_dir != NULL && key != NULL, VMESH_ERR_ARG, "CA directory and key are required");
    VMESH_ENSURE(seconds > 0 && seconds <= 36500LL * 86400, VMESH_ERR_ARG, "a validity of %lld s is outside 1 s..36500 days",
                 (long long)seconds);
    VMESH_GUARD(issue_leaf(ca_dir, spiffe_id, (long)seconds, vmesh_crypto_key_evp(key), &leaf, &ca));
    vmesh_buf_reset(chain_pem);
    VMESH_GUARD(cert_pem(leaf, chain_pem));
    VMESH_GUARD(cert_pem(ca, chain_pem));
out:
    X509_free(ca);
    X509_free(leaf);
    return rc;
}

vmesh_err vmesh_pki_ca_bundle(const char *ca_dir, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    char path[4096];

    VMESH_ENSURE(ca_dir != NULL, VMESH_ERR_ARG, "CA directory is missing");
    VMESH_GUARD(path_join(path, sizeof(path), ca_dir, "/" VMESH_PKI_CA_BUNDLE));
    VMESH_GUARD(vmesh_file_read(path, PEM_MAX, out));
out:
    return rc;
}

vmesh_err vmesh_pki_ca_bundle_spiffe(const char *ca_dir, int64_t refresh_hint, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    char path[4096];
    vmesh_pki_bundle *b = NULL;
    uint64_t seq;

    VMESH_ENSURE(ca_dir != NULL, VMESH_ERR_ARG, "CA directory is missing");
    VMESH_GUARD(path_join(path, sizeof(path), ca_dir, "/" VMESH_PKI_CA_BUNDLE));
    VMESH_GUARD(vmesh_pki_bundle_load(path, &b));
    VMESH_GUARD(seq_read(ca_dir, &seq));
    vmesh_pki_bundle_set_sequence(b, seq);
    vmesh_pki_bundle_set_refresh_hint(b, refresh_hint);
    VMESH_GUARD(vmesh_pki_bundle_to_spiffe(b, out));
out:
    vmesh_pki_bundle_free(b);
    return rc;
}

vmesh_err vmesh_pki_ca_rotate(const char *ca_dir, int days, vmesh_key_type kt)
{
    vmesh_err rc = VMESH_OK;
    X509 *old = NULL, *ca = NULL;
    EVP_PKEY *old_key = NULL, *key = NULL;
    char *id = NULL, *td = NULL, path[4096], name[64];
    vmesh_buf pem = {0}, prev = {0};
    uint64_t seq;

    VMESH_ENSURE(ca_dir != NULL, VMESH_ERR_ARG, "CA directory is missing");
    VMESH_ENSURE(days >= 0 && days <= 36500, VMESH_ERR_ARG, "--days must be 1..36500");
    if (days == 0)
        days = 3650;
    VMESH_GUARD(load_ca(ca_dir, &old, &old_key));
    VMESH_GUARD(vmesh_pki_spiffe_id_from_cert(old, &id));
    VMESH_GUARD(vmesh_pki_spiffe_id_trust_domain(id, &td));
    VMESH_GUARD(seq_read(ca_dir, &seq));
    /* The old pair is kept beside, named after the sequence it served. */
    snprintf(name, sizeof(name), "/ca-%llu.pem", (unsigned long long)seq);
    VMESH_GUARD(cert_pem(old, &pem));
    VMESH_GUARD(path_join(path, sizeof(path), ca_dir, name));
    VMESH_GUARD(vmesh_file_write(path, pem.data, pem.len, 0644));
    snprintf(name, sizeof(name), "/ca-%llu.key", (unsigned long long)seq);
    VMESH_GUARD(path_join(path, sizeof(path), ca_dir, name));
    VMESH_GUARD(key_save(old_key, path));
    VMESH_GUARD(gen_key(kt, &key));
    VMESH_GUARD(make_ca_cert(td, key, days, &ca));
    /* New bundle: the new authority first, then every earlier one. */
    VMESH_GUARD(path_join(path, sizeof(path), ca_dir, "/" VMESH_PKI_CA_BUNDLE));
    VMESH_GUARD(vmesh_file_read(path, PEM_MAX, &prev));
    vmesh_buf_reset(&pem);
    VMESH_GUARD(cert_pem(ca, &pem));
    VMESH_GUARD(vmesh_buf_append(&pem, prev.data, prev.len));
    VMESH_GUARD(vmesh_file_write(path, pem.data, pem.len, 0644));
    VMESH_GUARD(path_join(path, sizeof(path), ca_dir, "/" VMESH_PKI_CA_KEY));
    VMESH_GUARD(key_save(key, path));
    vmesh_buf_reset(&pem);
    VMESH_GUARD(cert_pem(ca, &pem));
    VMESH_GUARD(path_join(path, sizeof(path), ca_dir, "/" VMESH_PKI_CA_CERT));
    VMESH_GUARD(vmesh_file_write(path, pem.data, pem.len, 0644));
    VMESH_GUARD(seq_write(ca_dir, seq + 1));
out:
    X509_free(old);
    X509_free(ca);
    EVP_PKEY_free(old_key);
    EVP_PKEY_free(key);
    free(id);
    free(td);
    vmesh_buf_free(&pem);
    vmesh_buf_free(&prev);
    return rc;
}
