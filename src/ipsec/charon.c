/*
 * What vmesh ipsec asks strongSwan's charon, as vici requests: the SVID
 * key, one connection per peer with two IKEv2 authentication rounds (RFC
 * 4739: the SVID certificate, then the attestation-derived PSK), the PSK
 * itself, initiate / re-authenticate / terminate, and the list of SAs.
 * The request layouts follow swanctl.conf(5) and the vici README of
 * strongSwan 5.9.8. Secrets only ever travel in vici request buffers,
 * which are wiped when freed.
 */
#define _GNU_SOURCE
#include "ipsec_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static vmesh_err call_check(vmesh_vici *v, const char *cmd, vmesh_vici_builder *b, const char *what)
{
    vmesh_err rc = VMESH_OK;
    vmesh_vici_msg *resp = NULL;

    VMESH_GUARD(vmesh_vici_call(v, cmd, b, &resp));
    VMESH_GUARD(vmesh_vici_check(resp, what));
out:
    vmesh_vici_msg_free(resp);
    vmesh_vici_build_free(b);
    return rc;
}

vmesh_err ix_charon_load_key(vmesh_vici *v, const char *key_path)
{
    vmesh_err rc = VMESH_OK;
    vmesh_vici_builder b;
    vmesh_buf pem = {0};

    vmesh_vici_build_init(&b);
    pem.secret = true;
    VMESH_GUARD(vmesh_file_read(key_path, 64 * 1024, &pem));
    /* "type = <private key type, rsa|ecdsa|ed25519|ed448|bliss|any>" */
    vmesh_vici_add_str(&b, "type", "any");
    vmesh_vici_add_kv(&b, "data", pem.data, pem.len);
    rc = call_check(v, "load-key", &b, "loading the SVID key into charon");
out:
    vmesh_vici_build_free(&b);
    vmesh_buf_free(&pem);
    return rc;
}

