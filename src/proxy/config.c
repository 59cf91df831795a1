/*
 * The proxy's YAML configuration (docs/PROXY.md): libyaml's document API,
 * then a strict walk where every mapping knows its keys. An unknown key, a
 * duplicate key, a missing required key or a value of the wrong kind is an
 * error naming the source, the line and the key path. It must never accept
 * a configuration it did not fully understand, and never read past a cap.
 */
#define _GNU_SOURCE
#include "proxy_int.h"

#include "vmesh/pki.h"
#include "vmesh/policy.h"

#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define CONFIG_MAX ((size_t)1024 * 1024)
#define MAX_LIST 256
#define MAX_KV 64

typedef struct {
    yaml_document_t *doc;
    const char *src;
    char dir[1024]; /* relative paths are resolved here ("" = cwd) */
    vmesh_proxy_config *c;
    size_t json_nodes; /* budget of to_json: aliases must not expand without bound */
} pctx;

static unsigned long line_of(const yaml_node_t *n)
{
    return (unsigned long)n->start_mark.line + 1;
}

static vmesh_err perr(pctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...) VMESH_PRINTF(4, 5);
static vmesh_err perr(pctx *x, const yaml_node_t *n, const char *path, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    return vmesh_err_set(VMESH_ERR_PARSE, "%s:%lu: %s: %s", x->src, n ? line_of(n) : 0UL, path, msg);
}

static yaml_node_t *node(pctx *x, int i)
{
    return yaml_document_get_node(x->doc, i);
}

static const char *scalar(const yaml_node_t *n)
{
    return n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

/* A scalar value as a new string. */
static vmesh_err get_str(pctx *x, const yaml_node_t *n, const char *path, char **out)
{
    const char *s = scalar(n);

    if (s == NULL || (n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && s[0] == '\0'))
        return perr(x, n, path, "must be a string");
    if (strlen(s) != n->data.scalar.length)
        return perr(x, n, path, "contains a NUL byte");
    free(*out);
    *out = strdup(s);
    return *out ? VMESH_OK : vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
}

/* A file name, resolved against the configuration's directory. */
static vmesh_err get_path(pctx *x, const yaml_node_t *n, const char *path, char **out)
{
    vmesh_err rc = get_str(x, n, path, out);
    char *full = NULL;

    if (rc != VMESH_OK || (*out)[0] == '/' || x->dir[0] == '\0')
        return rc;
    if (asprintf(&full, "%s/%s", x->dir, *out) < 0)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    free(*out);
    *out = full;
    return VMESH_OK;
}

static vmesh_err get_bool(pctx *x, const yaml_node_t *n, const char *path, bool *out)
{
    const char *s = scalar(n);

    if (s && (strcmp(s, "true") == 0 || strcmp(s, "yes") == 0 || strcmp(s, "on") == 0))
        *out = true;
    else if (s && (strcmp(s, "false") == 0 || strcmp(s, "no") == 0 || strcmp(s, "off") == 0))
        *out = false;
    else
        return perr(x, n, path, "\"%s\" is not a boolean (true or false)", s ? s : "(not a scalar)");
    return VMESH_OK;
}

static vmesh_err get_uint(pctx *x, const yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi, uint64_t *out)
{
    const char *s = scalar(n);
    char *end;
    unsigned long long v;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return perr(x, n, path, "\"%s\" is not a number", s ? s : "(not a scalar)");
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi)
        return perr(x, n, path, "\"%s\" is not a number in %llu..%llu", s, (unsigned long long)lo,
                    (unsigned long long)hi);
    *out = v;
    return VMESH_OK;
}

/* "250ms", "10s", "5m", "1h", or a bare number of seconds. */
static vmesh_err get_duration(pctx *x, const yaml_node_t *n, const char *path, uint64_t max_ms, uint64_t *ms)
{
    const char *s = scalar(n);
    char *end;
    unsigned long long v;
    uint64_t mult = 1000;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        goto bad;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || v > 1000000000ULL)
        goto bad;
    if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "s") == 0 || *end == '\0')
        mult = 1000;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else
        goto bad;
    *ms = (uint64_t)v * mult;
    if (*ms == 0 || *ms > max_ms)
        return perr(x, n, path, "\"%s\" is out of range (1ms..%llus)", s, (unsigned long long)(max_ms / 1000));
    return VMESH_OK;
bad:
    return perr(x, n, path, "\"%s\" is not a duration (e.g. 500ms, 10s, 5m, 1h)", s ? s : "(not a scalar)");
}

/* "16384", "16k", "16KiB", "1MiB". */
static vmesh_err get_size(pctx *x, const yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi, uint64_t *out)
{
    const char *s = scalar(n);
    char *end;
    unsigned long long v;
    uint64_t mult = 1;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        goto bad;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || v > (1ULL << 40))
        goto bad;
    if (*end == '\0')
        mult = 1;
    else if (strcmp(end, "k") == 0 || strcmp(end, "K") == 0 || strcmp(end, "KiB") == 0)
        mult = 1024;
    else if (strcmp(end, "M") == 0 || strcmp(end, "m") == 0 || strcmp(end, "MiB") == 0)
        mult = 1024 * 1024;
    else
        goto bad;
    *out = (uint64_t)v * mult;
    if (*out < lo || *out > hi)
        return perr(x, n, path, "\"%s\" is out of range (%llu..%llu bytes)", s, (unsigned long long)lo,
                    (unsigned long long)hi);
    return VMESH_OK;
