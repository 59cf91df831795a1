/*
 * The evidence-scheme registry and media-type matching. Adding a platform
 * is one line in `schemes` below. Matching is on canonical media types so
 * that `application/eat+cwt; eat_profile="x"` and
 * `application/eat+cwt;eat_profile=x` name the same thing, and never on
 * prefixes: an unknown parameter must not select a scheme by accident.
 */
#include "vmesh/verifier.h"
#include "vmesh/psa.h"
#include "vmesh/snp.h"
#include "vmesh/tdx.h"
#include "vmesh/tsm.h"
#include "vmesh/cca.h"
#include "vmesh/tpm2.h"

#include <ctype.h>
#include <string.h>
#include <strings.h>

static const vmesh_evidence_scheme *const schemes[] = {
    &vmesh_scheme_psa,
    &vmesh_scheme_snp,
    &vmesh_scheme_tdx,
    &vmesh_scheme_tsm,
    &vmesh_scheme_cca,
    &vmesh_scheme_tpm2,
};

#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))
#define MT_MAX 512

const vmesh_evidence_scheme *const *vmesh_verifier_schemes(size_t *n)
{
    *n = NSCHEMES;
    return schemes;
}

const vmesh_evidence_scheme *vmesh_verifier_scheme_by_name(const char *name)
{
    for (size_t i = 0; i < NSCHEMES; i++)
        if (strcmp(schemes[i]->name, name) == 0)
            return schemes[i];
    return NULL;
}

static void skip_ws(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\t'))
        (*p)++;
}

/* RFC 9110 §8.3.1: media-type = type "/" subtype parameters; type, subtype
 * and parameter names are case-insensitive; a parameter value may be a
 * token or a quoted-string. */
vmesh_err vmesh_verifier_media_type_canon(const char *mt, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    const char *p = mt, *end = mt + strlen(mt);

    vmesh_buf_reset(out);
    VMESH_ENSURE(end - mt <= MT_MAX, VMESH_ERR_TOO_LARGE, "media type longer than %d bytes", MT_MAX);
    skip_ws(&p, end);
    while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
        VMESH_ENSURE(isprint((unsigned char)*p), VMESH_ERR_PARSE, "media type contains a control character");
        VMESH_GUARD(vmesh_buf_append_u8(out, (uint8_t)tolower((unsigned char)*p)));
        p++;
    }
    VMESH_ENSURE(out->len > 0 && memchr(out->data, '/', out->len) != NULL, VMESH_ERR_PARSE,
                 "\"%s\" is not a media type (expected type/subtype)", mt);
    for (;;) {
        skip_ws(&p, end);
        if (p == end)
            break;
        VMESH_ENSURE(*p == ';', VMESH_ERR_PARSE, "media type \"%s\": expected ';' before parameters", mt);
        p++;
        skip_ws(&p, end);
        if (p == end)
            break;
        VMESH_GUARD(vmesh_buf_append_u8(out, ';'));
        while (p < end && *p != '=' && *p != ';' && *p != ' ') {
            VMESH_GUARD(vmesh_buf_append_u8(out, (uint8_t)tolower((unsigned char)*p)));
            p++;
        }
        skip_ws(&p, end);
        VMESH_ENSURE(p < end && *p == '=', VMESH_ERR_PARSE, "media type \"%s\": parameter without a value", mt);
        p++;
        skip_ws(&p, end);
        VMESH_GUARD(vmesh_buf_append_u8(out, '='));
        if (p < end && *p == '"') {
            p++;
            while (p < end && *p != '"') {
                if (*p == '\\' && p + 1 < end)
                    p++;
                VMESH_GUARD(vmesh_buf_append_u8(out, (uint8_t)*p));
                p++;
            }
            VMESH_ENSURE(p < end, VMESH_ERR_PARSE, "media type \"%s\": unterminated quoted value", mt);
            p++;
        } else {
            while (p < end && *p != ';' && *p != ' ' && *p != '\t') {
                VMESH_GUARD(vmesh_buf_append_u8(out, (uint8_t)*p));
                p++;
            }
        }
    }
    rc = vmesh_buf_terminate(out);
out:
    return rc;
}

const vmesh_evidence_scheme *vmesh_verifier_scheme_by_media_type(const char *media_type)
{
    const vmesh_evidence_scheme *found = NULL;
    vmesh_buf want = {0}, have = {0};

    if (vmesh_verifier_media_type_canon(media_type, &want) != VMESH_OK)
        goto out;
    for (size_t i = 0; i < NSCHEMES && found == NULL; i++) {
        for (const char *const *m = schemes[i]->media_types; *m != NULL; m++) {
            if (vmesh_verifier_media_type_canon(*m, &have) != VMESH_OK)
                continue;
            if (have.len == want.len && memcmp(have.data, want.data, want.len) == 0) {
                found = schemes[i];
                break;
            }
        }
    }
out:
    vmesh_buf_free(&want);
    vmesh_buf_free(&have);
    return found;
}

const vmesh_evidence_scheme *vmesh_verifier_scheme_detect(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < NSCHEMES; i++)
        if (schemes[i]->detect != NULL && schemes[i]->detect(p, n))
            return schemes[i];
    return NULL;
}
