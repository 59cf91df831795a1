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

typedef struct {
    const char *suffix;
    uint64_t mult;
} unit_t;

/* "16384", "16k", "16KiB", "1MiB". */
static const unit_t size_units[] = {{"", 1},
                                    {"k", 1024},
                                    {"K", 1024},
                                    {"KiB", 1024},
                                    {"M", 1024 * 1024},
                                    {"m", 1024 * 1024},
                                    {"MiB", 1024 * 1024},
                                    {NULL, 0}};

/* A decimal number of at most max followed by one of units' suffixes, times
 * its multiplier; false when s is not that. */
static bool scaled(const char *s, const unit_t *units, uint64_t max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    for (; errno == 0 && v <= max && units->suffix; units++)
        if (strcmp(end, units->suffix) == 0) {
            *out = (uint64_t)v * units->mult;
            return true;
        }
    return false;
}

static vmesh_err get_duration(pctx *x, const yaml_node_t *n, const char *path, uint64_t max_ms,
                              uint64_t *ms)
{
    const char *s = scalar(n);

    /* one duration syntax for files and command lines (vmesh_duration_parse_ms) */
    if (!vmesh_duration_parse_ms(s, ms))
        return perr(x, n, path, "\"%s\" is not a duration (e.g. 500ms, 10s, 5m, 1h)",
                    s ? s : "(not a scalar)");
    if (*ms == 0 || *ms > max_ms)
        return perr(x, n, path, "\"%s\" is out of range (1ms..%llus)", s,
                    (unsigned long long)(max_ms / 1000));
    return VMESH_OK;
}

static vmesh_err get_size(pctx *x, const yaml_node_t *n, const char *path, uint64_t lo, uint64_t hi,
                          uint64_t *out)
{
    const char *s = scalar(n);

    if (!scaled(s, size_units, 1ULL << 40, out))
        return perr(x, n, path, "\"%s\" is not a size in bytes (e.g. 16384, 16KiB, 1MiB)",
                    s ? s : "(not a scalar)");
    if (*out < lo || *out > hi)
        return perr(x, n, path, "\"%s\" is out of range (%llu..%llu bytes)", s,
                    (unsigned long long)lo, (unsigned long long)hi);
    return VMESH_OK;
}

static vmesh_err get_addr(pctx *x, const yaml_node_t *n, const char *path, unsigned flags,
                          char **out)
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
        int w = snprintf(sub, sizeof(sub), "%s%s%s", path, path[0] ? "." : "", ks);
        if (w < 0 || (size_t)w >= sizeof(sub))
            return perr(x, k, path, "key path too long (%d characters, at most %zu)", w,
                        sizeof(sub) - 1);
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

/* ---- key tables ------------------------------------------------------------------- */

/* How a key's value is read into its field: the field sits at offset `off`
 * of the section's struct (the configuration itself, or one element of a
 * list: an RVP, a rule, a listener). The same tables free what they read. */
typedef enum {
    K_STR,     /* char *: a string */
    K_PATH,    /* char *: a file name, resolved against the configuration's directory */
    K_ADDR,    /* char *: HOST:PORT to connect to */
    K_LISTEN,  /* char *: HOST:PORT to listen on */
    K_PATTERN, /* char *: a SPIFFE ID or pattern */
    K_MS,      /* uint32_t: a duration in milliseconds, lo..hi ms */
    K_SECONDS, /* int64_t: a duration in whole seconds, lo..hi ms */
    K_U32,     /* uint32_t: a number lo..hi */
    K_SIZE,    /* size_t: a number lo..hi */
    K_BYTES,   /* size_t: a size in bytes lo..hi */
    K_PATHS,   /* char **: a list of file names at off, its length in the size_t at offset lo */
    K_STRS,    /* char **: a list of strings, as K_PATHS */
    K_FN,      /* fn reads it (and owns no string at off) */
    K_FN_STR,  /* fn reads it into the char * at off */
    K_SECTION, /* a mapping read with `sub` into the same struct, then checked with `done` */
    K_LIST,    /* a sequence of mappings read with `list` into the array at off */
} kkind;

typedef struct keydef keydef;
typedef struct listdef listdef;

struct keydef {
    const char *name;
    kkind kind;
    size_t off;
    uint64_t lo, hi;
    pair_fn fn;        /* K_FN, K_FN_STR */
    const keydef *sub; /* K_SECTION, then (optional) done */
    vmesh_err (*done)(pctx *x, yaml_node_t *v, const char *path, void *base);
    const listdef *list; /* K_LIST */
};

/* A list of sections: every element is read with `keys`, counted before it
 * is read (so that a half-read one is freed with the configuration), then
 * completed by `done`. */
struct listdef {
    const char *expect; /* "must be a list of ..." */
    size_t max;
    const char *unit; /* "more than %zu <unit>" */
    size_t size, count_off;
    const keydef *keys;
    vmesh_err (*init)(void *elem);
    vmesh_err (*done)(pctx *x, yaml_node_t *it, const char *path, void *elem);
    void (*release)(void *elem); /* what keys do not free */
};

/* clang-format off */
#define FIELD(t, f) offsetof(t, f)
#define STR(n, k, t, f) {n, k, FIELD(t, f), 0, 0, NULL, NULL, NULL, NULL}
#define NUM(n, k, t, f, lo, hi) {n, k, FIELD(t, f), lo, hi, NULL, NULL, NULL, NULL}
#define FN(n, fn) {n, K_FN, 0, 0, 0, fn, NULL, NULL, NULL}
#define FN_STR(n, t, f, fn) {n, K_FN_STR, FIELD(t, f), 0, 0, fn, NULL, NULL, NULL}
#define SECTION(n, sub, done) {n, K_SECTION, 0, 0, 0, NULL, sub, done, NULL}
#define LIST(n, t, f, l) {n, K_LIST, FIELD(t, f), 0, 0, NULL, NULL, NULL, l}
#define END {NULL, K_FN, 0, 0, 0, NULL, NULL, NULL, NULL}
/* clang-format on */

typedef struct {
    const keydef *keys;
    void *base;
} section_arg;

static vmesh_err read_list(pctx *x, yaml_node_t *v, const char *path, const listdef *l, void *base,
                           size_t off);

static vmesh_err read_key(pctx *x, const keydef *d, yaml_node_t *kn, yaml_node_t *v,
                          const char *path, void *base);

static vmesh_err section_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                              const char *path, void *a)
{
    const section_arg *s = a;

    for (const keydef *d = s->keys; d->name; d++)
        if (strcmp(d->name, k) == 0)
            return read_key(x, d, kn, v, path, s->base);
    return unknown(x, kn, path);
}

static vmesh_err read_section(pctx *x, yaml_node_t *m, const char *path, const keydef *keys,
                              void *base)
{
    section_arg s = {keys, base};

    return each_pair(x, m, path, section_pair, &s);
}