bad:
    return perr(x, n, path, "\"%s\" is not a size in bytes (e.g. 16384, 16KiB, 1MiB)", s ? s : "(not a scalar)");
}

static vmesh_err get_addr(pctx *x, const yaml_node_t *n, const char *path, unsigned flags, char **out)
{
    vmesh_err rc = get_str(x, n, path, out);
    vmesh_net_hostport hp;

    if (rc != VMESH_OK)
        return rc;
    if (vmesh_net_parse(*out, flags, &hp) != VMESH_OK)
        return perr(x, n, path, "%s", vmesh_err_detail());
    return VMESH_OK;
}

static vmesh_err get_spiffe(pctx *x, const yaml_node_t *n, const char *path, bool pattern, char **out)
{
    vmesh_err rc = get_str(x, n, path, out);

    if (rc != VMESH_OK)
        return rc;
    rc = pattern ? vmesh_pki_spiffe_pattern_validate(*out) : vmesh_pki_spiffe_id_validate(*out);
    if (rc != VMESH_OK)
        return perr(x, n, path, "%s", vmesh_err_detail());
    return VMESH_OK;
}

/* Calls fn for each (key, value) of a mapping; refuses duplicates. */
typedef vmesh_err (*pair_fn)(pctx *x, const char *key, yaml_node_t *k, yaml_node_t *v, const char *path,
                             void *arg);

static vmesh_err each_pair(pctx *x, yaml_node_t *m, const char *path, pair_fn fn, void *arg)
{
    vmesh_err rc = VMESH_OK;
    char sub[256];

    if (m->type != YAML_MAPPING_NODE)
        return perr(x, m, path, "must be a mapping");
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        yaml_node_t *k = node(x, p->key), *v = node(x, p->value);
        const char *ks = k ? scalar(k) : NULL;
        if (ks == NULL || v == NULL)
            return perr(x, m, path, "keys must be strings");
        for (yaml_node_pair_t *q = m->data.mapping.pairs.start; q < p; q++) {
            const char *qs = scalar(node(x, q->key));
            if (qs && strcmp(qs, ks) == 0)
                return perr(x, k, path, "duplicate key \"%s\"", ks);
        }
        snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", ks);
        VMESH_GUARD(fn(x, ks, k, v, sub, arg));
    }
out:
    return rc;
}

static vmesh_err unknown(pctx *x, yaml_node_t *k, const char *path)
{
    return perr(x, k, path, "unknown key");
}

/* A sequence of strings (paths when as_path). */
static vmesh_err get_str_list(pctx *x, yaml_node_t *n, const char *path, bool as_path, char ***out, size_t *count)
{
    vmesh_err rc = VMESH_OK;
    char sub[256];
    size_t len;

    if (n->type != YAML_SEQUENCE_NODE)
        return perr(x, n, path, "must be a list");
    len = (size_t)(n->data.sequence.items.top - n->data.sequence.items.start);
    if (len > MAX_LIST)
        return perr(x, n, path, "more than %d entries", MAX_LIST);
    *out = calloc(len + 1, sizeof(char *));
    if (*out == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    *count = 0;
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *it = node(x, n->data.sequence.items.start[i]);
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        VMESH_GUARD(as_path ? get_path(x, it, sub, &(*out)[i]) : get_str(x, it, sub, &(*out)[i]));
        (*count)++;
    }
out:
    if (rc != VMESH_OK) {
        for (size_t i = 0; i <= *count && i < len; i++)
            free((*out)[i]);
        free(*out);
        *out = NULL;
        *count = 0;
    }
    return rc;
}

static vmesh_err get_modes(pctx *x, yaml_node_t *n, const char *path, unsigned *out, json_t **names)
{
    vmesh_err rc = VMESH_OK;
    char sub[256];

    if (n->type != YAML_SEQUENCE_NODE || n->data.sequence.items.top == n->data.sequence.items.start)
        return perr(x, n, path, "must be a non-empty list of modes (epoch-fresh, fresh, passport)");
    *out = 0;
    for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top; i++) {
        yaml_node_t *it = node(x, *i);
        const char *s = scalar(it);
        vmesh_mode m;
        snprintf(sub, sizeof(sub), "%s[%zu]", path, (size_t)(i - n->data.sequence.items.start));
        if (s == NULL || vmesh_mode_parse(s, &m) != VMESH_OK || m == VMESH_MODE_NONE)
            return perr(x, it, sub, "\"%s\" is not a mode (epoch-fresh, fresh, passport)", s ? s : "");
        *out |= VMESH_MODE_BIT(m);
        if (names)
            json_array_append_new(*names, json_string(s));
    }
    return rc;
}

