/*
 * The one media-type rule of vmesh (RFC 9110 §8.3.1). Evidence, EARs and
 * HTTP bodies are named by media types that peers and clients spell in
 * many ways (case, spacing, quoting, parameter order); every module that
 * compares them (atls, the agent, the scheme registry, the verifier
 * service, the schemes themselves) goes through the canonical form made
 * here. It must never read past its input or write past its output, never
 * accept a media type with a duplicated parameter (two readers could pick
 * different values) and never match on a prefix: an unknown parameter makes
 * another media type.
 */
#include "vmesh/evidence.h"

#include <string.h>

#define PARAMS_MAX 16
_Static_assert(PARAMS_MAX == 16, "the error message names the cap");

/* RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
 * "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA */
static bool is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* RFC 9110 §5.6.3: OWS = *( SP / HTAB ) */
static const char *skip_ows(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

static const char *skip_token(const char *p, const char *end)
{
    while (p < end && is_tchar((unsigned char)*p))
        p++;
    return p;
}

typedef struct {
    size_t name, name_len; /* offsets into the scratch buffer */
    size_t val, val_len;
} param;

typedef struct {
    char s[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1]; /* lower-cased names and decoded values */
    size_t len;
    param p[PARAMS_MAX];
    size_t n;
} parsed;

/* The input at offset `at` and what is wrong there. */
typedef struct {
    size_t at;
    const char *what;
} problem;

/* The scratch holds at most what the input held (names and values only
 * shrink when decoded), so the check never fires on input within the cap. */
static void put(parsed *x, char c)
{
    if (x->len < sizeof(x->s) - 1)
        x->s[x->len++] = c;
}

static int name_cmp(const parsed *x, const param *a, const param *b)
{
    size_t n = a->name_len < b->name_len ? a->name_len : b->name_len;
    int c = memcmp(x->s + a->name, x->s + b->name, n);

    return c != 0 ? c : (a->name_len > b->name_len) - (a->name_len < b->name_len);
}

/* RFC 9110 §8.3.1: media-type = type "/" subtype parameters, where
 * parameters = *( OWS ";" OWS [ parameter ] ) and a parameter value is a
 * token or a quoted-string (§5.6.4: quoted-string = DQUOTE *( qdtext /
 * quoted-pair ) DQUOTE). Whitespace is allowed only around ";" (and at
 * either end of the field value, which an HTTP parser would have trimmed). */
static bool parse(const char *mt, parsed *x, problem *pb)
{
    size_t n = strnlen(mt, VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1);
    const char *p = mt, *end = mt + n, *q;

    x->len = 0;
    x->n = 0;
    pb->at = 0;
    if (n > VMESH_EVIDENCE_MEDIA_TYPE_MAX) {
        pb->at = VMESH_EVIDENCE_MEDIA_TYPE_MAX;
        pb->what = "too long";
        return false;
    }
    p = skip_ows(p, end);
    /* "The type and subtype tokens are case-insensitive." The lower-cased
     * type/subtype goes first into the scratch buffer. */
    q = skip_token(p, end);
    if (q == p || q == end || *q != '/') {
        pb->at = (size_t)(q - mt);
        pb->what = q == p ? "expected a type (a token)" : "expected '/' after the type";
        return false;
    }
    q = skip_token(q + 1, end);
    if (q[-1] == '/') {
        pb->at = (size_t)(q - mt);
        pb->what = "expected a subtype (a token)";
        return false;
    }
    for (; p < q; p++)
        put(x, lower(*p));
    for (;;) {
        param *pr;
        p = skip_ows(p, end);
        if (p == end)
            break;
        if (*p != ';') {
            pb->at = (size_t)(p - mt);
            pb->what = "expected ';' before a parameter";
            return false;
        }
        p = skip_ows(p + 1, end);
        if (p == end || *p == ';')
            continue; /* an empty parameter: ";;" or a trailing ";" */
        if (x->n == PARAMS_MAX) {
            pb->at = (size_t)(p - mt);
            pb->what = "more than 16 parameters";
            return false;
        }
        pr = &x->p[x->n];
        q = skip_token(p, end);
        if (q == p) {
            pb->at = (size_t)(p - mt);
            pb->what = "expected a parameter name (a token)";
            return false;
        }
        if (q == end || *q != '=') {
            pb->at = (size_t)(q - mt);
            pb->what = "expected '=' right after the parameter name";
            return false;
        }
        /* RFC 9110 §5.6.6: "Parameter names are case-insensitive." */
        pr->name = x->len;
        for (; p < q; p++)
            put(x, lower(*p));
        pr->name_len = x->len - pr->name;
        p = q + 1;
        pr->val = x->len;
        if (p < end && *p == '"') {
            for (p++; p < end && *p != '"'; p++) {
                /* quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ) */
                if (*p == '\\' && p + 1 < end)
                    p++;
                if ((unsigned char)*p >= 0x7f || ((unsigned char)*p < 0x20 && *p != '\t')) {
                    pb->at = (size_t)(p - mt);
                    pb->what = "a control or non-ASCII byte in a quoted parameter value";
                    return false;
                }
                put(x, *p);
            }
            if (p == end) {
                pb->at = n;
                pb->what = "a quoted parameter value does not end";
                return false;
            }
            p++;
        } else {
            q = skip_token(p, end);
            if (q == p) {
                pb->at = (size_t)(p - mt);
                pb->what = "expected a parameter value (a token or a quoted string)";
                return false;
            }
            /* "Parameter values might or might not be case-sensitive": kept as they are. */
            for (; p < q; p++)
                put(x, *p);
        }
        pr->val_len = x->len - pr->val;
        for (size_t i = 0; i < x->n; i++) {
            if (name_cmp(x, &x->p[i], pr) == 0) {
                pb->at = (size_t)(q - mt);
                pb->what = "a parameter appears twice";
                return false;
            }
        }
        x->n++;
    }
    return true;
}

/* Writes the canonical form: type/subtype, then ";name=value" in order of
 * name, a value as a token when it is one (§5.6.4: "the quoted and unquoted
 * values are equivalent") and else as a quoted-string. The form is never
 * longer than the input, so it fits out. */
static void emit(const parsed *x, size_t type_len, char *out)
{
    size_t o = 0, order[PARAMS_MAX];

    memcpy(out, x->s, type_len);
    o = type_len;
    for (size_t i = 0; i < x->n; i++) {
        size_t j = i;
        while (j > 0 && name_cmp(x, &x->p[order[j - 1]], &x->p[i]) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = i;
    }
    for (size_t i = 0; i < x->n; i++) {
        const param *pr = &x->p[order[i]];
        bool token = pr->val_len > 0;
        for (size_t k = 0; k < pr->val_len && token; k++)
            token = is_tchar((unsigned char)x->s[pr->val + k]);
        out[o++] = ';';
        memcpy(out + o, x->s + pr->name, pr->name_len);
        o += pr->name_len;
        out[o++] = '=';
        if (!token)
            out[o++] = '"';
        for (size_t k = 0; k < pr->val_len; k++) {
            char c = x->s[pr->val + k];
            if (!token && (c == '"' || c == '\\'))
                out[o++] = '\\';
            out[o++] = c;
        }
        if (!token)
            out[o++] = '"';
    }
    out[o] = '\0';
}

static bool canon(const char *mt, char out[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1], problem *pb)
{
    parsed x;
    size_t type_len;

    if (!parse(mt, &x, pb))
        return false;
    type_len = x.n > 0 ? x.p[0].name : x.len;
    emit(&x, type_len, out);
    return true;
}

vmesh_err vmesh_evidence_media_type_canon(const char *mt, char out[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1])
{
    problem pb;

    out[0] = '\0';
    if (mt == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "no media type given");
    if (strnlen(mt, VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1) > VMESH_EVIDENCE_MEDIA_TYPE_MAX)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "media type longer than %d bytes", VMESH_EVIDENCE_MEDIA_TYPE_MAX);
    if (!canon(mt, out, &pb))
        return vmesh_err_set(VMESH_ERR_PARSE, "malformed media type (RFC 9110 type/subtype;name=value): %s at byte %zu",
                             pb.what, pb.at);
    return VMESH_OK;
}

bool vmesh_evidence_media_type_eq(const char *a, const char *b)
{
    char ca[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1], cb[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1];
    problem pb;

    return a != NULL && b != NULL && canon(a, ca, &pb) && canon(b, cb, &pb) && strcmp(ca, cb) == 0;
}

int vmesh_evidence_media_type_find(const char *mt, const char *const *list)
{
    char want[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1], have[VMESH_EVIDENCE_MEDIA_TYPE_MAX + 1];
    problem pb;

    if (mt == NULL || list == NULL)
        return -1;
    /* The common case costs one strcmp per entry: peers send our spelling. */
    for (int i = 0; list[i] != NULL; i++)
        if (strcmp(mt, list[i]) == 0 && canon(list[i], have, &pb))
            return i;
    if (!canon(mt, want, &pb))
        return -1;
    for (int i = 0; list[i] != NULL; i++)
        if (canon(list[i], have, &pb) && strcmp(want, have) == 0)
            return i;
    return -1;
}