static vmesh_err read_key(pctx *x, const keydef *d, yaml_node_t *kn, yaml_node_t *v,
                          const char *path, void *base)
{
    void *f = (char *)base + d->off;
    vmesh_err rc = VMESH_OK;
    uint64_t u = 0;

    switch (d->kind) {
    case K_STR:
        return get_str(x, v, path, f);
    case K_PATH:
        return get_path(x, v, path, f);
    case K_ADDR:
        return get_addr(x, v, path, 0, f);
    case K_LISTEN:
        return get_addr(x, v, path, VMESH_NET_LISTEN, f);
    case K_PATTERN:
        return get_spiffe(x, v, path, true, f);
    case K_MS:
    case K_SECONDS:
        VMESH_GUARD(get_duration(x, v, path, d->hi, &u));
        if (u < d->lo)
            return perr(x, v, path, "must be at least %llus", (unsigned long long)(d->lo / 1000));
        if (d->kind == K_MS)
            *(uint32_t *)f = (uint32_t)u;
        else
            *(int64_t *)f = (int64_t)(u / 1000);
        break;
    case K_U32:
    case K_SIZE:
        VMESH_GUARD(get_uint(x, v, path, d->lo, d->hi, &u));
        if (d->kind == K_U32)
            *(uint32_t *)f = (uint32_t)u;
        else
            *(size_t *)f = (size_t)u;
        break;
    case K_BYTES:
        VMESH_GUARD(get_size(x, v, path, d->lo, d->hi, &u));
        *(size_t *)f = (size_t)u;
        break;
    case K_PATHS:
    case K_STRS:
        return get_str_list(x, v, path, d->kind == K_PATHS, f, (size_t *)((char *)base + d->lo));
    case K_FN:
    case K_FN_STR:
        return d->fn(x, d->name, kn, v, path, base);
    case K_SECTION:
        VMESH_GUARD(read_section(x, v, path, d->sub, base));
        return d->done ? d->done(x, v, path, base) : VMESH_OK;
    case K_LIST:
        return read_list(x, v, path, d->list, base, d->off);
    }
out:
    return rc;
}

static vmesh_err read_list(pctx *x, yaml_node_t *v, const char *path, const listdef *l, void *base,
                           size_t off)
{
    vmesh_err rc = VMESH_OK;
    char **arr = (char **)((char *)base + off);
    size_t *count = (size_t *)((char *)base + l->count_off), len;
    char sub[256];

    if (v->type != YAML_SEQUENCE_NODE)
        return perr(x, v, path, "must be a list of %s", l->expect);
    len = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (len > l->max)
        return perr(x, v, path, "more than %zu %s", l->max, l->unit);
    *arr = calloc(len ? len : 1, l->size);
    if (*arr == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    for (size_t i = 0; i < len; i++) {
        yaml_node_t *it = node(x, v->data.sequence.items.start[i]);
        void *elem = *arr + i * l->size;
        (*count)++;
        if (l->init)
            VMESH_GUARD(l->init(elem));
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        VMESH_GUARD(read_section(x, it, sub, l->keys, elem));
        VMESH_GUARD(l->done(x, it, sub, elem));
    }
out:
    return rc;
}

/* Frees what keys read into base. */
static void free_keys(const keydef *keys, void *base)
{
    for (const keydef *d = keys; d->name; d++) {
        char **f = (char **)((char *)base + d->off);
        switch (d->kind) {
        case K_STR:
        case K_PATH:
        case K_ADDR:
        case K_LISTEN:
        case K_PATTERN:
        case K_FN_STR:
            free(*f);
            *f = NULL;
            break;
        case K_PATHS:
        case K_STRS:
            for (size_t i = 0; *f && i < *(size_t *)((char *)base + d->lo); i++)
                free(((char **)*f)[i]);
            free(*f);
            *f = NULL;
            break;
        case K_SECTION:
            free_keys(d->sub, base);
            break;
        case K_LIST: {
            size_t *count = (size_t *)((char *)base + d->list->count_off);
            for (size_t i = 0; *f && i < *count; i++) {
                free_keys(d->list->keys, *f + i * d->list->size);
                if (d->list->release)
                    d->list->release(*f + i * d->list->size);
            }
            free(*f);
            *f = NULL;
            break;
        }
        default:
            break;
        }
    }
}

/* ---- identity, attester ------------------------------------------------------------- */

static const keydef fed_keys[] = {
    STR("trust-domain", K_STR, px_fed, td),
    STR("bundle", K_PATH, px_fed, bundle),
    STR("endpoint", K_STR, px_fed, endpoint),
    STR("endpoint-profile", K_STR, px_fed, profile),
    STR("endpoint-ca", K_PATH, px_fed, endpoint_ca),
    STR("endpoint-id", K_STR, px_fed, endpoint_id),
    NUM("refresh", K_MS, px_fed, refresh_ms, 1000, 7 * 24 * 3600 * 1000ULL),
    END};

static vmesh_err fed_done(pctx *x, yaml_node_t *it, const char *path, void *elem)
{
    const px_fed *f = elem;

    if (f->td == NULL || f->bundle == NULL)
        return perr(x, it, path, "trust-domain and bundle are required");
    if (vmesh_pki_trust_domain_validate(f->td) != VMESH_OK)
        return perr(x, it, path, "trust-domain: %s", vmesh_err_detail());
    if (f->profile && strcmp(f->profile, "https_web") != 0 &&
        strcmp(f->profile, "https_spiffe") != 0)
        return perr(x, it, path, "endpoint-profile must be https_web or https_spiffe");
    if ((f->profile || f->endpoint_ca || f->endpoint_id || f->refresh_ms) && !f->endpoint)
        return perr(x, it, path, "endpoint-* and refresh need an endpoint URL");
    if (f->endpoint && strncmp(f->endpoint, "https://", 8) != 0)
        return perr(x, it, path, "endpoint must be an https:// URL");
    if (f->profile && strcmp(f->profile, "https_spiffe") == 0) {
        if (f->endpoint_id == NULL || vmesh_pki_spiffe_id_validate(f->endpoint_id) != VMESH_OK)
            return perr(x, it, path, "https_spiffe needs endpoint-id, a SPIFFE ID");
        if (f->endpoint_ca)
            return perr(x, it, path, "endpoint-ca is for https_web; https_spiffe verifies the "
                                     "endpoint against the federated bundles");
    } else if (f->endpoint_id) {
        return perr(x, it, path, "endpoint-id needs endpoint-profile: https_spiffe");
    }
    return VMESH_OK;
}

static const listdef fed_list = {
    "{trust-domain, bundle, endpoint, endpoint-profile, endpoint-ca, endpoint-id, refresh}",
    32,
    "federated trust domains",
    sizeof(px_fed),
    FIELD(vmesh_proxy_config, nfeds),
    fed_keys,
    NULL,
    fed_done,
    NULL,
};

/* identity.keybound-issuer (D44): the attested SVID issuer that certifies
 * our key-bound AK; the files cert/key are then the bootstrap SVID, used
 * toward it only. */
static const keydef kb_issuer_keys[] = {
    STR("address", K_ADDR, vmesh_proxy_config, kb_addr),
    STR("id", K_PATTERN, vmesh_proxy_config, kb_id),
    NUM("ttl", K_SECONDS, vmesh_proxy_config, kb_ttl, 60 * 1000, 30ULL * 24 * 3600 * 1000),
    NUM("retry", K_MS, vmesh_proxy_config, kb_retry_ms, 100, 3600 * 1000),
    NUM("timeout", K_MS, vmesh_proxy_config, kb_timeout_ms, 100, 600 * 1000), END};

static vmesh_err kb_issuer_done(pctx *x, yaml_node_t *n, const char *path, void *elem)
{
    vmesh_proxy_config *c = elem;

    if (c->kb_addr == NULL || c->kb_id == NULL)
        return perr(x, n, path, "address (HOST:PORT of vmesh ca serve) and id (its SPIFFE ID) are required");
    c->kb_issuer = true;
    return VMESH_OK;
}

static const keydef identity_keys[] = {STR("cert", K_PATH, vmesh_proxy_config, cert),
                                       STR("key", K_PATH, vmesh_proxy_config, key),
                                       STR("bundle", K_PATH, vmesh_proxy_config, bundle),
                                       LIST("federation", vmesh_proxy_config, feds, &fed_list),
                                       SECTION("keybound-issuer", kb_issuer_keys, kb_issuer_done),
                                       END};

static vmesh_err add_kv(pctx *x, yaml_node_t *n, const char *path, const char *key,
                        const char *value)
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
static vmesh_err option_pair(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                             const char *path, void *a)
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

static vmesh_err options_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                            const char *path, void *a)
{
    (void)k, (void)kn, (void)a;
    return each_pair(x, v, path, option_pair, NULL);
}