/* ---- sections --------------------------------------------------------------------- */

static vmesh_err identity_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    (void)a;
    if (strcmp(k, "cert") == 0)
        return get_path(x, v, path, &x->c->cert);
    if (strcmp(k, "key") == 0)
        return get_path(x, v, path, &x->c->key);
    if (strcmp(k, "bundle") == 0)
        return get_path(x, v, path, &x->c->bundle);
    return unknown(x, kn, path);
}

static vmesh_err add_kv(pctx *x, yaml_node_t *n, const char *path, const char *key, const char *value)
{
    vmesh_proxy_config *c = x->c;

    if (c->nkv == MAX_KV)
        return perr(x, n, path, "more than %d options", MAX_KV);
    c->kv[c->nkv].key = strdup(key);
    c->kv[c->nkv].value = strdup(value);
    if (c->kv[c->nkv].key == NULL || c->kv[c->nkv].value == NULL) {
        free((char *)c->kv[c->nkv].key);
        free((char *)c->kv[c->nkv].value);
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    }
    c->nkv++;
    return VMESH_OK;
}

/* attester.options: scheme key/value strings; a list repeats the key. The
 * scheme checks the keys themselves (vmesh_agent_new). */
static vmesh_err option_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    vmesh_err rc = VMESH_OK;
    char **list = NULL;
    size_t n = 0;
    char *s = NULL;

    (void)kn;
    (void)a;
    if (v->type == YAML_SEQUENCE_NODE) {
        VMESH_GUARD(get_str_list(x, v, path, false, &list, &n));
        for (size_t i = 0; i < n; i++)
            VMESH_GUARD(add_kv(x, v, path, k, list[i]));
    } else {
        VMESH_GUARD(get_str(x, v, path, &s));
        VMESH_GUARD(add_kv(x, v, path, k, s));
    }
out:
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
    free(s);
    return rc;
}

static vmesh_err attester_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    uint64_t ms;
    vmesh_err rc;

    (void)a;
    if (strcmp(k, "platform") == 0) {
        rc = get_str(x, v, path, &x->c->platform);
        if (rc == VMESH_OK && strcmp(x->c->platform, "psa-sim") == 0) {
            free(x->c->platform);
            x->c->platform = strdup("psa");
            rc = x->c->platform ? VMESH_OK : vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
        }
        return rc;
    }
    if (strcmp(k, "options") == 0)
        return each_pair(x, v, path, option_pair, NULL);
    if (strcmp(k, "modes") == 0)
        return get_modes(x, v, path, &x->c->attest_modes, NULL);
    if (strcmp(k, "ak-rotate") == 0) {
        rc = get_duration(x, v, path, 30ULL * 24 * 3600 * 1000, &ms);
        if (rc == VMESH_OK && ms < 1000)
            rc = perr(x, v, path, "must be at least 1s");
        x->c->ak_rotate = (int64_t)(ms / 1000);
        return rc;
    }
    return unknown(x, kn, path);
}

typedef struct {
    px_rvp *r;
} rvp_arg;

static vmesh_err rvp_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    px_rvp *r = ((rvp_arg *)a)->r;
    vmesh_err rc = VMESH_OK;

    if (strcmp(k, "name") == 0)
        return get_str(x, v, path, &r->name);
    if (strcmp(k, "url") == 0)
        return get_str(x, v, path, &r->url);
    if (strcmp(k, "key") == 0)
        return get_path(x, v, path, &r->key);
    if (strcmp(k, "schemes") == 0) {
        char **list = NULL;
        size_t n = 0, len = 0;
        VMESH_GUARD(get_str_list(x, v, path, false, &list, &n));
        for (size_t i = 0; i < n; i++)
            len += strlen(list[i]) + 1;
        free(r->schemes);
        r->schemes = calloc(1, len + 1);
        for (size_t i = 0, off = 0; r->schemes && i < n; i++)
            off += (size_t)snprintf(r->schemes + off, len + 1 - off, "%s%s", i ? "+" : "", list[i]);
        for (size_t i = 0; i < n; i++)
            free(list[i]);
        free(list);
        VMESH_ENSURE(r->schemes != NULL, VMESH_ERR_NOMEM, "out of memory");
        return VMESH_OK;
    }
    return unknown(x, kn, path);
out:
    return rc;
}

static vmesh_err bell_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    uint64_t ms;
    vmesh_err rc;

    (void)a;
    if (strcmp(k, "url") == 0)
        return get_str(x, v, path, &x->c->bell_url);
    if (strcmp(k, "file") == 0)
        return get_path(x, v, path, &x->c->bell_file);
    if (strcmp(k, "key") == 0)
        return get_path(x, v, path, &x->c->bell_key);
    if (strcmp(k, "refresh") == 0) {
        rc = get_duration(x, v, path, 3600 * 1000, &ms);
        x->c->bell_refresh_ms = (uint32_t)ms;
        return rc;
    }
    return unknown(x, kn, path);
}

