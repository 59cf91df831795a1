/*
 * Writing CoRIM, generic part: the CoMID and corim-map envelopes a
 * profile's writer fills with its triples, and the COSE_Sign1 envelope of a
 * signed CoRIM. Used by RVPs to publish and by tests to build inputs. It
 * writes deterministic CBOR (shortest heads, definite lengths, map keys in
 * ascending order) that the decoder of this module reads back unchanged.
 */
#include "vmesh/corim.h"

#include <string.h>

#include "vmesh/cose.h"

vmesh_err vmesh_corim_put_comid(vmesh_buf *out, const char *tag_id, unsigned triples_key, uint64_t ntriples,
                                const uint8_t *triples, size_t n)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf b = {0};

    /* concise-mid-tag = { 0: "en", 1: { 0: tag-id }, 4: { kind: [triples] } } */
    VMESH_GUARD(vmesh_cbor_put_map(&b, 3));
    VMESH_GUARD(vmesh_cbor_put_uint(&b, 0));
    VMESH_GUARD(vmesh_cbor_put_text(&b, "en"));
    VMESH_GUARD(vmesh_cbor_put_uint(&b, 1));
    VMESH_GUARD(vmesh_cbor_put_map(&b, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(&b, 0));
    VMESH_GUARD(vmesh_cbor_put_text(&b, tag_id));
    VMESH_GUARD(vmesh_cbor_put_uint(&b, 4));
    VMESH_GUARD(vmesh_cbor_put_map(&b, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(&b, triples_key));
    VMESH_GUARD(vmesh_cbor_put_array(&b, ntriples));
    VMESH_GUARD(vmesh_buf_append(&b, triples, n));
    /* tagged-concise-mid-tag = #6.506(bytes .cbor concise-mid-tag) */
    VMESH_GUARD(vmesh_cbor_put_tag(out, VMESH_CORIM_COMID_TAG));
    VMESH_GUARD(vmesh_cbor_put_bstr(out, b.data, b.len));
out:
    vmesh_buf_free(&b);
    return rc;
}

vmesh_err vmesh_corim_put_unsigned(vmesh_buf *out, const char *id, const char *profile, uint64_t ntags,
                                   const uint8_t *tags, size_t n)
{
    vmesh_err rc = VMESH_OK;

    /* tagged-unsigned-corim-map = #6.501({ 0: id, 1: [tags], 3: 32(profile) }) */
    VMESH_GUARD(vmesh_cbor_put_tag(out, VMESH_CORIM_TAG));
    VMESH_GUARD(vmesh_cbor_put_map(out, 3));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 0));
    VMESH_GUARD(vmesh_cbor_put_text(out, id));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 1));
    VMESH_GUARD(vmesh_cbor_put_array(out, ntags));
    VMESH_GUARD(vmesh_buf_append(out, tags, n));
    VMESH_GUARD(vmesh_cbor_put_uint(out, 3));
    VMESH_GUARD(vmesh_cbor_put_tag(out, 32));
    VMESH_GUARD(vmesh_cbor_put_text(out, profile));
out:
    return rc;
}

vmesh_err vmesh_corim_sign(const uint8_t *corim, size_t n, const vmesh_key *key,
                           const char *signer_name, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf meta = {0}, extra = {0};
    vmesh_cose_sign1_opts opts;

    VMESH_ENSURE(corim != NULL && key != NULL && out != NULL && signer_name != NULL &&
                     signer_name[0] != '\0',
                 VMESH_ERR_ARG, "vmesh_corim_sign: missing CoRIM, key, signer name or output");
    VMESH_ENSURE(vmesh_cbor_starts_with(corim, n, VMESH_CBOR_TAG, VMESH_CORIM_TAG, NULL), VMESH_ERR_ARG,
                 "vmesh_corim_sign: the input must be an unsigned CoRIM (tag 501)");
    /* corim-meta-map = { 0: corim-signer-map { 0: signer-name } } */
    VMESH_GUARD(vmesh_cbor_put_map(&meta, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(&meta, 0));
    VMESH_GUARD(vmesh_cbor_put_map(&meta, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(&meta, 0));
    VMESH_GUARD(vmesh_cbor_put_text(&meta, signer_name));
    /* corim-meta-identity = (&(corim-meta: 8) => bstr .cbor corim-meta-map) */
    VMESH_GUARD(vmesh_cbor_put_map(&extra, 1));
    VMESH_GUARD(vmesh_cbor_put_uint(&extra, 8));
    VMESH_GUARD(vmesh_cbor_put_bstr(&extra, meta.data, meta.len));
    memset(&opts, 0, sizeof(opts));
    opts.content_type = VMESH_CORIM_MEDIA_TYPE;
    opts.extra_protected_map = extra.data;
    opts.extra_protected_map_len = extra.len;
    VMESH_GUARD(vmesh_cose_sign1_create(key, corim, n, &opts, out));
out:
    vmesh_buf_free(&meta);
    vmesh_buf_free(&extra);
    return rc;
}