static vmesh_err platform_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                             const char *path, void *a)
{
    vmesh_err rc = get_str(x, v, path, &x->c->platform);

    (void)k, (void)kn, (void)a;
    if (rc == VMESH_OK && strcmp(x->c->platform, "psa-sim") == 0) {
        free(x->c->platform);
        x->c->platform = strdup("psa");
        rc = x->c->platform ? VMESH_OK : vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    }
    return rc;
}

static vmesh_err modes_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path,
                          void *a)
{
    (void)k, (void)kn, (void)a;
    return get_modes(x, v, path, &x->c->attest_modes, NULL);
}

static vmesh_err keybound_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    (void)k, (void)kn, (void)a;
    return get_bool(x, v, path, &x->c->keybound);
}

static const keydef attester_keys[] = {
    FN_STR("platform", vmesh_proxy_config, platform, platform_fn), FN("options", options_fn),
    FN("modes", modes_fn), FN("keybound", keybound_fn),
    NUM("ak-rotate", K_SECONDS, vmesh_proxy_config, ak_rotate, 1000, 30ULL * 24 * 3600 * 1000),
    END};

/* ---- verifier ----------------------------------------------------------------------- */

/* A YAML list of strings joined with '+' into *dst. */
static vmesh_err join_list(pctx *x, yaml_node_t *v, const char *path, char **dst)
{
    vmesh_err rc = VMESH_OK;
    char **list = NULL;
    size_t n = 0, len = 0;

    VMESH_GUARD(get_str_list(x, v, path, false, &list, &n));
    for (size_t i = 0; i < n; i++)
        len += strlen(list[i]) + 1;
    free(*dst);
    *dst = calloc(1, len + 1);
    for (size_t i = 0, off = 0; *dst && i < n; i++)
        off += (size_t)snprintf(*dst + off, len + 1 - off, "%s%s", i ? "+" : "", list[i]);
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    VMESH_ENSURE(*dst != NULL, VMESH_ERR_NOMEM, "out of memory");
out:
    return rc;
}

static vmesh_err schemes_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                            const char *path, void *a)
{
    (void)k, (void)kn;
    return join_list(x, v, path, &((px_rvp *)a)->schemes);
}

/* rvps[].classes: the class ids (hex) a CoSERV source is asked for
 * (url coserv+http://..., docs/BUNDLES.md "CoSERV"). */
static vmesh_err classes_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                            const char *path, void *a)
{
    (void)k, (void)kn;
    return join_list(x, v, path, &((px_rvp *)a)->classes);
}

/* rvps[].scope.trust-domains / id-prefixes: whose reference values this
 * RVP's count for (docs/FEDERATION.md "Scoped providers"). */
static vmesh_err scope_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path,
                          void *a)
{
    px_rvp *r = a;
    vmesh_err rc = VMESH_OK;
    bool tds = strcmp(k, "trust-domains") == 0;
    char ***list = tds ? &r->scope_tds : &r->scope_ids;
    size_t *n = tds ? &r->nscope_tds : &r->nscope_ids;

    (void)kn;
    if (*list != NULL)
        return perr(x, v, path, "given twice");
    VMESH_GUARD(get_str_list(x, v, path, false, list, n));
    if (*n == 0)
        return perr(x, v, path, "is empty: name at least one %s (or leave the key out)",
                    tds ? "trust domain" : "SPIFFE ID prefix");
    for (size_t i = 0; i < *n; i++) {
        const char *e = (*list)[i];
        bool prefix = strncmp(e, "spiffe://", 9) == 0;
        if (tds && prefix)
            return perr(x, v, path, "\"%.100s\" is not a trust domain (a name like x.example, no scheme or path); "
                        "SPIFFE ID prefixes go under id-prefixes", e);
        if (!tds && !prefix)
            return perr(x, v, path, "\"%.100s\" is not a SPIFFE ID prefix (spiffe://<trust-domain>/<path...>); "
                        "whole domains go under trust-domains", e);
        if (vmesh_pki_scope_entry_validate(e, strlen(e)) != VMESH_OK)
            return perr(x, v, path, "%s", vmesh_err_detail());
    }
    r->scoped = true;
out:
    return rc;
}

static const keydef scope_keys[] = {FN("trust-domains", scope_fn), FN("id-prefixes", scope_fn), END};

static vmesh_err scope_done(pctx *x, yaml_node_t *v, const char *path, void *base)
{
    const px_rvp *r = base;

    return r->nscope_tds + r->nscope_ids > 0
               ? VMESH_OK
               : perr(x, v, path, "a scope needs trust-domains or id-prefixes (at least one entry)");
}