static void add_list_csv(vmesh_vici_builder *b, const char *name, const char *csv)
{
    char item[256];
    const char *p = csv;

    vmesh_vici_list(b, name);
    while (*p) {
        size_t n = strcspn(p, ",");
        if (n > 0 && n < sizeof(item)) {
            memcpy(item, p, n);
            item[n] = '\0';
            vmesh_vici_item_str(b, item);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    vmesh_vici_list_end(b);
}

vmesh_err ix_charon_load_conn(vmesh_vici *v, const struct vmesh_ipsec *g, const ix_peer *p)
{
    vmesh_vici_builder b;
    const vmesh_ipsec_peer *s = &p->spec;

    vmesh_vici_build_init(&b);
    vmesh_vici_section(&b, p->conn_name);
    vmesh_vici_add_str(&b, "version", "2");
    vmesh_vici_list(&b, "local_addrs");
    vmesh_vici_item_str(&b, s->local_addr[0] ? s->local_addr : "%any");
    vmesh_vici_list_end(&b);
    vmesh_vici_list(&b, "remote_addrs");
    vmesh_vici_item_str(&b, s->remote_addr);
    vmesh_vici_list_end(&b);
    add_list_csv(&b, "proposals", g->ike_proposals);
    /* Two IKE SAs with the same identities exist for a moment during a
     * make-before-break re-authentication; neither side may treat the
     * new one as a reason to delete the old one early. */
    vmesh_vici_add_str(&b, "unique", "never");
    /* vmesh re-authenticates at each epoch; charon must not re-use the
     * credential on its own schedule. */
    vmesh_vici_add_str(&b, "reauth_time", "0");
    vmesh_vici_add_str(&b, "dpd_delay", "10");
    vmesh_vici_add_str(&b, "mobike", "no");
    /* Round 1 (RFC 4739): the gateway's X509-SVID. Its identity is the
     * SVID's URI SAN; strongSwan matches a URI SAN only as its private ID
     * type ID_DER_ASN1_GN_URI (201), written "{201}:<uri>". */
    vmesh_vici_section(&b, "local-1");
    vmesh_vici_add_str(&b, "auth", "pubkey");
    vmesh_vici_add_str(&b, "id", p->local_id);
    vmesh_vici_list(&b, "certs");
    vmesh_vici_item(&b, g->leaf_der.data, g->leaf_der.len);
    vmesh_vici_list_end(&b);
    vmesh_vici_section_end(&b);
    /* Round 2: the PSK derived from the attested session. */
    vmesh_vici_section(&b, "local-2");
    vmesh_vici_add_str(&b, "auth", "psk");
    vmesh_vici_add_str(&b, "id", p->local_id);
    vmesh_vici_section_end(&b);
    vmesh_vici_section(&b, "remote-1");
    vmesh_vici_add_str(&b, "auth", "pubkey");
    vmesh_vici_add_str(&b, "id", p->remote_id);
    vmesh_vici_list(&b, "cacerts");
    for (size_t i = 0; i < g->n_ca; i++)
        vmesh_vici_item(&b, g->ca_der[i].data, g->ca_der[i].len);
    vmesh_vici_list_end(&b);
    vmesh_vici_section_end(&b);
    vmesh_vici_section(&b, "remote-2");
    vmesh_vici_add_str(&b, "auth", "psk");
    vmesh_vici_add_str(&b, "id", p->remote_id);
    vmesh_vici_section_end(&b);
    vmesh_vici_section(&b, "children");
    vmesh_vici_section(&b, IX_CHILD_NAME);
    vmesh_vici_list(&b, "local_ts");
    for (size_t i = 0; i < s->n_local_ts; i++)
        vmesh_vici_item_str(&b, s->local_ts[i]);
    vmesh_vici_list_end(&b);
    vmesh_vici_list(&b, "remote_ts");
    for (size_t i = 0; i < s->n_remote_ts; i++)
        vmesh_vici_item_str(&b, s->remote_ts[i]);
    vmesh_vici_list_end(&b);
    add_list_csv(&b, "esp_proposals", g->esp_proposals);
    vmesh_vici_add_str(&b, "mode", "tunnel");
    vmesh_vici_add_str(&b, "start_action", "none");
    vmesh_vici_add_str(&b, "dpd_action", "clear");
    vmesh_vici_add_str(&b, "close_action", "none");
    vmesh_vici_section_end(&b);
    vmesh_vici_section_end(&b);
    vmesh_vici_section_end(&b);
    return call_check(v, "load-conn", &b, "loading the connection into charon");
}

vmesh_err ix_charon_load_psk(vmesh_vici *v, const ix_peer *p,
                             const uint8_t psk[VMESH_IPSEC_PSK_LEN])
{
    vmesh_vici_builder b;

    vmesh_vici_build_init(&b);
    /* "id = <optional unique identifier of this shared key>": loading
     * under the same id replaces the previous epoch's key, so at most one
     * credential per peer is ever loaded. */
    vmesh_vici_add_str(&b, "id", p->conn_name);
    vmesh_vici_add_str(&b, "type", "IKE");
    vmesh_vici_add_kv(&b, "data", psk, VMESH_IPSEC_PSK_LEN);
    vmesh_vici_list(&b, "owners");
    vmesh_vici_item_str(&b, p->local_id);
    vmesh_vici_item_str(&b, p->remote_id);
    vmesh_vici_list_end(&b);
    return call_check(v, "load-shared", &b, "loading the attestation-derived PSK into charon");
}

/* unload-* of something that is not loaded is fine here. */
static vmesh_err unload_one(vmesh_vici *v, const char *cmd, const char *key, const char *value)
{
    vmesh_err rc = VMESH_OK;
    vmesh_vici_builder b;
    vmesh_vici_msg *resp = NULL;
    const char *ok, *msg;

    vmesh_vici_build_init(&b);
    vmesh_vici_add_str(&b, key, value);
    VMESH_GUARD(vmesh_vici_call(v, cmd, &b, &resp));
    ok = vmesh_vici_node_str(vmesh_vici_msg_root(resp), "success");
    msg = vmesh_vici_node_str(vmesh_vici_msg_root(resp), "errmsg");
    if (ok == NULL || strcmp(ok, "yes") != 0) {
        if (msg == NULL ||
            (strstr(msg, "not found") == NULL && strstr(msg, "failed to unload") == NULL))
            VMESH_FAIL(VMESH_ERR_STATE, "%s %s: charon says: %s", cmd, value, msg ? msg : "failed");
    }
out:
    vmesh_vici_msg_free(resp);
    vmesh_vici_build_free(&b);
    return rc;
}

vmesh_err ix_charon_unload(vmesh_vici *v, const ix_peer *p)
{
    vmesh_err rc = unload_one(v, "unload-shared", "id", p->conn_name);
    vmesh_err rc2 = unload_one(v, "unload-conn", "name", p->conn_name);

    return rc != VMESH_OK ? rc : rc2;
}

vmesh_err ix_charon_terminate(vmesh_vici *v, const ix_peer *p, int timeout_ms)
{
    vmesh_err rc = VMESH_OK;
    vmesh_vici_builder b;
    vmesh_vici_msg *resp = NULL;
    char t[16];
    const char *ok, *msg;

    vmesh_vici_build_init(&b);
    snprintf(t, sizeof(t), "%d", timeout_ms);
    vmesh_vici_add_str(&b, "ike", p->conn_name);
    /* "force = terminate IKE_SA without waiting for proper DELETE, if
     * timeout is given, waits for a response until it is reached" */
    vmesh_vici_add_str(&b, "force", "yes");
    vmesh_vici_add_str(&b, "timeout", t);
    VMESH_GUARD(vmesh_vici_call(v, "terminate", &b, &resp));
    ok = vmesh_vici_node_str(vmesh_vici_msg_root(resp), "success");
    msg = vmesh_vici_node_str(vmesh_vici_msg_root(resp), "errmsg");
    /* "no matching SA found" is success for us: nothing to tear down */
    if ((ok == NULL || strcmp(ok, "yes") != 0) &&
        (msg == NULL || strstr(msg, "no matching") == NULL))
        VMESH_FAIL(VMESH_ERR_STATE, "terminating %s: charon says: %s", p->conn_name,
                   msg ? msg : "failed");
out:
    vmesh_vici_msg_free(resp);
    vmesh_vici_build_free(&b);
    return rc;
}

vmesh_err ix_charon_initiate(vmesh_vici *v, const ix_peer *p, int timeout_ms)
{
    vmesh_vici_builder b;
    char t[16];

    vmesh_vici_build_init(&b);
    snprintf(t, sizeof(t), "%d", timeout_ms);
    vmesh_vici_add_str(&b, "child", IX_CHILD_NAME);
    vmesh_vici_add_str(&b, "ike", p->conn_name);
    vmesh_vici_add_str(&b, "timeout", t);
    vmesh_vici_add_str(&b, "init-limits", "no");
    return call_check(v, "initiate", &b, "initiating the IKE and CHILD SA");
}

vmesh_err ix_charon_reauth(vmesh_vici *v, const ix_peer *p, uint64_t ike_uid)
{
    vmesh_vici_builder b;
    char id[24];

    (void)p;
    vmesh_vici_build_init(&b);
    snprintf(id, sizeof(id), "%" PRIu64, ike_uid);
    vmesh_vici_add_str(&b, "ike-id", id);
    vmesh_vici_add_str(&b, "reauth", "yes");
    return call_check(v, "rekey", &b, "re-authenticating the IKE SA");
}

static uint64_t parse_u64(const char *s)
{
    uint64_t v = 0;

    if (s == NULL)
        return 0;
    for (; *s >= '0' && *s <= '9'; s++)
        v = v * 10 + (uint64_t)(*s - '0');
    return v;
}

static vmesh_err on_sa(void *ctx, const vmesh_vici_msg *ev)
{
    ix_sas *o = ctx;

    /* { <IKE_SA config name> = { uniqueid, state, child-sas = { <name-uid> = { state } } } } */
    for (const vmesh_vici_node *ike = vmesh_vici_node_first(vmesh_vici_msg_root(ev)); ike;
         ike = vmesh_vici_node_next(ike)) {
        const char *state = vmesh_vici_node_str(ike, "state");
        uint64_t uid = parse_u64(vmesh_vici_node_str(ike, "uniqueid"));

        if (vmesh_vici_node_kind_of(ike) != VMESH_VICI_NODE_SECTION)
            continue;
        o->ike_total++;
        if (state == NULL || strcmp(state, "ESTABLISHED") != 0)
            continue;
        o->ike_established++;
        if (uid > o->newest_ike_uid)
            o->newest_ike_uid = uid;
        if (o->oldest_ike_uid == 0 || uid < o->oldest_ike_uid)
            o->oldest_ike_uid = uid;
        for (const vmesh_vici_node *c =
                 vmesh_vici_node_first(vmesh_vici_node_get(ike, "child-sas"));
             c; c = vmesh_vici_node_next(c)) {
            const char *cs = vmesh_vici_node_str(c, "state");
            if (cs != NULL && strcmp(cs, "INSTALLED") == 0)
                o->child_installed++;
        }
    }
    return VMESH_OK;
}

vmesh_err ix_charon_sas(vmesh_vici *v, const ix_peer *p, ix_sas *out)
{
    vmesh_err rc = VMESH_OK;
    vmesh_vici_builder b;
    vmesh_vici_msg *resp = NULL;

    memset(out, 0, sizeof(*out));
    vmesh_vici_build_init(&b);
    vmesh_vici_add_str(&b, "noblock", "yes");
    vmesh_vici_add_str(&b, "ike", p->conn_name);
    VMESH_GUARD(vmesh_vici_call_stream(v, "list-sas", &b, "list-sa", on_sa, out, &resp));
out:
    vmesh_vici_msg_free(resp);
    vmesh_vici_build_free(&b);
    return rc;
}

vmesh_err ix_charon_cleanup(vmesh_vici *v, unsigned *removed)
{
    vmesh_err rc = VMESH_OK;
    vmesh_vici_msg *conns = NULL, *keys = NULL;

    *removed = 0;
    VMESH_GUARD(vmesh_vici_call(v, "get-conns", NULL, &conns));
    VMESH_GUARD(vmesh_vici_call(v, "get-shared", NULL, &keys));
    for (const vmesh_vici_node *i =
             vmesh_vici_node_first(vmesh_vici_node_get(vmesh_vici_msg_root(conns), "conns"));
         i; i = vmesh_vici_node_next(i)) {
        const char *name = vmesh_vici_node_value(i, NULL);
        ix_peer tmp;
        if (name == NULL || strncmp(name, IX_CONN_PREFIX, strlen(IX_CONN_PREFIX)) != 0 ||
            strlen(name) >= sizeof(tmp.conn_name))
            continue;
        memset(&tmp, 0, sizeof(tmp));
        snprintf(tmp.conn_name, sizeof(tmp.conn_name), "%s", name);
        VMESH_GUARD(unload_one(v, "unload-conn", "name", name));
        VMESH_GUARD(ix_charon_terminate(v, &tmp, 1000));
        (*removed)++;
    }
    for (const vmesh_vici_node *i =
             vmesh_vici_node_first(vmesh_vici_node_get(vmesh_vici_msg_root(keys), "keys"));
         i; i = vmesh_vici_node_next(i)) {
        const char *id = vmesh_vici_node_value(i, NULL);
        if (id == NULL || strncmp(id, IX_CONN_PREFIX, strlen(IX_CONN_PREFIX)) != 0)
            continue;
        VMESH_GUARD(unload_one(v, "unload-shared", "id", id));
        (*removed)++;
    }
out:
    vmesh_vici_msg_free(conns);
    vmesh_vici_msg_free(keys);
    return rc;
}