static vmesh_err passport_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    (void)a;
    if (strcmp(k, "local-key") == 0)
        return get_path(x, v, path, &x->c->passport_local_key);
    if (strcmp(k, "central") == 0)
        return get_str(x, v, path, &x->c->passport_central);
    return unknown(x, kn, path);
}

static vmesh_err central_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    uint64_t ms;
    vmesh_err rc;

    (void)a;
    if (strcmp(k, "url") == 0)
        return get_str(x, v, path, &x->c->central_url);
    if (strcmp(k, "key") == 0)
        return get_path(x, v, path, &x->c->central_key);
    if (strcmp(k, "cache") == 0) {
        rc = get_duration(x, v, path, 24 * 3600 * 1000, &ms);
        if (rc == VMESH_OK && ms < 1000)
            rc = perr(x, v, path, "must be at least 1s");
        x->c->central_cache = (int64_t)(ms / 1000);
        return rc;
    }
    return unknown(x, kn, path);
}

static vmesh_err verifier_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    vmesh_proxy_config *c = x->c;
    vmesh_err rc = VMESH_OK;
    uint64_t ms;
    char sub[256];

    (void)a;
    if (strcmp(k, "rv-files") == 0)
        return get_str_list(x, v, path, true, &c->rv_files, &c->nrv);
    if (strcmp(k, "rvps") == 0) {
        size_t len;
        if (v->type != YAML_SEQUENCE_NODE)
            return perr(x, v, path, "must be a list of {name, url, key, schemes}");
        len = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (len > 64)
            return perr(x, v, path, "more than 64 RVPs");
        c->rvps = calloc(len ? len : 1, sizeof(*c->rvps));
        if (c->rvps == NULL)
            return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < len; i++) {
            yaml_node_t *it = node(x, v->data.sequence.items.start[i]);
            rvp_arg ra = {&c->rvps[i]};
            c->nrvps++;
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            VMESH_GUARD(each_pair(x, it, sub, rvp_pair, &ra));
            if (c->rvps[i].url == NULL || c->rvps[i].key == NULL)
                return perr(x, it, sub, "url and key are required");
        }
        return VMESH_OK;
    }
    if (strcmp(k, "poll-interval") == 0) {
        rc = get_duration(x, v, path, 24 * 3600 * 1000, &ms);
        if (rc == VMESH_OK && ms < 1000)
            rc = perr(x, v, path, "must be at least 1s");
        c->poll_interval_ms = (uint32_t)ms;
        return rc;
    }
    if (strcmp(k, "state-dir") == 0)
        return get_path(x, v, path, &c->state_dir);
    if (strcmp(k, "bell") == 0) {
        VMESH_GUARD(each_pair(x, v, path, bell_pair, NULL));
        if ((c->bell_url == NULL) == (c->bell_file == NULL) || c->bell_key == NULL)
            return perr(x, v, path, "needs key and exactly one of url or file");
        return VMESH_OK;
    }
    if (strcmp(k, "trusted-verifiers") == 0)
        return get_str_list(x, v, path, true, &c->trusted_verifiers, &c->ntv);
    if (strcmp(k, "passport") == 0) {
        VMESH_GUARD(each_pair(x, v, path, passport_pair, NULL));
        if ((c->passport_local_key == NULL) == (c->passport_central == NULL))
            return perr(x, v, path, "needs exactly one of local-key or central");
        return VMESH_OK;
    }
    if (strcmp(k, "central") == 0) {
        VMESH_GUARD(each_pair(x, v, path, central_pair, NULL));
        if (c->central_url == NULL || c->central_key == NULL)
            return perr(x, v, path, "needs url and key (the central verifier's EAR public key)");
        return VMESH_OK;
    }
    if (strcmp(k, "ar-cache-slots") == 0) {
        uint64_t u = 0;
        VMESH_GUARD(get_uint(x, v, path, 1, 16777216, &u));
        c->ar_cache_slots = (size_t)u;
        return VMESH_OK;
    }
    return unknown(x, kn, path);
out:
    return rc;
}

/* YAML -> JSON for policy documents written inline. */
static json_t *to_json(pctx *x, yaml_node_t *n, int depth)
{
    json_t *j = NULL;

    if (depth > 16 || ++x->json_nodes > 10000)
        return NULL;
    switch (n->type) {
    case YAML_SCALAR_NODE: {
        const char *s = scalar(n);
        char *end;
        long long v;
        if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
            return json_string(s);
        if (strcmp(s, "true") == 0)
            return json_true();
        if (strcmp(s, "false") == 0)
            return json_false();
        errno = 0;
        v = strtoll(s, &end, 10);
        if (s[0] != '\0' && *end == '\0' && errno == 0)
            return json_integer(v);
        return json_string(s);
    }
    case YAML_SEQUENCE_NODE:
        j = json_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; j && i < n->data.sequence.items.top; i++) {
            json_t *e = to_json(x, node(x, *i), depth + 1);
            if (e == NULL || json_array_append_new(j, e) != 0) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    case YAML_MAPPING_NODE:
        j = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; j && p < n->data.mapping.pairs.top; p++) {
            const char *k = scalar(node(x, p->key));
            json_t *e = k ? to_json(x, node(x, p->value), depth + 1) : NULL;
            if (e == NULL || json_object_set_new(j, k, e) != 0) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    default: return NULL;
    }
}