static void rvp_release(void *elem)
{
    px_rvp *r = elem;

    for (size_t i = 0; r->scope_tds && i < r->nscope_tds; i++)
        free(r->scope_tds[i]);
    for (size_t i = 0; r->scope_ids && i < r->nscope_ids; i++)
        free(r->scope_ids[i]);
    free(r->scope_tds);
    free(r->scope_ids);
    r->scope_tds = r->scope_ids = NULL;
}

static const keydef rvp_keys[] = {STR("name", K_STR, px_rvp, name), STR("url", K_STR, px_rvp, url),
                                  STR("key", K_PATH, px_rvp, key),
                                  FN_STR("schemes", px_rvp, schemes, schemes_fn),
                                  FN_STR("classes", px_rvp, classes, classes_fn),
                                  SECTION("scope", scope_keys, scope_done), END};

static vmesh_err rvp_done(pctx *x, yaml_node_t *it, const char *path, void *elem)
{
    const px_rvp *r = elem;

    return r->url && r->key ? VMESH_OK : perr(x, it, path, "url and key are required");
}

static const listdef rvp_list = {
    "{name, url, key, schemes, classes, scope}",
    64,
    "RVPs",
    sizeof(px_rvp),
    FIELD(vmesh_proxy_config, nrvps),
    rvp_keys,
    NULL,
    rvp_done,
    rvp_release,
};

static const keydef bell_keys[] = {
    STR("url", K_STR, vmesh_proxy_config, bell_url),
    STR("file", K_PATH, vmesh_proxy_config, bell_file),
    STR("key", K_PATH, vmesh_proxy_config, bell_key),
    NUM("refresh", K_MS, vmesh_proxy_config, bell_refresh_ms, 0, 3600 * 1000), END};

static vmesh_err bell_done(pctx *x, yaml_node_t *v, const char *path, void *base)
{
    const vmesh_proxy_config *c = base;

    if ((c->bell_url == NULL) == (c->bell_file == NULL) || c->bell_key == NULL)
        return perr(x, v, path, "needs key and exactly one of url or file");
    return VMESH_OK;
}

/* A verifier URL: https://, or http:// only with the explicit opt-in (D23). */
static vmesh_err verifier_url_check(pctx *x, yaml_node_t *v, const char *path, const char *url, bool plain_ok)
{
    if (strncmp(url, "https://", 8) == 0)
        return VMESH_OK;
    if (strncmp(url, "http://", 7) == 0) {
        if (plain_ok)
            return VMESH_OK;
        return perr(x, v, path,
                    "\"%s\" is plain http://: anyone on the path reads the evidence and can answer for the "
                    "verifier; use https:// or opt in with insecure-plain-http: true", url);
    }
    return perr(x, v, path, "\"%s\" is not an https:// URL", url);
}

static vmesh_err plain_http_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    (void)k, (void)kn, (void)a;
    return get_bool(x, v, path, strstr(path, "passport") ? &x->c->passport_plain_http : &x->c->central_plain_http);
}

/* verifier.{central,passport}.attested (D39): the verifier's platform is
 * attested before evidence goes to it, under verifier-rv when given, else
 * under the proxy's own snapshot from its RVPs (or rv-files). */
static vmesh_err attested_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    (void)k, (void)kn, (void)a;
    return get_bool(x, v, path, strstr(path, "passport") ? &x->c->passport_attested : &x->c->central_attested);
}

/* verifier.central.batch (D53): appraisals waiting at the same time go in
 * one request (default); false: one request each. */
static vmesh_err batch_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path, void *a)
{
    bool on = true;
    vmesh_err rc;

    (void)k, (void)kn, (void)a;
    rc = get_bool(x, v, path, &on);
    x->c->central_no_batch = !on;
    return rc;
}

/* verifier.central.signed-answers (D51): every central EAR signed, never
 * authenticated by the attested TLS session alone. */
static vmesh_err signed_answers_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v, const char *path,
                                   void *a)
{
    (void)k, (void)kn, (void)a;
    return get_bool(x, v, path, &x->c->central_signed_answers);
}

static const keydef passport_keys[] = {
    FN("insecure-plain-http", plain_http_fn),
    FN("attested", attested_fn),
    STR("local-key", K_PATH, vmesh_proxy_config, passport_local_key),
    STR("central", K_STR, vmesh_proxy_config, passport_central),
    STR("verifier-rv", K_PATH, vmesh_proxy_config, passport_verifier_rv),
    STR("tls-pin", K_STR, vmesh_proxy_config, passport_tls_pin),
    NUM("attest-recheck", K_SECONDS, vmesh_proxy_config, passport_attest_recheck, 1000, 24 * 3600 * 1000), END};

/* tls-pin: libcurl's form, "sha256//" and the base64 SHA-256 of the SPKI. */
static vmesh_err tls_pin_check(pctx *x, yaml_node_t *v, const char *path, const char *pin)
{
    if (pin == NULL || (strncmp(pin, "sha256//", 8) == 0 && strlen(pin) == 8 + 44 && pin[8 + 43] == '='))
        return VMESH_OK;
    return perr(x, v, path, "tls-pin \"%.80s\" is not sha256//<base64 of the SHA-256 of the verifier's TLS public key> "
                            "(openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64)", pin);
}

static vmesh_err passport_done(pctx *x, yaml_node_t *v, const char *path, void *base)
{
    const vmesh_proxy_config *c = base;

    if ((c->passport_local_key == NULL) == (c->passport_central == NULL))
        return perr(x, v, path, "needs exactly one of local-key or central");
    if ((c->passport_verifier_rv != NULL || c->passport_tls_pin != NULL || c->passport_attested) &&
        c->passport_central == NULL)
        return perr(x, v, path, "attested, verifier-rv and tls-pin are about a central passport issuer (central: URL)");
    if (tls_pin_check(x, v, path, c->passport_tls_pin) != VMESH_OK)
        return VMESH_ERR_PARSE;
    if (c->passport_central != NULL)
        return verifier_url_check(x, v, path, c->passport_central, c->passport_plain_http);
    return VMESH_OK;
}

static const keydef central_keys[] = {
    STR("url", K_STR, vmesh_proxy_config, central_url),
    NUM("replicas", K_STRS, vmesh_proxy_config, central_replicas, FIELD(vmesh_proxy_config, n_central_replicas), 0),
    STR("key", K_PATH, vmesh_proxy_config, central_key),
    STR("issuer", K_STR, vmesh_proxy_config, central_issuer),
    FN("insecure-plain-http", plain_http_fn),
    NUM("cache", K_SECONDS, vmesh_proxy_config, central_cache, 1000, 24 * 3600 * 1000),
    NUM("verdict-grace", K_SECONDS, vmesh_proxy_config, central_verdict_grace, 1000, 24 * 3600 * 1000),
    NUM("behind-wait", K_MS, vmesh_proxy_config, central_behind_wait_ms, 0, 60 * 1000),
    FN("attested", attested_fn),
    STR("verifier-rv", K_PATH, vmesh_proxy_config, central_verifier_rv),
    STR("tls-pin", K_STR, vmesh_proxy_config, central_tls_pin),
    FN("signed-answers", signed_answers_fn),
    FN("batch", batch_fn),
    NUM("attest-recheck", K_SECONDS, vmesh_proxy_config, central_attest_recheck, 1000, 24 * 3600 * 1000), END};

