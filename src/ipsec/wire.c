/*
 * The pure parts of vmesh ipsec: the credential derivation from an attested
 * session's exporter, the control message the two gateways exchange on
 * that session, and the --peer spec. The decoders read hostile input
 * (the control message comes from the peer; the spec from the command
 * line) and check every length before use.
 */
#define _GNU_SOURCE
#include "vmesh/ipsec.h"
#include "vmesh/pki.h"

#include <arpa/inet.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <stdlib.h>
#include <string.h>

/* ---- the credential ------------------------------------------------------------------------- */

void vmesh_ipsec_context(const uint8_t *client_spki, size_t client_spki_len,
                         const uint8_t *server_spki, size_t server_spki_len, uint64_t epoch,
                         uint8_t out[VMESH_IPSEC_CONTEXT_LEN])
{
    size_t off = sizeof(VMESH_IPSEC_CONTEXT_LABEL) - 1;

    memcpy(out, VMESH_IPSEC_CONTEXT_LABEL, off);
    SHA256(client_spki, client_spki_len, out + off);
    off += 32;
    SHA256(server_spki, server_spki_len, out + off);
    off += 32;
    for (int i = 7; i >= 0; i--)
        out[off++] = (uint8_t)(epoch >> (8 * i));
}

static vmesh_err spki_der(X509 *x, uint8_t **der, int *len)
{
    *der = NULL;
    *len = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), der) : -1;
    if (*len <= 0)
        return vmesh_err_ssl(VMESH_ERR_CRYPTO, "encoding a leaf certificate's public key");
    return VMESH_OK;
}

vmesh_err vmesh_ipsec_derive(vmesh_atls_conn *c, uint64_t epoch, uint8_t psk[VMESH_IPSEC_PSK_LEN])
{
    vmesh_err rc = VMESH_OK;
    SSL *ssl = vmesh_atls_conn_ssl(c);
    uint8_t *own = NULL, *peer = NULL, ctx[VMESH_IPSEC_CONTEXT_LEN];
    int own_len = 0, peer_len = 0, mode;
    bool server;

    /* Only a session of the attested channel (0xff4d negotiated) whose
     * peer attested and was accepted yields a credential. A peer that
     * policy admitted unattested (mode none) gets none, whatever the
     * policy says: an unattested gateway never gets an SA. */
    VMESH_ENSURE(ssl != NULL && vmesh_atls_negotiated(c) && vmesh_atls_peer_result_get(c) != NULL &&
                     vmesh_atls_peer_spiffe_id(c) != NULL,
                 VMESH_ERR_STATE, "ipsec: no credential before the peer was attested and accepted");
    mode = vmesh_atls_peer_mode(c);
    VMESH_ENSURE(mode == VMESH_ATLS_MODE_EPOCH_FRESH || mode == VMESH_ATLS_MODE_FRESH ||
                     mode == VMESH_ATLS_MODE_PASSPORT,
                 VMESH_ERR_POLICY,
                 "ipsec: the peer %s was admitted without attestation (mode %s): no credential",
                 vmesh_atls_peer_spiffe_id(c), vmesh_atls_mode_name(mode));
    server = SSL_is_server(ssl) == 1;
    VMESH_GUARD(spki_der(SSL_get_certificate(ssl), &own, &own_len));
    VMESH_GUARD(spki_der(SSL_get0_peer_certificate(ssl), &peer, &peer_len));
    if (server)
        vmesh_ipsec_context(peer, (size_t)peer_len, own, (size_t)own_len, epoch, ctx);
    else
        vmesh_ipsec_context(own, (size_t)own_len, peer, (size_t)peer_len, epoch, ctx);
    /* RFC 8446 §7.5: the exporter is a function of the session's
     * exporter_master_secret, the label and the context; both ends of this
     * session, and nobody else, can compute it. */
    if (SSL_export_keying_material(ssl, psk, VMESH_IPSEC_PSK_LEN, VMESH_IPSEC_EXPORTER_LABEL,
                                   strlen(VMESH_IPSEC_EXPORTER_LABEL), ctx, sizeof(ctx), 1) != 1) {
        rc = vmesh_err_ssl(VMESH_ERR_CRYPTO, "TLS exporter for the IPsec credential");
        goto out;
    }
out:
    OPENSSL_free(own);
    OPENSSL_free(peer);
    if (rc != VMESH_OK)
        OPENSSL_cleanse(psk, VMESH_IPSEC_PSK_LEN);
    return rc;
}