static vmesh_err rule_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    px_rule *r = a;
    vmesh_err rc = VMESH_OK;

    if (strcmp(k, "peer") == 0)
        return get_spiffe(x, v, path, true, &r->peer);
    if (strcmp(k, "modes") == 0) {
        unsigned m;
        json_t *names = json_array();
        rc = get_modes(x, v, path, &m, &names);
        if (rc == VMESH_OK)
            json_object_set_new(r->overrides, "modes", names);
        else
            json_decref(names);
        return rc;
    }
    if (strcmp(k, "min-tiers") == 0) {
        json_t *j;
        if (v->type != YAML_MAPPING_NODE)
            return perr(x, v, path, "must be a mapping of claim name to tier");
        j = to_json(x, v, 0);
        if (j == NULL)
            return perr(x, v, path, "cannot be converted");
        json_object_set_new(r->overrides, "min-tiers", j);
        return VMESH_OK;
    }
    if (strcmp(k, "min-status") == 0) {
        char *s = NULL;
        VMESH_GUARD(get_str(x, v, path, &s));
        json_object_set_new(r->overrides, "min-status", json_string(s));
        free(s);
        return VMESH_OK;
    }
    if (strcmp(k, "max-evidence-age") == 0) {
        uint64_t ms;
        VMESH_GUARD(get_duration(x, v, path, 365ULL * 24 * 3600 * 1000, &ms));
        json_object_set_new(r->overrides, "max-evidence-age", json_integer((json_int_t)(ms < 1000 ? 1 : ms / 1000)));
        return VMESH_OK;
    }
    if (strcmp(k, "allow-unattested") == 0) {
        bool b;
        VMESH_GUARD(get_bool(x, v, path, &b));
        json_object_set_new(r->overrides, "allow-unattested", json_boolean(b));
        return VMESH_OK;
    }
    return unknown(x, kn, path);
out:
    return rc;
}

static vmesh_err policy_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    vmesh_proxy_config *c = x->c;
    vmesh_err rc = VMESH_OK;
    char sub[256];

    (void)a;
    if (strcmp(k, "file") == 0 || strcmp(k, "inline") == 0) {
        if (c->policy_doc != NULL)
            return perr(x, kn, path, "policy.file and policy.inline are exclusive");
        if (strcmp(k, "file") == 0) {
            json_error_t jerr;
            vmesh_buf b = {0};
            VMESH_GUARD(get_path(x, v, path, &c->policy_source));
            if (vmesh_file_read(c->policy_source, 256 * 1024, &b) != VMESH_OK)
                return perr(x, v, path, "%s", vmesh_err_detail());
            c->policy_doc = json_loadb((const char *)b.data, b.len, JSON_REJECT_DUPLICATES, &jerr);
            vmesh_buf_free(&b);
            if (c->policy_doc == NULL)
                return perr(x, v, path, "%s: line %d: %s", c->policy_source, jerr.line, jerr.text);
        } else {
            if (v->type != YAML_MAPPING_NODE)
                return perr(x, v, path, "must be a mapping (a policy document, docs/POLICY.md)");
            c->policy_doc = to_json(x, v, 0);
            if (c->policy_doc == NULL)
                return perr(x, v, path, "cannot be converted to a policy document");
            if (json_object_get(c->policy_doc, "format") == NULL)
                json_object_set_new(c->policy_doc, "format", json_string("vmesh-policy/1"));
            if (asprintf(&c->policy_source, "%s:%lu: policy.inline", x->src, line_of(v)) < 0)
                c->policy_source = NULL;
        }
        if (!json_is_object(c->policy_doc))
            return perr(x, v, path, "a policy must be a JSON object");
        return VMESH_OK;
    }
    if (strcmp(k, "rules") == 0) {
        size_t len;
        if (v->type != YAML_SEQUENCE_NODE)
            return perr(x, v, path, "must be a list of rules");
        len = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (len > VMESH_AGENT_MAX_RULES)
            return perr(x, v, path, "more than %d rules", VMESH_AGENT_MAX_RULES);
        c->rules = calloc(len ? len : 1, sizeof(*c->rules));
        if (c->rules == NULL)
            return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < len; i++) {
            yaml_node_t *it = node(x, v->data.sequence.items.start[i]);
            px_rule *r = &c->rules[i];
            c->nrules++;
            r->overrides = json_object();
            if (r->overrides == NULL)
                return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            VMESH_GUARD(each_pair(x, it, sub, rule_pair, r));
            if (r->peer == NULL)
                return perr(x, it, sub, "peer (a SPIFFE ID or pattern) is required");
        }
        return VMESH_OK;
    }
    return unknown(x, kn, path);
out:
    return rc;
}