static vmesh_err central_done(pctx *x, yaml_node_t *v, const char *path, void *base)
{
    const vmesh_proxy_config *c = base;
    vmesh_err rc = VMESH_OK;

    if (c->central_url == NULL || c->central_key == NULL)
        return perr(x, v, path, "needs url and key (the central verifier's EAR public key)");
    if (tls_pin_check(x, v, path, c->central_tls_pin) != VMESH_OK)
        return VMESH_ERR_PARSE;
    /* With attestation each URL is attested on its own (D45); a URL twice
     * would be one verifier counted as two. */
    if (c->n_central_replicas > 63)
        return perr(x, v, path, "%zu replicas: at most 63", c->n_central_replicas);
    for (size_t i = 0; i < c->n_central_replicas; i++) {
        VMESH_GUARD(verifier_url_check(x, v, path, c->central_replicas[i], c->central_plain_http));
        if (strcmp(c->central_replicas[i], c->central_url) == 0)
            return perr(x, v, path, "replica \"%.200s\" is the url itself", c->central_replicas[i]);
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->central_replicas[i], c->central_replicas[j]) == 0)
                return perr(x, v, path, "replica \"%.200s\" is listed twice", c->central_replicas[i]);
    }
    return verifier_url_check(x, v, path, c->central_url, c->central_plain_http);
out:
    return rc;
}

static const keydef issuer_keys[] = {
    STR("url", K_STR, px_issuer, url), STR("key", K_PATH, px_issuer, key),
    STR("verifier-rv", K_PATH, px_issuer, verifier_rv), STR("tls-pin", K_STR, px_issuer, tls_pin),
    NUM("attest-recheck", K_SECONDS, px_issuer, attest_recheck, 1000, 24 * 3600 * 1000), END};

static vmesh_err issuer_done(pctx *x, yaml_node_t *it, const char *path, void *elem)
{
    const px_issuer *r = elem;
    vmesh_err rc;

    /* without verifier-rv its platform is judged by the proxy's own
     * reference values: the snapshot from verifier.rvps (or rv-files), D37 */
    if (r->url == NULL || r->key == NULL)
        return perr(x, it, path, "url and key (its EAR public key) are required");
    if ((rc = tls_pin_check(x, it, path, r->tls_pin)) != VMESH_OK)
        return rc;
    return verifier_url_check(x, it, path, r->url, false);
}

static const listdef issuer_list = {
    "{url, key, verifier-rv, tls-pin, attest-recheck}",
    16,
    "attested passport issuers",
    sizeof(px_issuer),
    FIELD(vmesh_proxy_config, nissuers),
    issuer_keys,
    NULL,
    issuer_done,
    NULL,
};

static const keydef verifier_keys[] = {
    LIST("passport-issuers", vmesh_proxy_config, issuers, &issuer_list),
    STR("issuers-from", K_STR, vmesh_proxy_config, issuers_from),
    NUM("rv-files", K_PATHS, vmesh_proxy_config, rv_files, FIELD(vmesh_proxy_config, nrv), 0),
    LIST("rvps", vmesh_proxy_config, rvps, &rvp_list),
    NUM("poll-interval", K_MS, vmesh_proxy_config, poll_interval_ms, 1000, 24 * 3600 * 1000),
    STR("state-dir", K_PATH, vmesh_proxy_config, state_dir),
    SECTION("bell", bell_keys, bell_done),
    NUM("trusted-verifiers", K_PATHS, vmesh_proxy_config, trusted_verifiers,
        FIELD(vmesh_proxy_config, ntv), 0),
    SECTION("passport", passport_keys, passport_done),
    SECTION("central", central_keys, central_done),
    NUM("ar-cache-slots", K_SIZE, vmesh_proxy_config, ar_cache_slots, 1, 16777216),
    END};

/* ---- policy ------------------------------------------------------------------------- */

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
        for (yaml_node_item_t *i = n->data.sequence.items.start;
             j && i < n->data.sequence.items.top; i++) {
            json_t *e = to_json(x, node(x, *i), depth + 1);
            if (e == NULL || json_array_append_new(j, e) != 0) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    case YAML_MAPPING_NODE:
        j = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; j && p < n->data.mapping.pairs.top;
             p++) {
            const char *k = scalar(node(x, p->key));
            json_t *e = k ? to_json(x, node(x, p->value), depth + 1) : NULL;
            if (e == NULL || json_object_set_new(j, k, e) != 0) {
                json_decref(j);
                return NULL;
            }
        }
        return j;
    default:
        return NULL;
    }
}

/* A rule's policy fields: they replace the document's in the rule's copy. */
static vmesh_err override_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                             const char *path, void *a)
{
    px_rule *r = a;
    vmesh_err rc = VMESH_OK;
    json_t *j = NULL;
    char *s = NULL;
    uint64_t ms;
    unsigned m;
    bool b;

    (void)kn;
    if (strcmp(k, "modes") == 0) {
        j = json_array();
        VMESH_GUARD(get_modes(x, v, path, &m, &j));
    } else if (strcmp(k, "min-tiers") == 0) {
        if (v->type != YAML_MAPPING_NODE)
            return perr(x, v, path, "must be a mapping of claim name to tier");
        j = to_json(x, v, 0);
        if (j == NULL)
            return perr(x, v, path, "cannot be converted");
    } else if (strcmp(k, "pattern") == 0) {
        /* What this peer must show (docs/FEDERATION.md "Per-peer patterns"):
         * identity-only admits it on its SVID alone (a lower tier, shown as
         * such); the attested patterns require attestation in these modes. */
        static const struct {
            const char *name, *modes[2];
        } pats[] = {{"identity-only", {NULL, NULL}},
                    {"attested", {NULL, NULL}},
                    {"background-check", {"epoch-fresh", "fresh"}},
                    {"passport", {"passport", NULL}},
                    {"fresh", {"fresh", NULL}}};
        size_t i;

        VMESH_GUARD(get_str(x, v, path, &s));
        for (i = 0; i < sizeof(pats) / sizeof(pats[0]); i++)
            if (strcmp(s, pats[i].name) == 0)
                break;
        if (i == sizeof(pats) / sizeof(pats[0])) {
            rc = perr(x, v, path,
                      "\"%s\" is not a pattern (identity-only, attested, background-check, "
                      "passport, fresh)",
                      s);
            goto out;
        }
        if (json_object_get(r->overrides, "allow-unattested") != NULL ||
            (pats[i].modes[0] && json_object_get(r->overrides, "modes") != NULL)) {
            rc = perr(x, v, path, "pattern sets allow-unattested (and modes): do not set them too");
            goto out;
        }
        json_object_set_new(r->overrides, "allow-unattested", json_boolean(i == 0));
        if (pats[i].modes[0]) {
            json_t *ml = json_array();
            for (size_t mi = 0; mi < 2 && pats[i].modes[mi]; mi++)
                json_array_append_new(ml, json_string(pats[i].modes[mi]));
            json_object_set_new(r->overrides, "modes", ml);
        }
        goto out;
    } else if (strcmp(k, "min-status") == 0) {
        VMESH_GUARD(get_str(x, v, path, &s));
        j = json_string(s);
    } else if (strcmp(k, "max-evidence-age") == 0) {
        VMESH_GUARD(get_duration(x, v, path, 365ULL * 24 * 3600 * 1000, &ms));
        j = json_integer((json_int_t)(ms < 1000 ? 1 : ms / 1000));
    } else {
        VMESH_GUARD(get_bool(x, v, path, &b)); /* allow-unattested */
        j = json_boolean(b);
    }
    json_object_set_new(r->overrides, k, j);
    j = NULL;
out:
    json_decref(j);
    free(s);
    return rc;
}