/* ---- the control message -------------------------------------------------------------------- */

static const uint8_t MAGIC[4] = {'V', 'M', 'I', 'P'};

vmesh_err vmesh_ipsec_msg_encode(const vmesh_ipsec_msg *m, vmesh_buf *out)
{
    uint8_t h[VMESH_IPSEC_MSG_HEADER], t[VMESH_IPSEC_MSG_TEXT_MAX];
    size_t tl = 0;
    vmesh_err rc;

    if (m->type < VMESH_IPSEC_MSG_INSTALL || m->type > VMESH_IPSEC_MSG_REFUSED)
        return vmesh_err_set(VMESH_ERR_ARG, "ipsec message: unknown type %d", (int)m->type);
    if (m->type == VMESH_IPSEC_MSG_REFUSED) {
        for (; tl < VMESH_IPSEC_MSG_TEXT_MAX && m->text[tl]; tl++)
            t[tl] = m->text[tl] >= 0x20 && m->text[tl] < 0x7f ? (uint8_t)m->text[tl] : '?';
        if (tl == 0)
            t[tl++] = '?';
    }
    memcpy(h, MAGIC, 4);
    h[4] = 1;
    h[5] = (uint8_t)m->type;
    for (int i = 0; i < 8; i++)
        h[6 + i] = (uint8_t)(m->epoch >> (8 * (7 - i)));
    h[14] = (uint8_t)(tl >> 8);
    h[15] = (uint8_t)tl;
    rc = vmesh_buf_append(out, h, sizeof(h));
    if (rc == VMESH_OK)
        rc = vmesh_buf_append(out, t, tl);
    return rc;
}

vmesh_err vmesh_ipsec_msg_decode(const uint8_t *p, size_t n, vmesh_ipsec_msg *m, size_t *used)
{
    size_t tl;

    memset(m, 0, sizeof(*m));
    *used = 0;
    /* Check what we have as soon as we have it, so a wrong peer is told
     * at once rather than after it sent 16 bytes. */
    for (size_t i = 0; i < 4 && i < n; i++)
        if (p[i] != MAGIC[i])
            return vmesh_err_set(VMESH_ERR_PARSE,
                                 "ipsec message: bad magic (not a vmesh ipsec peer)");
    if (n >= 5 && p[4] != 1)
        return vmesh_err_set(VMESH_ERR_UNSUPPORTED, "ipsec message: version %u (we speak 1)", p[4]);
    if (n >= 6 && (p[5] < VMESH_IPSEC_MSG_INSTALL || p[5] > VMESH_IPSEC_MSG_REFUSED))
        return vmesh_err_set(VMESH_ERR_PARSE, "ipsec message: unknown type %u", p[5]);
    if (n < VMESH_IPSEC_MSG_HEADER)
        return VMESH_ERR_WANT_READ;
    m->type = (vmesh_ipsec_msg_type)p[5];
    for (int i = 0; i < 8; i++)
        m->epoch = m->epoch << 8 | p[6 + i];
    tl = (size_t)p[14] << 8 | p[15];
    if (m->type == VMESH_IPSEC_MSG_REFUSED ? (tl == 0 || tl > VMESH_IPSEC_MSG_TEXT_MAX) : tl != 0)
        return vmesh_err_set(VMESH_ERR_PARSE, "ipsec message: text of %zu bytes for type %u", tl,
                             p[5]);
    if (n - VMESH_IPSEC_MSG_HEADER < tl)
        return VMESH_ERR_WANT_READ;
    for (size_t i = 0; i < tl; i++) {
        uint8_t c = p[VMESH_IPSEC_MSG_HEADER + i];
        if (c < 0x20 || c >= 0x7f)
            return vmesh_err_set(VMESH_ERR_PARSE, "ipsec message: byte 0x%02x in the reason text",
                                 c);
        m->text[i] = (char)c;
    }
    m->text[tl] = '\0';
    *used = VMESH_IPSEC_MSG_HEADER + tl;
    return VMESH_OK;
}