static vmesh_err inbound_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    px_inbound *l = a;

    if (strcmp(k, "name") == 0)
        return get_str(x, v, path, &l->name);
    if (strcmp(k, "listen") == 0)
        return get_addr(x, v, path, VMESH_NET_LISTEN, &l->listen);
    if (strcmp(k, "app") == 0)
        return get_addr(x, v, path, 0, &l->app);
    if (strcmp(k, "peer") == 0)
        return get_spiffe(x, v, path, true, &l->peer);
    return unknown(x, kn, path);
}

static vmesh_err outbound_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    px_outbound *l = a;
    vmesh_err rc = VMESH_OK;

    if (strcmp(k, "name") == 0)
        return get_str(x, v, path, &l->name);
    if (strcmp(k, "listen") == 0)
        return get_addr(x, v, path, VMESH_NET_LISTEN, &l->listen);
    if (strcmp(k, "peer") == 0)
        return get_spiffe(x, v, path, true, &l->peer);
    if (strcmp(k, "upstreams") == 0) {
        char sub[256];
        size_t len;
        if (v->type != YAML_SEQUENCE_NODE)
            return perr(x, v, path, "must be a list of HOST:PORT");
        len = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
        if (len == 0 || len > PX_MAX_UPSTREAMS)
            return perr(x, v, path, "must list 1..%d upstreams", PX_MAX_UPSTREAMS);
        for (size_t i = 0; i < len; i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            l->nup++; /* counted first: freed with the config even when invalid */
            VMESH_GUARD(get_addr(x, node(x, v->data.sequence.items.start[i]), sub, 0, &l->upstreams[i]));
        }
        return VMESH_OK;
    }
    return unknown(x, kn, path);
out:
    return rc;
}

static vmesh_err listeners(pctx *x, yaml_node_t *v, const char *path, bool inbound)
{
    vmesh_proxy_config *c = x->c;
    vmesh_err rc = VMESH_OK;
    size_t len;
    char sub[256];

    if (v->type != YAML_SEQUENCE_NODE)
        return perr(x, v, path, "must be a list of listeners");
    len = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (len > PX_MAX_LISTENERS)
        return perr(x, v, path, "more than %d listeners", PX_MAX_LISTENERS);
    if (inbound)
        c->in = calloc(len ? len : 1, sizeof(*c->in));
    else
        c->out = calloc(len ? len : 1, sizeof(*c->out));
    if ((inbound && c->in == NULL) || (!inbound && c->out == NULL))
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *it = node(x, v->data.sequence.items.start[i]);
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        if (inbound) {
            c->nin++;
            VMESH_GUARD(each_pair(x, it, sub, inbound_pair, &c->in[i]));
            if (!c->in[i].listen || !c->in[i].app)
                return perr(x, it, sub, "listen and app are required");
            if (c->in[i].name == NULL && (c->in[i].name = strdup(c->in[i].listen)) == NULL)
                return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
        } else {
            c->nout++;
            VMESH_GUARD(each_pair(x, it, sub, outbound_pair, &c->out[i]));
            if (!c->out[i].listen || c->out[i].nup == 0 || !c->out[i].peer)
                return perr(x, it, sub, "listen, upstreams and peer are required");
            if (c->out[i].name == NULL && (c->out[i].name = strdup(c->out[i].listen)) == NULL)
                return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
        }
    }
out:
    return rc;
}

static vmesh_err admin_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    (void)a;
    if (strcmp(k, "listen") == 0)
        return get_addr(x, v, path, VMESH_NET_LISTEN, &x->c->admin_listen);
    return unknown(x, kn, path);
}

static vmesh_err limits_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    vmesh_proxy_config *c = x->c;
    vmesh_err rc = VMESH_OK;
    uint64_t u = 0;

    (void)a;
    if (strcmp(k, "max-connections") == 0) {
        VMESH_GUARD(get_uint(x, v, path, 1, 1000000, &u));
        c->max_connections = (uint32_t)u;
    } else if (strcmp(k, "handshake-timeout") == 0) {
        VMESH_GUARD(get_duration(x, v, path, 600 * 1000, &u));
        c->handshake_timeout_ms = (uint32_t)u;
    } else if (strcmp(k, "connect-timeout") == 0) {
        VMESH_GUARD(get_duration(x, v, path, 600 * 1000, &u));
        c->connect_timeout_ms = (uint32_t)u;
    } else if (strcmp(k, "idle-timeout") == 0) {
        VMESH_GUARD(get_duration(x, v, path, 7ULL * 24 * 3600 * 1000, &u));
        c->idle_timeout_ms = (uint32_t)u;
    } else if (strcmp(k, "drain-timeout") == 0) {
        VMESH_GUARD(get_duration(x, v, path, 3600 * 1000, &u));
        c->drain_timeout_ms = (uint32_t)u;
    } else if (strcmp(k, "linger-timeout") == 0) {
        VMESH_GUARD(get_duration(x, v, path, 60 * 1000, &u));
        c->linger_ms = (uint32_t)u;
    } else if (strcmp(k, "buffer-size") == 0) {
        VMESH_GUARD(get_size(x, v, path, 1024, 16 * 1024 * 1024, &u));
        c->buffer_size = (size_t)u;
    } else if (strcmp(k, "workers") == 0) {
        VMESH_GUARD(get_uint(x, v, path, 0, PX_MAX_WORKERS, &u));
        c->workers = (uint32_t)u;
    } else {
        rc = unknown(x, kn, path);
    }