static const keydef rule_keys[] = {STR("peer", K_PATTERN, px_rule, peer),
                                   FN("modes", override_fn),
                                   FN("min-tiers", override_fn),
                                   FN("min-status", override_fn),
                                   FN("max-evidence-age", override_fn),
                                   FN("allow-unattested", override_fn),
                                   FN("pattern", override_fn),
                                   NUM("trusted-verifiers", K_PATHS, px_rule, tv, FIELD(px_rule, ntv), 0),
                                   END};

static vmesh_err rule_init(void *elem)
{
    px_rule *r = elem;

    r->overrides = json_object();
    return r->overrides ? VMESH_OK : vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
}

static vmesh_err rule_done(pctx *x, yaml_node_t *it, const char *path, void *elem)
{
    const px_rule *r = elem;

    return r->peer ? VMESH_OK : perr(x, it, path, "peer (a SPIFFE ID or pattern) is required");
}

static void rule_release(void *elem)
{
    json_decref(((px_rule *)elem)->overrides);
}

static const listdef rule_list = {
    "rules",
    VMESH_AGENT_MAX_RULES,
    "rules",
    sizeof(px_rule),
    FIELD(vmesh_proxy_config, nrules),
    rule_keys,
    rule_init,
    rule_done,
    rule_release,
};

/* policy.file and policy.inline: the base policy document. */
static vmesh_err document_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                             const char *path, void *a)
{
    vmesh_proxy_config *c = x->c;
    vmesh_err rc = VMESH_OK;
    json_error_t jerr;
    vmesh_buf b = {0};

    (void)a;
    if (c->policy_doc != NULL)
        return perr(x, kn, path, "policy.file and policy.inline are exclusive");
    if (strcmp(k, "file") == 0) {
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
out:
    return rc;
}

static const keydef policy_keys[] = {FN("file", document_fn), FN("inline", document_fn),
                                     LIST("rules", vmesh_proxy_config, rules, &rule_list), END};

/* ---- listeners ---------------------------------------------------------------------- */

static vmesh_err upstreams_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                              const char *path, void *a)
{
    px_outbound *l = a;
    vmesh_err rc = VMESH_OK;
    char sub[256];
    size_t len;

    (void)k, (void)kn;
    if (v->type != YAML_SEQUENCE_NODE)
        return perr(x, v, path, "must be a list of HOST:PORT");
    len = (size_t)(v->data.sequence.items.top - v->data.sequence.items.start);
    if (len == 0 || len > PX_MAX_UPSTREAMS)
        return perr(x, v, path, "must list 1..%d upstreams", PX_MAX_UPSTREAMS);
    for (size_t i = 0; i < len; i++) {
        snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
        l->nup++; /* counted first: freed with the config even when invalid */
        VMESH_GUARD(
            get_addr(x, node(x, v->data.sequence.items.start[i]), sub, 0, &l->upstreams[i]));
    }
out:
    return rc;
}

/* min-pattern: what a peer must have shown to use this route. */
static vmesh_err min_pattern_fn(pctx *x, yaml_node_t *v, const char *path, char **f)
{
    char *s = NULL;
    vmesh_err rc;

    rc = get_str(x, v, path, &s);
    if (rc != VMESH_OK)
        return rc;
    if (strcmp(s, "attested") != 0 && strcmp(s, "identity-only") != 0) {
        free(s);
        return perr(x, v, path, "must be attested or identity-only");
    }
    free(*f);
    *f = s;
    return VMESH_OK;
}

static vmesh_err in_min_pattern_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                                   const char *path, void *a)
{
    (void)k, (void)kn;
    return min_pattern_fn(x, v, path, &((px_inbound *)a)->min_pattern);
}

static vmesh_err out_min_pattern_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                                    const char *path, void *a)
{
    (void)k, (void)kn;
    return min_pattern_fn(x, v, path, &((px_outbound *)a)->min_pattern);
}

/* inbound[].evidence: when our attestation leaves (issue 13.4). */
static vmesh_err evidence_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                             const char *path, void *a)
{
    px_inbound *l = a;
    const char *val = v->type == YAML_SCALAR_NODE ? (const char *)v->data.scalar.value : "";

    (void)k, (void)kn;
    if (strcmp(val, "after-client-auth") == 0)
        l->evidence_after_auth = true;
    else if (strcmp(val, "at-hello") == 0)
        l->evidence_after_auth = false;
    else
        return perr(x, v, path, "must be after-client-auth or at-hello");
    return VMESH_OK;
}

/* inbound[].fresh-hello-rate / fresh-hello-burst: fresh evidence made at
 * 0.5-RTT for clients not yet authenticated (issue 13.4). The rate is a
 * decimal number a second ("0.1": one every ten seconds). */
static vmesh_err fresh_hello_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                                const char *path, void *a)
{
    px_inbound *l = a;
    uint64_t n = 0;
    vmesh_err rc;

    (void)kn;
    if (strcmp(k, "fresh-hello-rate") == 0) {
        const char *s = scalar(v);
        char *end = NULL;
        double r = 0;

        if (s != NULL && s[0] >= '0' && s[0] <= '9' && s[strspn(s, "0123456789.")] == '\0') {
            errno = 0;
            r = strtod(s, &end);
        }
        if (s == NULL || end == NULL || end == s || *end || errno || !(r >= 0 && r <= PX_FRESH_HELLO_MAX))
            return perr(x, v, path, "\"%s\" is not a number in 0..%u (connections a second, e.g. 10 or 0.1)",
                        s ? s : "(not a scalar)", PX_FRESH_HELLO_MAX);
        l->fresh_hello_rate = r;
        l->fresh_hello_rate_set = true;
        return VMESH_OK;
    }
    rc = get_uint(x, v, path, 1, PX_FRESH_HELLO_MAX, &n);
    if (rc == VMESH_OK)
        l->fresh_hello_burst = (uint32_t)n;
    return rc;
}