/* ---- the --peer spec ------------------------------------------------------------------------ */

static bool ip_literal(const char *s)
{
    unsigned char a[16];

    return inet_pton(AF_INET, s, a) == 1 || inet_pton(AF_INET6, s, a) == 1;
}

static vmesh_err check_cidr(const char *key, const char *s)
{
    char addr[VMESH_IPSEC_TS_MAX + 1];
    const char *slash = strchr(s, '/');
    unsigned char a[16];
    size_t al;
    int family;
    long bits, maxbits;
    char *end;

    if (slash == NULL)
        return vmesh_err_set(VMESH_ERR_ARG, "%s=%s: give a subnet as ADDRESS/PREFIX", key, s);
    al = (size_t)(slash - s);
    if (al == 0 || al >= sizeof(addr))
        return vmesh_err_set(VMESH_ERR_ARG, "%s=%s: not an address", key, s);
    memcpy(addr, s, al);
    addr[al] = '\0';
    if (inet_pton(AF_INET, addr, a) == 1)
        family = AF_INET, maxbits = 32;
    else if (inet_pton(AF_INET6, addr, a) == 1)
        family = AF_INET6, maxbits = 128;
    else
        return vmesh_err_set(VMESH_ERR_ARG, "%s=%s: \"%s\" is not an IPv4 or IPv6 address", key, s,
                             addr);
    (void)family;
    errno = 0;
    bits = strtol(slash + 1, &end, 10);
    if (errno || *end || end == slash + 1 || bits < 0 || bits > maxbits)
        return vmesh_err_set(VMESH_ERR_ARG, "%s=%s: prefix length must be 0..%ld", key, s, maxbits);
    return VMESH_OK;
}

static vmesh_err set_field(char *dst, size_t cap, const char *key, const char *v, size_t vl)
{
    if (vl == 0)
        return vmesh_err_set(VMESH_ERR_ARG, "%s: empty value", key);
    if (vl >= cap)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "%s: value longer than %zu bytes", key, cap - 1);
    if (dst[0] != '\0')
        return vmesh_err_set(VMESH_ERR_ARG, "%s given twice", key);
    memcpy(dst, v, vl);
    dst[vl] = '\0';
    return VMESH_OK;
}

static vmesh_err add_ts(char ts[][VMESH_IPSEC_TS_MAX + 1], size_t *n, const char *key,
                        const char *v, size_t vl)
{
    if (*n == VMESH_IPSEC_MAX_TS)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE, "%s: at most %d subnets", key,
                             VMESH_IPSEC_MAX_TS);
    if (vl == 0 || vl > VMESH_IPSEC_TS_MAX)
        return vmesh_err_set(VMESH_ERR_ARG, "%s: a subnet of %zu characters", key, vl);
    memcpy(ts[*n], v, vl);
    ts[*n][vl] = '\0';
    (*n)++;
    return check_cidr(key, ts[*n - 1]);
}

