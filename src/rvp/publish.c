/*
 * Publishing a trust bundle: classify the inputs, write the content-addressed
 * sets, then the signed manifest, then collect sets nobody names any more.
 * It must never publish an epoch that is not above the published one, never
 * continue the numbering of a manifest signed by another key, and never
 * remove a set before the manifest that stops naming it is in place.
 */
#include "vmesh/corim.h"
#include "vmesh/psa.h"
#include "vmesh/rvp.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define PATH_MAX_LEN 4096
#define DEFAULT_VALIDITY 86400

typedef struct {
    char **paths;
    size_t n;
} file_list;

static void files_free(file_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = 0;
}

static vmesh_err files_add(file_list *l, const char *path)
{
    char **np;

    if (l->n >= VMESH_RVP_MAX_SETS)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "more than %d input files: a manifest holds at most %d sets",
                             VMESH_RVP_MAX_SETS, VMESH_RVP_MAX_SETS);
    np = realloc(l->paths, (l->n + 1) * sizeof(*np));
    if (np == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    l->paths = np;
    l->paths[l->n] = strdup(path);
    if (l->paths[l->n] == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    l->n++;
    return VMESH_OK;
}

/* The scheme of the index-th trust-anchor file (parallel to the files). */
static vmesh_err ta_scheme_add(file_list *l, size_t index, const char *scheme)
{
    return index == l->n ? files_add(l, scheme)
                         : vmesh_err_set(VMESH_ERR_STATE, "trust-anchor inputs out of step");
}

static size_t opts_nta(const vmesh_rvp_publish_opts *o)
{
    return o ? o->nta : 0;
}

static int visible(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

static vmesh_err expand_input(const char *in, file_list *l)
{
    vmesh_err rc = VMESH_OK;
    struct dirent **ents = NULL;
    int n = -1;
    struct stat st;
    char path[PATH_MAX_LEN];

    VMESH_ENSURE(stat(in, &st) == 0, VMESH_ERR_IO, "cannot read input %s: %s", in, strerror(errno));
    if (S_ISREG(st.st_mode)) {
        VMESH_GUARD(files_add(l, in));
        goto out;
    }
    VMESH_ENSURE(S_ISDIR(st.st_mode), VMESH_ERR_ARG, "input %s is neither a file nor a directory", in);
    n = scandir(in, &ents, visible, alphasort);
    VMESH_ENSURE(n >= 0, VMESH_ERR_IO, "cannot list %s: %s", in, strerror(errno));
    for (int i = 0; i < n; i++) {
        VMESH_ENSURE(snprintf(path, sizeof(path), "%s/%s", in, ents[i]->d_name) < (int)sizeof(path), VMESH_ERR_ARG,
                     "path too long under %s", in);
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            VMESH_GUARD(files_add(l, path));
    }
out:
    for (int i = 0; i < n; i++)
        free(ents[i]);
    free(ents);
    return rc;
}

/* The published manifest, if any: it must be ours. *have is false when the
 * directory has none. */
static vmesh_err read_previous(const char *path, const vmesh_key *key, vmesh_rvp_manifest *prev, bool *have)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    *have = false;
    if (access(path, F_OK) != 0 && errno == ENOENT)
        goto out;
    VMESH_GUARD(vmesh_file_read(path, VMESH_RVP_MANIFEST_MAX, &b));
    rc = vmesh_rvp_manifest_verify((const char *)b.data, b.len, key, prev);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(VMESH_ERR_STATE,
                       "the published %s cannot be continued (it must verify with this key; remove it to start "
                       "a new bundle, or use the RVP's key)",
                       path);
        rc = VMESH_ERR_STATE;
        goto out;
    }
    *have = true;
out:
    vmesh_buf_free(&b);
    return rc;
}

static bool named_by(const vmesh_rvp_manifest *m, const char *hex)
{
    for (size_t i = 0; i < m->nsets; i++)
        if (strcmp(m->sets[i].path + 5, hex) == 0)
            return true;
    return false;
}