static const keydef inbound_keys[] = {
    STR("name", K_STR, px_inbound, name), STR("listen", K_LISTEN, px_inbound, listen),
    STR("app", K_ADDR, px_inbound, app), STR("peer", K_PATTERN, px_inbound, peer),
    FN_STR("min-pattern", px_inbound, min_pattern, in_min_pattern_fn), FN("evidence", evidence_fn),
    FN("fresh-hello-rate", fresh_hello_fn), FN("fresh-hello-burst", fresh_hello_fn), END};

/* outbound[].resumption: keep the upstream's session ticket (default) or
 * make every connection a full handshake. */
static vmesh_err resumption_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                               const char *path, void *a)
{
    bool on = true;
    vmesh_err rc;

    (void)k, (void)kn;
    rc = get_bool(x, v, path, &on);
    if (rc == VMESH_OK)
        ((px_outbound *)a)->no_resumption = !on;
    return rc;
}

static const keydef outbound_keys[] = {
    STR("name", K_STR, px_outbound, name), STR("listen", K_LISTEN, px_outbound, listen),
    STR("peer", K_PATTERN, px_outbound, peer), FN("upstreams", upstreams_fn),
    FN_STR("min-pattern", px_outbound, min_pattern, out_min_pattern_fn),
    FN("resumption", resumption_fn), END};

/* A listener without a name is called by its address. */
static vmesh_err name_listener(char **name, const char *listen)
{
    if (*name == NULL && (*name = strdup(listen)) == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    return VMESH_OK;
}

static vmesh_err inbound_done(pctx *x, yaml_node_t *it, const char *path, void *elem)
{
    px_inbound *l = elem;

    if (!l->listen || !l->app)
        return perr(x, it, path, "listen and app are required");
    if (!l->fresh_hello_rate_set)
        l->fresh_hello_rate = PX_FRESH_HELLO_RATE;
    if (l->fresh_hello_burst == 0)
        l->fresh_hello_burst = l->fresh_hello_rate >= 1 ? (uint32_t)(2 * l->fresh_hello_rate + 0.5) : 1;
    return name_listener(&l->name, l->listen);
}

static vmesh_err outbound_done(pctx *x, yaml_node_t *it, const char *path, void *elem)
{
    px_outbound *l = elem;

    if (!l->listen || l->nup == 0 || !l->peer)
        return perr(x, it, path, "listen, upstreams and peer are required");
    return name_listener(&l->name, l->listen);
}

static void outbound_release(void *elem)
{
    px_outbound *l = elem;

    for (size_t j = 0; j < l->nup; j++)
        free(l->upstreams[j]);
}

static const listdef inbound_list = {
    "listeners",
    PX_MAX_LISTENERS,
    "listeners",
    sizeof(px_inbound),
    FIELD(vmesh_proxy_config, nin),
    inbound_keys,
    NULL,
    inbound_done,
    NULL,
};
static const listdef outbound_list = {
    "listeners",
    PX_MAX_LISTENERS,
    "listeners",
    sizeof(px_outbound),
    FIELD(vmesh_proxy_config, nout),
    outbound_keys,
    NULL,
    outbound_done,
    outbound_release,
};

/* ---- admin, limits, logs ------------------------------------------------------------- */

static const keydef admin_keys[] = {STR("listen", K_LISTEN, vmesh_proxy_config, admin_listen), END};

static const keydef limits_keys[] = {
    NUM("max-connections", K_U32, vmesh_proxy_config, max_connections, 1, 1000000),
    NUM("handshake-timeout", K_MS, vmesh_proxy_config, handshake_timeout_ms, 0, 600 * 1000),
    NUM("connect-timeout", K_MS, vmesh_proxy_config, connect_timeout_ms, 0, 600 * 1000),
    NUM("idle-timeout", K_MS, vmesh_proxy_config, idle_timeout_ms, 0, 7ULL * 24 * 3600 * 1000),
    NUM("drain-timeout", K_MS, vmesh_proxy_config, drain_timeout_ms, 0, 3600 * 1000),
    NUM("linger-timeout", K_MS, vmesh_proxy_config, linger_ms, 0, 60 * 1000),
    NUM("buffer-size", K_BYTES, vmesh_proxy_config, buffer_size, 1024, 16 * 1024 * 1024),
    NUM("workers", K_U32, vmesh_proxy_config, workers, 0, PX_MAX_WORKERS),
    NUM("handshake-threads", K_U32, vmesh_proxy_config, hs_threads, 0, 256),
    NUM("handshake-queue", K_U32, vmesh_proxy_config, hs_queue, 1, 1000000),
    NUM("chain-cache", K_U32, vmesh_proxy_config, chain_cache, 0, 1024 * 1024),
    END};

/* reattestation: in-band re-attestation of established connections
 * (docs/PROXY.md "Re-attestation"). The section offers it; every and
 * on-tick make us ask. */
static vmesh_err on_tick_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                            const char *path, void *a)
{
    (void)k, (void)kn, (void)a;
    return get_bool(x, v, path, &x->c->reattest_on_tick);
}

static const keydef reattest_keys[] = {
    NUM("every", K_MS, vmesh_proxy_config, reattest_every_ms, 100, 7ULL * 24 * 3600 * 1000),
    FN("on-tick", on_tick_fn),
    NUM("deadline", K_MS, vmesh_proxy_config, reattest_deadline_ms, 10, 600 * 1000),
    NUM("jitter", K_MS, vmesh_proxy_config, reattest_jitter_ms, 0, 24 * 3600 * 1000),
    END};

static vmesh_err reattest_done(pctx *x, yaml_node_t *v, const char *path, void *base)
{
    vmesh_proxy_config *c = base;

    (void)x, (void)v, (void)path;
    c->reattest = true;
    return VMESH_OK;
}

/* access-log.stdout / .stderr: true sends it there (instead of a file). */
static vmesh_err std_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                        const char *path, void *a)
{
    vmesh_err rc = VMESH_OK;
    int which = strcmp(k, "stdout") == 0 ? 1 : 2;
    bool b;

    (void)kn, (void)a;
    VMESH_GUARD(get_bool(x, v, path, &b));
    if (b && x->c->access_std != 0 && x->c->access_std != which)
        return perr(x, v, path, "one sink: file, stdout: true or stderr: true");
    if (b)
        x->c->access_std = which;
    else if (x->c->access_std == which) {
        x->c->access_std = 0;
    }
out:
    return rc;
}