vmesh_err vmesh_ipsec_peer_parse(const char *spec, vmesh_ipsec_peer *out)
{
    vmesh_err rc = VMESH_OK;
    const char *p = spec;

    memset(out, 0, sizeof(*out));
    VMESH_ENSURE(spec != NULL && *spec, VMESH_ERR_ARG, "--peer: empty spec");
    while (*p) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t kl, vl;
        char key[16];

        VMESH_ENSURE(eq != NULL, VMESH_ERR_ARG, "--peer: \"%.*s\" is not KEY=VALUE",
                     (int)(len > 64 ? 64 : len), p);
        kl = (size_t)(eq - p);
        VMESH_ENSURE(kl > 0 && kl < sizeof(key), VMESH_ERR_ARG, "--peer: unknown key \"%.*s\"",
                     (int)(kl > 64 ? 64 : kl), p);
        memcpy(key, p, kl);
        key[kl] = '\0';
        vl = len - kl - 1;
        if (strcmp(key, "name") == 0)
            VMESH_GUARD(set_field(out->name, sizeof(out->name), key, eq + 1, vl));
        else if (strcmp(key, "id") == 0)
            VMESH_GUARD(set_field(out->id, sizeof(out->id), key, eq + 1, vl));
        else if (strcmp(key, "connect") == 0)
            VMESH_GUARD(set_field(out->connect, sizeof(out->connect), key, eq + 1, vl));
        else if (strcmp(key, "local-addr") == 0)
            VMESH_GUARD(set_field(out->local_addr, sizeof(out->local_addr), key, eq + 1, vl));
        else if (strcmp(key, "remote-addr") == 0)
            VMESH_GUARD(set_field(out->remote_addr, sizeof(out->remote_addr), key, eq + 1, vl));
        else if (strcmp(key, "local-ts") == 0)
            VMESH_GUARD(add_ts(out->local_ts, &out->n_local_ts, key, eq + 1, vl));
        else if (strcmp(key, "remote-ts") == 0)
            VMESH_GUARD(add_ts(out->remote_ts, &out->n_remote_ts, key, eq + 1, vl));
        else
            VMESH_FAIL(VMESH_ERR_ARG,
                       "--peer: unknown key \"%s\" (name, id, connect, local-addr, remote-addr, "
                       "local-ts, remote-ts)",
                       key);
        p += len;
        if (*p == ',')
            p++;
    }
    VMESH_ENSURE(out->name[0] && out->id[0], VMESH_ERR_ARG, "--peer: name= and id= are required");
    for (const char *c = out->name; *c; c++)
        VMESH_ENSURE((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') ||
                         (*c >= '0' && *c <= '9') || *c == '-' || *c == '_',
                     VMESH_ERR_ARG, "--peer: name \"%s\": use letters, digits, '-' and '_'",
                     out->name);
    rc = vmesh_pki_spiffe_id_validate(out->id);
    if (rc != VMESH_OK) {
        vmesh_err_wrap(rc, "--peer id=%s", out->id);
        goto out;
    }
    VMESH_ENSURE(
        out->n_local_ts > 0 && out->n_remote_ts > 0, VMESH_ERR_ARG,
        "--peer %s: local-ts= and remote-ts= (the subnets behind each gateway) are required",
        out->name);
    VMESH_ENSURE(!out->local_addr[0] || ip_literal(out->local_addr), VMESH_ERR_ARG,
                 "--peer %s: local-addr=%s is not an IP address", out->name, out->local_addr);
    VMESH_ENSURE(!out->remote_addr[0] || ip_literal(out->remote_addr), VMESH_ERR_ARG,
                 "--peer %s: remote-addr=%s is not an IP address", out->name, out->remote_addr);
    if (out->connect[0]) {
        vmesh_net_hostport hp;
        rc = vmesh_net_parse(out->connect, 0, &hp);
        if (rc != VMESH_OK) {
            vmesh_err_wrap(rc, "--peer %s: connect=", out->name);
            goto out;
        }
        /* the IKE peer defaults to the host of its control endpoint */
        if (!out->remote_addr[0]) {
            VMESH_ENSURE(
                !hp.name && strlen(hp.host) < sizeof(out->remote_addr), VMESH_ERR_ARG,
                "--peer %s: connect=%s names a host: give remote-addr= (an IP address) for IKE",
                out->name, out->connect);
            snprintf(out->remote_addr, sizeof(out->remote_addr), "%s", hp.host);
        }
    }
    VMESH_ENSURE(out->connect[0] || out->remote_addr[0], VMESH_ERR_ARG,
                 "--peer %s: remote-addr= is required when the peer dials us (no connect=)",
                 out->name);
out:
    return rc;
}