static bool is_digest_name(const char *s)
{
    size_t n = strlen(s);

    if (n != 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* Removes sets/<hex> files named by neither manifest. Failures are logged,
 * not fatal: the new bundle is already published. */
static void collect(const char *sets_dir, const vmesh_rvp_manifest *cur, const vmesh_rvp_manifest *prev)
{
    DIR *d = opendir(sets_dir);
    struct dirent *e;
    char path[PATH_MAX_LEN];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (!is_digest_name(e->d_name) || named_by(cur, e->d_name) || (prev != NULL && named_by(prev, e->d_name)))
            continue;
        if (snprintf(path, sizeof(path), "%s/%s", sets_dir, e->d_name) < (int)sizeof(path) && unlink(path) != 0)
            vmesh_log(VMESH_LOG_WARN, "rvp publish: cannot remove unreferenced set %s: %s", path, strerror(errno));
    }
    closedir(d);
}

/* Writes one set unless an intact copy is already there. */
static vmesh_err write_set(const char *out_dir, const vmesh_rvp_set *s, const vmesh_buf *data)
{
    char path[PATH_MAX_LEN];
    uint8_t have[32];

    if (snprintf(path, sizeof(path), "%s/%s", out_dir, s->path) >= (int)sizeof(path))
        return vmesh_err_set(VMESH_ERR_ARG, "output path too long: %s", out_dir);
    if (vmesh_crypto_sha256_file(path, have) == VMESH_OK && memcmp(have, s->sha256, 32) == 0)
        return VMESH_OK;
    vmesh_err_clear();
    return vmesh_file_write(path, data->data, data->len, 0644);
}

/* Collects what check_verifiers needs: the reference values the bundle
 * publishes (RV JSON, CoRIM) and its verifier trust set (one at most). */
static vmesh_err note_set(const vmesh_rvp_set *s, const vmesh_buf *data, const char *source, vmesh_rv_store *rvs,
                          vmesh_rvp_verifiers *vset, char **vsrc)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *scratch = NULL;

    if (s->kind == VMESH_SET_RV_JSON || s->kind == VMESH_SET_CORIM) {
        VMESH_GUARD(vmesh_rv_store_new(&scratch));
        if (s->kind == VMESH_SET_RV_JSON)
            VMESH_GUARD(vmesh_rv_load_json(scratch, data->data, data->len, source));
        else
            VMESH_GUARD(vmesh_corim_load(scratch, data->data, data->len, NULL, VMESH_CORIM_ALLOW_UNVERIFIED,
                                         vmesh_psa_corim_profiles, source, NULL));
        VMESH_GUARD(vmesh_rv_store_merge(rvs, scratch));
    } else if (strcmp(s->media_type, VMESH_RVP_VERIFIERS_MEDIA_TYPE) == 0) {
        VMESH_ENSURE(*vsrc == NULL, VMESH_ERR_ARG,
                     "%s and %s are both verifier trust sets: a bundle carries one (merge them)", *vsrc, source);
        VMESH_GUARD(vmesh_rvp_verifiers_parse(data->data, data->len, source, vset));
        *vsrc = strdup(source);
        VMESH_ENSURE(*vsrc != NULL, VMESH_ERR_NOMEM, "out of memory");
    }
out:
    vmesh_rv_store_free(scratch);
    return rc;
}

/* Every verifier of the trust set must be judged by reference values of
 * this same bundle: a class nothing is published for would make its key
 * untrusted at every relying party, so refuse it here by name. */