static const keydef access_keys[] = {STR("file", K_PATH, vmesh_proxy_config, access_log),
                                     FN("stdout", std_fn), FN("stderr", std_fn), END};

/* access-log: the section replaces the default (stdout): {} turns it off. */
static vmesh_err access_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                           const char *path, void *a)
{
    vmesh_err rc;
    vmesh_proxy_config *c = x->c;

    (void)k, (void)kn, (void)a;
    free(c->access_log);
    c->access_log = NULL;
    c->access_std = 0;
    rc = read_section(x, v, path, access_keys, c);
    if (rc == VMESH_OK && c->access_log != NULL && c->access_std != 0)
        return perr(x, v, path, "one sink: file, stdout: true or stderr: true");
    return rc;
}

static vmesh_err log_level_fn(pctx *x, const char *k, yaml_node_t *kn, yaml_node_t *v,
                              const char *path, void *a)
{
    static const char *const names[] = {"error", "warn", "info", "debug"};
    const char *s = scalar(v);

    (void)k, (void)kn, (void)a;
    for (int i = 0; s && i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            x->c->log_level = i;
            return VMESH_OK;
        }
    return perr(x, v, path, "\"%s\" is not a log level (error, warn, info, debug)", s ? s : "");
}

/* The whole document. access-log's file is freed by hand (the section is
 * read by access_fn, not by this table). */
static const keydef top_keys[] = {SECTION("identity", identity_keys, NULL),
                                  SECTION("attester", attester_keys, NULL),
                                  SECTION("verifier", verifier_keys, NULL),
                                  SECTION("policy", policy_keys, NULL),
                                  LIST("inbound", vmesh_proxy_config, in, &inbound_list),
                                  LIST("outbound", vmesh_proxy_config, out, &outbound_list),
                                  SECTION("admin", admin_keys, NULL),
                                  SECTION("limits", limits_keys, NULL),
                                  SECTION("reattestation", reattest_keys, reattest_done),
                                  FN("access-log", access_fn),
                                  FN("log-level", log_level_fn),
                                  END};

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
    if (c->keybound && c->platform == NULL)
        return perr(x, root, "attester.keybound", "key-bound attestation needs attester.platform");
    if (c->keybound && !c->kb_issuer)
        return perr(x, root, "attester.keybound",
                    "a key-bound AK needs a certificate issued for it in memory: configure "
                    "identity.keybound-issuer (vmesh ca serve); SVID files never hold a key-bound key (D38)");
    if (c->kb_issuer && !c->keybound)
        return perr(x, root, "identity.keybound-issuer",
                    "the issuer certifies a key-bound AK: set attester.keybound: true");
    if (c->issuers_from != NULL && strcmp(c->issuers_from, "config") != 0 && strcmp(c->issuers_from, "bundle") != 0)
        return perr(x, root, "verifier.issuers-from", "must be config (passport-issuers only, the default) or bundle "
                    "(also the verifiers of the synced bundles' verifier trust sets), not \"%.40s\"", c->issuers_from);
    c->issuers_bundle = c->issuers_from != NULL && strcmp(c->issuers_from, "bundle") == 0;
    if (c->issuers_bundle && c->nrvps == 0)
        return perr(x, root, "verifier.issuers-from",
                    "bundle takes the accepted EAR keys from the RVPs' bundles: configure verifier.rvps");
    for (size_t i = 0; i < c->nissuers; i++)
        if (c->issuers[i].verifier_rv == NULL && c->nrvps == 0 && c->nrv == 0)
            return perr(x, root, "verifier.passport-issuers",
                        "an issuer without verifier-rv is judged by the proxy's own reference values: "
                        "configure verifier.rvps (or rv-files), or give it verifier-rv");
    if (c->central_url != NULL && c->central_attested && c->central_verifier_rv == NULL && c->nrvps == 0 &&
        c->nrv == 0)
        return perr(x, root, "verifier.central",
                    "attested without verifier-rv judges the verifier by the proxy's own reference values: "
                    "configure verifier.rvps (or rv-files), or give it verifier-rv");
    if (c->passport_central != NULL && c->passport_attested && c->passport_verifier_rv == NULL && c->nrvps == 0 &&
        c->nrv == 0)
        return perr(x, root, "verifier.passport",
                    "attested without verifier-rv judges the verifier by the proxy's own reference values: "
                    "configure verifier.rvps (or rv-files), or give it verifier-rv");
    for (size_t i = 0; i < c->nrvps; i++) {
        if (!c->rvps[i].scoped)
            continue;
        /* Scopes choose among the RVPs' own reference values, which only the
         * local verifier appraises with. */
        if (c->nrv > 0)
            return perr(x, root, "verifier.rv-files",
                        "cannot be combined with scoped RVPs (verifier.rvps[%zu].scope): local files have no "
                        "scope; publish them through an RVP with its own scope",
                        i);
        if (c->central_url != NULL)
            return perr(x, root, "verifier.central",
                        "cannot be combined with scoped RVPs (verifier.rvps[%zu].scope): the central verifier "
                        "appraises with the reference values it syncs itself, which have no scope here",
                        i);
    }
    if (c->reattest_on_tick && c->bell_url == NULL && c->bell_file == NULL)
        return perr(x, root, "reattestation.on-tick",
                    "asks at each tick of the epoch bell: it needs verifier.bell");
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
    x.c->access_std = 1; /* stdout: apart from the operational log on stderr */
    VMESH_ENSURE(x.c->kv && x.c->source, VMESH_ERR_NOMEM, "out of memory");
    x.c->poll_interval_ms = 30000;
    x.c->bell_refresh_ms = 5000;
    x.c->central_behind_wait_ms = 3000;
    x.c->max_connections = 0; /* derived from RLIMIT_NOFILE at start */
    x.c->handshake_timeout_ms = 10000;
    x.c->connect_timeout_ms = 5000;
    x.c->idle_timeout_ms = 300000;
    x.c->drain_timeout_ms = 30000;
    x.c->linger_ms = 1000;
    x.c->buffer_size = 65536;
    x.c->ar_cache_slots = 4096;
    x.c->chain_cache = 1024;
    x.c->reattest_jitter_ms = 10000;
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
    VMESH_GUARD(read_section(&x, root, "", top_keys, x.c));
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

void vmesh_proxy_config_free(vmesh_proxy_config *c)
{
    if (c == NULL)
        return;
    free_keys(top_keys, c);
    for (size_t i = 0; i < c->nkv; i++) {
        free((char *)c->kv[i].key);
        free((char *)c->kv[i].value);
    }
    free(c->kv);
    json_decref(c->policy_doc);
    free(c->policy_source);
    free(c->access_log);
    free(c->source);
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