out:
    return rc;
}

static vmesh_err access_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    vmesh_err rc = VMESH_OK;
    bool b;

    (void)a;
    if (strcmp(k, "file") == 0)
        return get_path(x, v, path, &x->c->access_log);
    if (strcmp(k, "stderr") == 0) {
        VMESH_GUARD(get_bool(x, v, path, &b));
        free(x->c->access_log);
        x->c->access_log = b ? strdup("-") : NULL;
        VMESH_ENSURE(!b || x->c->access_log, VMESH_ERR_NOMEM, "out of memory");
        return VMESH_OK;
    }
    return unknown(x, kn, path);
out:
    return rc;
}

static vmesh_err top_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    vmesh_err rc = VMESH_OK;

    (void)a;
    if (strcmp(k, "identity") == 0)
        return each_pair(x, v, path, identity_pair, NULL);
    if (strcmp(k, "attester") == 0)
        return each_pair(x, v, path, attester_pair, NULL);
    if (strcmp(k, "verifier") == 0)
        return each_pair(x, v, path, verifier_pair, NULL);
    if (strcmp(k, "policy") == 0)
        return each_pair(x, v, path, policy_pair, NULL);
    if (strcmp(k, "inbound") == 0)
        return listeners(x, v, path, true);
    if (strcmp(k, "outbound") == 0)
        return listeners(x, v, path, false);
    if (strcmp(k, "admin") == 0)
        return each_pair(x, v, path, admin_pair, NULL);
    if (strcmp(k, "limits") == 0)
        return each_pair(x, v, path, limits_pair, NULL);
    if (strcmp(k, "access-log") == 0) {
        free(x->c->access_log);
        x->c->access_log = NULL;
        return each_pair(x, v, path, access_pair, NULL);
    }
    if (strcmp(k, "log-level") == 0) {
        const char *s = scalar(v);
        static const char *const names[] = {"error", "warn", "info", "debug"};
        for (int i = 0; s && i < 4; i++)
            if (strcmp(s, names[i]) == 0) {
                x->c->log_level = i;
                return VMESH_OK;
            }
        return perr(x, v, path, "\"%s\" is not a log level (error, warn, info, debug)", s ? s : "");
    }
    rc = unknown(x, kn, path);
    return rc;
}

/* Cross-key checks once everything is read. */
static vmesh_err check(pctx *x, yaml_node_t *root)
{
    vmesh_proxy_config *c = x->c;

    if (!c->cert || !c->key || !c->bundle)
        return perr(x, root, "identity", "cert, key and bundle are required");
    if (c->nin + c->nout == 0)
        return perr(x, root, "inbound", "at least one inbound or outbound listener is required");
    if (c->nin + c->nout > PX_MAX_LISTENERS)
        return perr(x, root, "inbound", "more than %d listeners in all", PX_MAX_LISTENERS);
    if (c->nkv > 0 && c->platform == NULL)
        return perr(x, root, "attester.platform", "options are given but no platform");
    if (c->bell_url != NULL && c->nrvps == 0)
        return perr(x, root, "verifier.bell.url", "a bell URL is fetched by the bundle sync client: it needs verifier.rvps (or use bell.file)");
    for (size_t i = 0; i < c->nout; i++)
        if (vmesh_pki_spiffe_id_validate(c->out[i].peer) != VMESH_OK && c->out[i].nup > 0) {
            /* A pattern is allowed, but then per-peer rules apply only at
             * appraisal time; an exact ID is the usual case. */
        }
    for (size_t i = 0; i < c->nin + c->nout; i++)
        for (size_t j = 0; j < i; j++) {
            const char *a = i < c->nin ? c->in[i].name : c->out[i - c->nin].name;
            const char *b = j < c->nin ? c->in[j].name : c->out[j - c->nin].name;
            if (strcmp(a, b) == 0)
                return perr(x, root, "inbound", "two listeners are named \"%s\"", a);
        }
    return VMESH_OK;
}