static vmesh_err check_verifiers(const vmesh_rvp_verifiers *vs, const char *source, const vmesh_rv_store *rvs)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b64 = {0};

    for (size_t i = 0; vs != NULL && i < vs->n; i++) {
        const vmesh_rvp_verifier *v = &vs->v[i];
        if (vmesh_rv_has_class(rvs, v->scheme, v->class_id, v->class_id_len))
            continue;
        VMESH_GUARD(vmesh_b64_encode(v->class_id, v->class_id_len, &b64));
        VMESH_FAIL(VMESH_ERR_NOT_FOUND,
                   "%s: verifier \"%s\": unknown class: no reference values for scheme %s class-id %.*s in this "
                   "bundle, so its platform could never attest (publish its reference values with it)",
                   source, v->name, v->scheme, (int)(b64.len > 200 ? 200 : b64.len), (const char *)b64.data);
    }
out:
    vmesh_buf_free(&b64);
    return rc;
}

vmesh_err vmesh_rvp_publish(const vmesh_key *key, const char *const *inputs, size_t ninputs, const char *out_dir,
                            const vmesh_rvp_publish_opts *opts, vmesh_rvp_manifest *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_rvp_publish_opts defaults = {0};
    vmesh_rvp_manifest prev = {0}, m = {0};
    file_list files = {0}, ta_schemes = {0};
    vmesh_buf data = {0}, jws = {0};
    vmesh_rv_store *rvs = NULL;        /* the reference values published, for check_verifiers */
    vmesh_rvp_verifiers vset = {0};
    char *vsrc = NULL;
    char scheme[16];
    size_t nplain;
    char mpath[PATH_MAX_LEN], sdir[PATH_MAX_LEN];
    bool have_prev = false;
    const char *name;
    size_t nlen;

    if (out)
        memset(out, 0, sizeof(*out));
    if (opts == NULL)
        opts = &defaults;
    VMESH_ENSURE(opts->nta == 0 || opts->ta_inputs != NULL, VMESH_ERR_ARG, "trust-anchor inputs missing");
    VMESH_ENSURE(ninputs + opts_nta(opts) > 0, VMESH_ERR_ARG,
                 "nothing to publish: give at least one input file or directory");
    VMESH_ENSURE(vmesh_crypto_key_is_private(key), VMESH_ERR_ARG, "publishing needs the RVP's private key");
    VMESH_ENSURE(opts->validity >= 0 && opts->validity <= 366LL * 86400, VMESH_ERR_ARG,
                 "validity must be 1..31622400 seconds");
    VMESH_ENSURE(snprintf(mpath, sizeof(mpath), "%s/manifest.jws", out_dir) < (int)sizeof(mpath) &&
                     snprintf(sdir, sizeof(sdir), "%s/sets", out_dir) < (int)sizeof(sdir),
                 VMESH_ERR_ARG, "output path too long: %s", out_dir);
    VMESH_ENSURE(mkdir(out_dir, 0755) == 0 || errno == EEXIST, VMESH_ERR_IO, "cannot create %s: %s", out_dir,
                 strerror(errno));
    VMESH_ENSURE(mkdir(sdir, 0755) == 0 || errno == EEXIST, VMESH_ERR_IO, "cannot create %s: %s", sdir,
                 strerror(errno));
    VMESH_GUARD(read_previous(mpath, key, &prev, &have_prev));

    name = opts->name ? opts->name : have_prev ? prev.rvp : "rvp";
    nlen = strlen(name);
    VMESH_ENSURE(nlen > 0 && nlen <= VMESH_RVP_NAME_MAX, VMESH_ERR_ARG, "the RVP name must be 1..%d characters",
                 VMESH_RVP_NAME_MAX);
    memcpy(m.rvp, name, nlen);
    if (opts->epoch != 0) {
        VMESH_ENSURE(!have_prev || opts->epoch > prev.epoch, VMESH_ERR_POLICY,
                     "epoch %llu is not above the published epoch %llu: an RVP's epochs only go up (omit --epoch "
                     "to publish %llu)",
                     (unsigned long long)opts->epoch, (unsigned long long)prev.epoch,
                     (unsigned long long)prev.epoch + 1);
        m.epoch = opts->epoch;
    } else {
        m.epoch = have_prev ? prev.epoch + 1 : 1;
    }
    VMESH_ENSURE(m.epoch <= (uint64_t)INT64_MAX, VMESH_ERR_ARG, "epoch %llu is too large",
                 (unsigned long long)m.epoch);

    for (size_t i = 0; i < ninputs; i++)
        VMESH_GUARD(expand_input(inputs[i], &files));
    nplain = files.n;
    for (size_t i = 0; i < opts->nta; i++) {
        const char *eq = strchr(opts->ta_inputs[i], '=');
        size_t before = files.n;

        VMESH_ENSURE(eq != NULL && eq > opts->ta_inputs[i] && (size_t)(eq - opts->ta_inputs[i]) < sizeof(scheme),
                     VMESH_ERR_ARG, "trust-anchor input \"%.200s\" is not SCHEME=FILE (e.g. sev-snp=vcek.der)",
                     opts->ta_inputs[i]);
        memcpy(scheme, opts->ta_inputs[i], (size_t)(eq - opts->ta_inputs[i]));
        scheme[eq - opts->ta_inputs[i]] = '\0';
        VMESH_ENSURE(vmesh_rvp_ta_scheme_ok(scheme), VMESH_ERR_UNSUPPORTED,
                     "trust-anchor input \"%.200s\": scheme \"%s\" has no trust-anchor sets (sev-snp, tdx or tsm; "
                     "CCA's CPAKs travel in RV JSON)",
                     opts->ta_inputs[i], scheme);
        VMESH_GUARD(expand_input(eq + 1, &files));
        for (size_t j = before; j < files.n; j++)
            VMESH_GUARD(ta_scheme_add(&ta_schemes, j - nplain, scheme));
    }
    VMESH_ENSURE(files.n > 0, VMESH_ERR_ARG, "no input files found (directories are read one level deep)");
    m.sets = calloc(files.n, sizeof(*m.sets));
    VMESH_ENSURE(m.sets != NULL, VMESH_ERR_NOMEM, "out of memory");
    VMESH_GUARD(vmesh_rv_store_new(&rvs));
    for (size_t i = 0; i < files.n; i++) {
        vmesh_rvp_set s;
        bool dup = false;
        VMESH_GUARD(vmesh_file_read(files.paths[i], VMESH_RVP_SET_MAX, &data));
        if (i < nplain)
            VMESH_GUARD(vmesh_rvp_classify(data.data, data.len, files.paths[i], &s));
        else
            VMESH_GUARD(vmesh_rvp_classify_ta(data.data, data.len, ta_schemes.paths[i - nplain], files.paths[i], &s));
        VMESH_GUARD(note_set(&s, &data, files.paths[i], rvs, &vset, &vsrc));
        for (size_t j = 0; j < m.nsets && !dup; j++)
            dup = memcmp(m.sets[j].sha256, s.sha256, 32) == 0;
        if (!dup) {
            /* Sets first: the manifest must never name a set that is not there. */
            VMESH_GUARD(write_set(out_dir, &s, &data));
            m.sets[m.nsets++] = s;
        }
        vmesh_buf_free(&data);
    }
    VMESH_GUARD(check_verifiers(&vset, vsrc, rvs));
    m.issued_at = vmesh_time_now();
    m.expires_at = m.issued_at + (opts->validity ? opts->validity : DEFAULT_VALIDITY);
    VMESH_GUARD(vmesh_rvp_manifest_sign(&m, key, &jws));
    VMESH_GUARD(vmesh_file_write(mpath, jws.data, jws.len, 0644));
    collect(sdir, &m, have_prev ? &prev : NULL);
    if (out) {
        *out = m;
        memset(&m, 0, sizeof(m));
    }
out:
    vmesh_rv_store_free(rvs);
    vmesh_rvp_verifiers_free(&vset);
    free(vsrc);
    files_free(&files);
    files_free(&ta_schemes);
    vmesh_buf_free(&data);
    vmesh_buf_free(&jws);
    vmesh_rvp_manifest_free(&prev);
    vmesh_rvp_manifest_free(&m);
    return rc;
}