vmesh_err vmesh_proxy_config_parse(const char *yaml, size_t n, const char *source, vmesh_proxy_config **out)
{
    vmesh_err rc = VMESH_OK;
    yaml_parser_t parser;
    yaml_document_t doc;
    bool have_doc = false;
    yaml_node_t *root;
    pctx x;

    *out = NULL;
    memset(&x, 0, sizeof(x));
    x.src = source ? source : "config";
    VMESH_ENSURE(n <= CONFIG_MAX, VMESH_ERR_TOO_LARGE, "%s: larger than %zu bytes", x.src, CONFIG_MAX);
    if (source != NULL && strchr(source, '/') != NULL) {
        char tmp[1024];
        snprintf(tmp, sizeof(tmp), "%s", source);
        snprintf(x.dir, sizeof(x.dir), "%s", dirname(tmp));
    }
    x.c = calloc(1, sizeof(*x.c));
    VMESH_ENSURE(x.c != NULL, VMESH_ERR_NOMEM, "out of memory");
    x.c->kv = calloc(MAX_KV, sizeof(vmesh_kv));
    x.c->source = strdup(x.src);
    x.c->access_log = strdup("-");
    VMESH_ENSURE(x.c->kv && x.c->source && x.c->access_log, VMESH_ERR_NOMEM, "out of memory");
    x.c->poll_interval_ms = 30000;
    x.c->bell_refresh_ms = 5000;
    x.c->max_connections = 10000;
    x.c->handshake_timeout_ms = 10000;
    x.c->connect_timeout_ms = 5000;
    x.c->idle_timeout_ms = 300000;
    x.c->drain_timeout_ms = 30000;
    x.c->linger_ms = 1000;
    x.c->buffer_size = 65536;
    x.c->ar_cache_slots = 4096;
    x.c->log_level = VMESH_LOG_INFO;
    VMESH_ENSURE(yaml_parser_initialize(&parser) == 1, VMESH_ERR_NOMEM, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, n);
    if (yaml_parser_load(&parser, &doc) != 1) {
        rc = vmesh_err_set(VMESH_ERR_PARSE, "%s:%lu: %s%s%s", x.src, (unsigned long)parser.problem_mark.line + 1,
                           parser.problem ? parser.problem : "YAML error", parser.context ? " " : "",
                           parser.context ? parser.context : "");
        yaml_parser_delete(&parser);
        goto out;
    }
    yaml_parser_delete(&parser);
    have_doc = true;
    x.doc = &doc;
    root = yaml_document_get_root_node(&doc);
    VMESH_ENSURE(root != NULL, VMESH_ERR_PARSE, "%s: empty configuration", x.src);
    VMESH_GUARD(each_pair(&x, root, "", top_pair, NULL));
    VMESH_GUARD(check(&x, root));
    *out = x.c;
    x.c = NULL;
out:
    if (have_doc)
        yaml_document_delete(&doc);
    vmesh_proxy_config_free(x.c);
    return rc;
}

vmesh_err vmesh_proxy_config_load(const char *path, vmesh_proxy_config **out)
{
    vmesh_buf b = {0};
    vmesh_err rc = vmesh_file_read(path, CONFIG_MAX, &b);

    *out = NULL;
    if (rc == VMESH_OK)
        rc = vmesh_proxy_config_parse(b.len ? (const char *)b.data : "", b.len, path, out);
    else
        vmesh_err_wrap(rc, "configuration %s", path);
    vmesh_buf_free(&b);
    return rc;
}

static void free_list(char **l)
{
    for (size_t i = 0; l && l[i]; i++)
        free(l[i]);
    free(l);
}

void vmesh_proxy_config_free(vmesh_proxy_config *c)
{
    if (c == NULL)
        return;
    free(c->source);
    free(c->cert);
    free(c->key);
    free(c->bundle);
    free(c->platform);
    for (size_t i = 0; i < c->nkv; i++) {
        free((char *)c->kv[i].key);
        free((char *)c->kv[i].value);
    }
    free(c->kv);
    free_list(c->rv_files);
    for (size_t i = 0; i < c->nrvps; i++) {
        free(c->rvps[i].name);
        free(c->rvps[i].url);
        free(c->rvps[i].key);
        free(c->rvps[i].schemes);
    }
    free(c->rvps);
    free(c->state_dir);
    free(c->bell_url);
    free(c->bell_file);
    free(c->bell_key);
    free_list(c->trusted_verifiers);
    free(c->passport_local_key);
    free(c->passport_central);
    free(c->central_url);
    free(c->central_key);
    json_decref(c->policy_doc);
    free(c->policy_source);
    for (size_t i = 0; i < c->nrules; i++) {
        free(c->rules[i].peer);
        json_decref(c->rules[i].overrides);
    }
    free(c->rules);
    for (size_t i = 0; i < c->nin; i++) {
        free(c->in[i].name);
        free(c->in[i].listen);
        free(c->in[i].app);
        free(c->in[i].peer);
    }
    free(c->in);
    for (size_t i = 0; i < c->nout; i++) {
        free(c->out[i].name);
        free(c->out[i].listen);
        free(c->out[i].peer);
        for (size_t j = 0; j < c->out[i].nup; j++)
            free(c->out[i].upstreams[j]);
    }
    free(c->out);
    free(c->admin_listen);
    free(c->access_log);
    free(c);
}

size_t vmesh_proxy_config_inbound_count(const vmesh_proxy_config *c)
{
    return c->nin;
}

size_t vmesh_proxy_config_outbound_count(const vmesh_proxy_config *c)
{
    return c->nout;
}

const char *vmesh_proxy_config_listen(const vmesh_proxy_config *c, size_t i)
{
    if (i < c->nin)
        return c->in[i].listen;
    if (i < c->nin + c->nout)
        return c->out[i - c->nin].listen;
    return NULL;
}

uint32_t vmesh_proxy_config_idle_timeout_ms(const vmesh_proxy_config *c)
{
    return c->idle_timeout_ms;
}
