/* Unit tests for the proxy's YAML configuration: defaults, every section,
 * and strictness (each error names the key path and the line). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "proxy/proxy_int.h"

static const char *const base = "identity: { cert: /c.pem, key: /c.key, bundle: /b.pem }\n"
                                "inbound:\n"
                                "  - { name: web, listen: 127.0.0.1:8443, app: 127.0.0.1:8000 }\n";

static vmesh_err parse(const char *extra, vmesh_proxy_config **c)
{
    char text[4096];

    snprintf(text, sizeof(text), "%s%s", base, extra);
    return vmesh_proxy_config_parse(text, strlen(text), "/etc/vmesh/test.yaml", c);
}

static void expect_error(const char *extra, const char *substr)
{
    vmesh_proxy_config *c = NULL;

    assert_int_equal(parse(extra, &c), VMESH_ERR_PARSE);
    assert_null(c);
    if (strstr(vmesh_err_detail(), substr) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", vmesh_err_detail(), substr);
}

static void defaults(void **state)
{
    vmesh_proxy_config *c = NULL;

    (void)state;
    assert_int_equal(parse("", &c), VMESH_OK);
    assert_int_equal(c->handshake_timeout_ms, 10000);
    assert_int_equal(c->connect_timeout_ms, 5000);
    assert_int_equal(c->idle_timeout_ms, 300000);
    assert_int_equal(c->drain_timeout_ms, 30000);
    assert_int_equal(c->max_connections, 0); /* derived at start */
    assert_int_equal(c->buffer_size, 65536);
    assert_int_equal(c->poll_interval_ms, 30000);
    assert_int_equal(c->workers, 0);
    assert_null(c->access_log);
    assert_int_equal(c->access_std, 1); /* stdout, apart from the log on stderr */
    assert_null(c->platform);
    assert_null(c->policy_doc);
    assert_int_equal(vmesh_proxy_config_inbound_count(c), 1);
    assert_int_equal(vmesh_proxy_config_outbound_count(c), 0);
    assert_string_equal(vmesh_proxy_config_listen(c, 0), "127.0.0.1:8443");
    assert_null(vmesh_proxy_config_listen(c, 1));
    assert_string_equal(c->in[0].name, "web");
    vmesh_proxy_config_free(c);
}

static void full(void **state)
{
    vmesh_proxy_config *c = NULL;
    const char *y = "attester:\n"
                    "  platform: psa-sim\n"
                    "  options: { iak: iak.pem, claims: claims.json, measure: [ A=a, B=b ] }\n"
                    "  modes: [ epoch-fresh, fresh ]\n"
                    "  ak-rotate: 10m\n"
                    "verifier:\n"
                    "  rv-files: [ rv.json, /abs/rv2.json ]\n"
                    "  poll-interval: 5s\n"
                    "  bell: { file: bell.cwt, key: bell.pub, refresh: 500ms }\n"
                    "  trusted-verifiers: [ v.pub ]\n"
                    "  passport: { local-key: ear.key }\n"
                    "policy:\n"
                    "  inline: { max-evidence-age: 60, modes: [ epoch-fresh ] }\n"
                    "  rules:\n"
                    "    - { peer: \"spiffe://example.org/ns/a/*\", modes: [ passport ], allow-unattested: true,\n"
                    "        min-tiers: { executables: warning }, max-evidence-age: 1h }\n"
                    "outbound:\n"
                    "  - { listen: 127.0.0.1:8080, upstreams: [ 10.0.0.1:443, 10.0.0.2:443 ],\n"
                    "      peer: spiffe://example.org/ns/shop/sa/server }\n"
                    "admin: { listen: 127.0.0.1:9901 }\n"
                    "limits: { max-connections: 50, handshake-timeout: 3s, connect-timeout: 250ms,\n"
                    "          idle-timeout: 1h, drain-timeout: 2s, buffer-size: 64KiB, workers: 3,\n"
                    "          linger-timeout: 100ms }\n"
                    "access-log: { file: access.log }\n"
                    "log-level: debug\n";

    (void)state;
    assert_int_equal(parse(y, &c), VMESH_OK);
    assert_string_equal(c->platform, "psa");
    assert_int_equal(c->nkv, 4);
    assert_string_equal(c->kv[0].key, "iak");
    assert_string_equal(c->kv[0].value, "iak.pem"); /* scheme options are passed as written */
    assert_string_equal(c->kv[3].key, "measure");
    assert_string_equal(c->kv[3].value, "B=b");
    assert_int_equal(c->attest_modes, VMESH_MODE_BIT(VMESH_MODE_EPOCH_FRESH) | VMESH_MODE_BIT(VMESH_MODE_FRESH));
    assert_int_equal(c->ak_rotate, 600);
    assert_int_equal(c->nrv, 2);
    assert_string_equal(c->rv_files[0], "/etc/vmesh/rv.json"); /* relative to the config file */
    assert_string_equal(c->rv_files[1], "/abs/rv2.json");
    assert_int_equal(c->poll_interval_ms, 5000);
    assert_string_equal(c->bell_file, "/etc/vmesh/bell.cwt");
    assert_int_equal(c->bell_refresh_ms, 500);
    assert_string_equal(c->passport_local_key, "/etc/vmesh/ear.key");
    assert_non_null(c->policy_doc);
    assert_int_equal(json_integer_value(json_object_get(c->policy_doc, "max-evidence-age")), 60);
    assert_string_equal(json_string_value(json_object_get(c->policy_doc, "format")), "vmesh-policy/1");
    assert_int_equal(c->nrules, 1);
    assert_string_equal(c->rules[0].peer, "spiffe://example.org/ns/a/*");
    assert_true(json_is_true(json_object_get(c->rules[0].overrides, "allow-unattested")));
    assert_int_equal(json_integer_value(json_object_get(c->rules[0].overrides, "max-evidence-age")), 3600);
    assert_int_equal(c->nout, 1);
    assert_int_equal(c->out[0].nup, 2);
    assert_string_equal(c->out[0].name, "127.0.0.1:8080"); /* name defaults to the address */
    assert_string_equal(c->admin_listen, "127.0.0.1:9901");
    assert_int_equal(c->max_connections, 50);
    assert_int_equal(c->connect_timeout_ms, 250);
    assert_int_equal(c->idle_timeout_ms, 3600000);
    assert_int_equal(c->buffer_size, 65536);
    assert_int_equal(c->workers, 3);
    assert_int_equal(c->linger_ms, 100);
    assert_string_equal(c->access_log, "/etc/vmesh/access.log");
    assert_int_equal(c->log_level, VMESH_LOG_DEBUG);
    vmesh_proxy_config_free(c);
}

static void strict(void **state)
{
    (void)state;
    expect_error("bogus: 1\n", "test.yaml:4: bogus: unknown key");
    expect_error("limits:\n  idle-timeout: ten\n", "test.yaml:5: limits.idle-timeout: \"ten\" is not a duration");
    expect_error("limits: { idle-timeout: 5 fortnights }\n", "not a duration");
    expect_error("limits: { buffer-size: 12 }\n", "limits.buffer-size: \"12\" is out of range");
    expect_error("limits: { max-connections: -1 }\n", "limits.max-connections");
    expect_error("limits: { workers: 65 }\n", "limits.workers");
    expect_error("limits: { colour: red }\n", "limits.colour: unknown key");
    expect_error("limits: { drain-timeout: 1s, drain-timeout: 2s }\n", "duplicate key \"drain-timeout\"");
    expect_error("attester: { modes: [ psychic ] }\n", "attester.modes[0]: \"psychic\" is not a mode");
    expect_error("attester: { options: { iak: x } }\n", "attester.platform: options are given but no platform");
    expect_error("verifier: { bell: { file: b.jws } }\n", "verifier.bell: needs key and exactly one of url or file");
    expect_error("verifier: { passport: { local-key: a, central: https://v } }\n", "exactly one of local-key or central");
    expect_error("verifier: { rvps: [ { name: a } ] }\n", "verifier.rvps[0]: url and key are required");
    expect_error("verifier: { rv-files: rv.json }\n", "verifier.rv-files: must be a list");
    expect_error("policy: { rules: [ { peer: \"http://x\" } ] }\n", "policy.rules[0].peer");
    expect_error("policy: { rules: [ { modes: [fresh] } ] }\n", "policy.rules[0]: peer (a SPIFFE ID or pattern) is required");
    expect_error("policy: { rules: [ { peer: \"spiffe://td/a\", allow-unattested: maybe } ] }\n", "not a boolean");
    expect_error("outbound: [ { listen: 127.0.0.1:1, upstreams: [ 127.0.0.1:2 ] } ]\n",
                 "outbound[0]: listen, upstreams and peer are required");
    expect_error("outbound: [ { listen: nowhere, upstreams: [ 127.0.0.1:2 ], peer: spiffe://td/x } ]\n",
                 "outbound[0].listen: address \"nowhere\": no port");
    expect_error("inbound: [ { listen: 127.0.0.1:1 } ]\n", "duplicate key \"inbound\"");
    expect_error("admin: { listen: 127.0.0.1:1, port: 3 }\n", "admin.port: unknown key");
    expect_error("access-log: { syslog: true }\n", "access-log.syslog: unknown key");
    expect_error("access-log: { file: a.log, stdout: true }\n", "access-log: one sink");
    expect_error("log-level: loud\n", "log-level: \"loud\" is not a log level");
    expect_error("identity: [ a ]\n", "duplicate key");
    expect_error("  - [ unbalanced\n", "test.yaml:");
}

/* reattestation: offered when present; every / on-tick / deadline / jitter. */
static void reattestation(void **state)
{
    vmesh_proxy_config *c = NULL;

    (void)state;
    assert_int_equal(parse("", &c), VMESH_OK);
    assert_false(c->reattest);
    vmesh_proxy_config_free(c);
    c = NULL;
    assert_int_equal(parse("reattestation: {}\n", &c), VMESH_OK);
    assert_true(c->reattest); /* answers the peer's requests, asks none */
    assert_false(c->reattest_on_tick);
    assert_int_equal(c->reattest_every_ms, 0);
    assert_int_equal(c->reattest_deadline_ms, 0);
    assert_int_equal(c->reattest_jitter_ms, 10000);
    vmesh_proxy_config_free(c);
    c = NULL;
    assert_int_equal(parse("verifier: { bell: { file: b.cwt, key: b.pub } }\n"
                           "reattestation: { on-tick: true, every: 5m, deadline: 2s, jitter: 30s }\n",
                           &c),
                     VMESH_OK);
    assert_true(c->reattest && c->reattest_on_tick);
    assert_int_equal(c->reattest_every_ms, 300000);
    assert_int_equal(c->reattest_deadline_ms, 2000);
    assert_int_equal(c->reattest_jitter_ms, 30000);
    vmesh_proxy_config_free(c);
    expect_error("reattestation: { on-tick: true }\n",
                 "reattestation.on-tick: asks at each tick of the epoch bell: it needs verifier.bell");
    expect_error("reattestation: { on-tick: sometimes }\n", "reattestation.on-tick: \"sometimes\" is not a boolean");
    expect_error("reattestation: { every: 10ms }\n", "reattestation.every");
    expect_error("reattestation: { deadline: forever }\n", "reattestation.deadline: \"forever\" is not a duration");
    expect_error("reattestation: { period: 1s }\n", "reattestation.period: unknown key");
    expect_error("reattestation: true\n", "reattestation");
}

/* verifier.central (background-check at a central verifier) and
 * verifier.ar-cache-slots. */
static void central(void **state)
{
    vmesh_proxy_config *c = NULL;

    (void)state;
    assert_int_equal(parse("", &c), VMESH_OK);
    assert_null(c->central_url);
    assert_null(c->central_key);
    assert_int_equal(c->central_cache, 0);
    assert_int_equal(c->ar_cache_slots, 4096);
    vmesh_proxy_config_free(c);
    c = NULL;
    assert_int_equal(parse("verifier:\n"
                           "  central: { url: \"http://127.0.0.1:8088\", key: ear.pub, cache: 2m, insecure-plain-http: true }\n"
                           "  ar-cache-slots: 100000\n",
                           &c),
                     VMESH_OK);
    assert_string_equal(c->central_url, "http://127.0.0.1:8088");
    assert_string_equal(c->central_key, "/etc/vmesh/ear.pub"); /* relative to the config file */
    assert_int_equal(c->central_cache, 120);
    assert_int_equal(c->ar_cache_slots, 100000);
    vmesh_proxy_config_free(c);
    c = NULL;
    assert_int_equal(parse("verifier: { central: { url: \"http://v\" } }\n", &c), VMESH_ERR_PARSE);
    assert_null(c);
    assert_non_null(strstr(vmesh_err_detail(), "test.yaml:4: verifier.central: needs url and key"));
    expect_error("verifier: { central: { key: ear.pub } }\n", "verifier.central: needs url and key");
    /* plain http:// to a verifier is a configuration error without the loud opt-in (D23) */
    expect_error("verifier: { central: { url: \"http://v\", key: k } }\n",
                 "verifier.central: \"http://v\" is plain http://: anyone on the path reads the evidence");
    expect_error("verifier: { central: { url: \"http://v\", key: k, insecure-plain-http: maybe } }\n",
                 "verifier.central.insecure-plain-http: \"maybe\" is not a boolean");
    expect_error("verifier: { central: { url: \"ftp://v\", key: k } }\n", "is not an https:// URL");
    expect_error("verifier: { passport: { central: \"http://v\" } }\n",
                 "verifier.passport: \"http://v\" is plain http://");
    assert_int_equal(parse("verifier: { central: { url: \"https://v\", key: k } }\n", &c), VMESH_OK);
    assert_int_equal(c->n_central_replicas, 0);
    vmesh_proxy_config_free(c);
    c = NULL;
    /* replicas: each one meets the URL rule of url (D23) */
    assert_int_equal(parse("verifier: { central: { url: \"https://v1\", replicas: [\"https://v2\", \"https://v3\"], "
                           "key: k } }\n",
                           &c),
                     VMESH_OK);
    assert_int_equal(c->n_central_replicas, 2);
    assert_string_equal(c->central_replicas[0], "https://v2");
    assert_string_equal(c->central_replicas[1], "https://v3");
    vmesh_proxy_config_free(c);
    c = NULL;
    expect_error("verifier: { central: { url: \"https://v1\", replicas: [\"http://v2\"], key: k } }\n",
                 "verifier.central: \"http://v2\" is plain http://");
    expect_error("verifier: { central: { url: \"https://v1\", replicas: \"https://v2\", key: k } }\n",
                 "verifier.central.replicas: must be a list");
    /* attested replicas: each URL is attested on its own (D45) */
    assert_int_equal(parse("verifier: { central: { url: \"https://v1\", replicas: [\"https://v2\"], key: k, "
                           "verifier-rv: /etc/hostname } }\n",
                           &c),
                     VMESH_OK);
    assert_int_equal(c->n_central_replicas, 1);
    vmesh_proxy_config_free(c);
    c = NULL;
    assert_int_equal(parse("verifier: { rv-files: [ r.json ], central: { url: \"https://v1\", "
                           "replicas: [\"https://v2\"], key: k, attested: true } }\n",
                           &c),
                     VMESH_OK);
    assert_true(c->central_attested);
    vmesh_proxy_config_free(c);
    c = NULL;
    /* one verifier counted twice makes no sense */
    expect_error("verifier: { central: { url: \"https://v1\", replicas: [\"https://v2\", \"https://v2\"], key: k, "
                 "attested: true } }\n",
                 "replica \"https://v2\" is listed twice");
    expect_error("verifier: { central: { url: \"https://v1\", replicas: [\"https://v1\"], key: k } }\n",
                 "replica \"https://v1\" is the url itself");
    assert_int_equal(parse("verifier: { passport: { central: \"http://v\", insecure-plain-http: true } }\n", &c),
                     VMESH_OK);
    assert_true(c->passport_plain_http);
    vmesh_proxy_config_free(c);
    c = NULL;
    /* the attested verifier link (D31) */
    assert_int_equal(parse("verifier: { central: { url: \"https://v\", key: k, verifier-rv: v.json, attest-recheck: 1m,\n"
                           "  tls-pin: \"sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\" } }\n",
                           &c),
                     VMESH_OK);
    assert_string_equal(c->central_verifier_rv, "/etc/vmesh/v.json");
    assert_int_equal(c->central_attest_recheck, 60);
    assert_non_null(c->central_tls_pin);
    vmesh_proxy_config_free(c);
    c = NULL;
    expect_error("verifier: { central: { url: \"https://v\", key: k, tls-pin: \"sha256//short=\" } }\n",
                 "tls-pin \"sha256//short=\" is not sha256//<base64");
    expect_error("verifier: { central: { url: \"https://v\", key: k, tls-pin: \"AAAA\" } }\n", "is not sha256//");
    assert_int_equal(parse("verifier: { passport-issuers: [ { url: \"https://v\", key: k, verifier-rv: v.json } ] }\n", &c),
                     VMESH_OK);
    assert_int_equal(c->nissuers, 1);
    assert_string_equal(c->issuers[0].verifier_rv, "/etc/vmesh/v.json");
    vmesh_proxy_config_free(c);
    c = NULL;
    /* without verifier-rv: judged by the proxy's RVP snapshot (D37) */
    assert_int_equal(parse("verifier: { rv-files: [ r.json ], passport-issuers: [ { url: \"https://v\", key: k } ] }\n",
                           &c), VMESH_OK);
    assert_null(c->issuers[0].verifier_rv);
    vmesh_proxy_config_free(c);
    c = NULL;
    expect_error("verifier: { passport-issuers: [ { url: \"https://v\", key: k } ] }\n",
                 "an issuer without verifier-rv is judged by the proxy's own reference values");
    /* verifier.central / verifier.passport attested without verifier-rv:
     * judged by the proxy's snapshot (D39) */
    assert_int_equal(parse("verifier: { rv-files: [ r.json ], central: { url: \"https://v\", key: k, attested: true },\n"
                           "  passport: { central: \"https://v\", attested: true } }\n",
                           &c), VMESH_OK);
    assert_true(c->central_attested);
    assert_true(c->passport_attested);
    assert_null(c->central_verifier_rv);
    vmesh_proxy_config_free(c);
    c = NULL;
    expect_error("verifier: { central: { url: \"https://v\", key: k, attested: true } }\n",
                 "verifier.central: attested without verifier-rv judges the verifier by the proxy's own reference");
    expect_error("verifier: { passport: { central: \"https://v\", attested: true } }\n",
                 "verifier.passport: attested without verifier-rv judges the verifier by the proxy's own reference");
    expect_error("verifier: { passport: { local-key: k, attested: true } }\n",
                 "attested, verifier-rv and tls-pin are about a central passport issuer");
    expect_error("verifier: { rv-files: [ r.json ], central: { url: \"https://v\", key: k, attested: maybe } }\n",
                 "verifier.central.attested");
    expect_error("verifier: { passport-issuers: [ { url: \"https://v\" } ] }\n", "url and key (its EAR public key)");
    expect_error("verifier: { passport-issuers: [ { url: \"http://v\", key: k, verifier-rv: r } ] }\n",
                 "is plain http://");
    expect_error("verifier: { passport: { local-key: k, verifier-rv: v.json } }\n",
                 "attested, verifier-rv and tls-pin are about a central passport issuer");
    expect_error("verifier: { central: { url: \"http://v\", key: k, cache: 10ms } }\n",
                 "verifier.central.cache: must be at least 1s");
    expect_error("verifier: { central: { url: \"https://v\", key: k, colour: red } }\n",
                 "verifier.central.colour: unknown key");
    expect_error("verifier: { central: \"http://v\" }\n", "verifier.central");
    expect_error("verifier: { ar-cache-slots: 0 }\n", "verifier.ar-cache-slots: \"0\" is not a number in 1..16777216");
    expect_error("verifier: { ar-cache-slots: many }\n", "verifier.ar-cache-slots: \"many\" is not a number");
}

static void required(void **state)
{
    vmesh_proxy_config *c = NULL;
    const char *no_identity = "inbound: [ { listen: 127.0.0.1:1, app: 127.0.0.1:2 } ]\n";
    const char *no_listener = "identity: { cert: a, key: b, bundle: c }\n";

    (void)state;
    assert_int_equal(vmesh_proxy_config_parse(no_identity, strlen(no_identity), "t.yaml", &c), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "identity: cert, key and bundle are required"));
    assert_int_equal(vmesh_proxy_config_parse(no_listener, strlen(no_listener), "t.yaml", &c), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "at least one inbound or outbound listener"));
    assert_int_equal(vmesh_proxy_config_parse("", 0, "t.yaml", &c), VMESH_ERR_PARSE);
    assert_int_equal(vmesh_proxy_config_load("/nonexistent/x.yaml", &c), VMESH_ERR_IO);
    assert_non_null(strstr(vmesh_err_detail(), "/nonexistent/x.yaml"));
}

/* inbound[].evidence (issue 13.4) and the handshake pool's limits (13.1). */
static void evidence_and_pool(void **state)
{
    vmesh_proxy_config *c = NULL;
    const char *y = "identity: { cert: /c.pem, key: /c.key, bundle: /b.pem }\n"
                    "inbound:\n"
                    "  - { name: pub, listen: 0.0.0.0:8443, app: 127.0.0.1:8000, evidence: "
                    "after-client-auth }\n"
                    "  - { name: mesh, listen: 127.0.0.1:8444, app: 127.0.0.1:8000, evidence: "
                    "at-hello, fresh-hello-rate: 3 }\n"
                    "  - { name: plain, listen: 127.0.0.1:8445, app: 127.0.0.1:8000 }\n"
                    "limits: { handshake-threads: 7, handshake-queue: 99 }\n";

    (void)state;
    assert_int_equal(vmesh_proxy_config_parse(y, strlen(y), "/etc/vmesh/t.yaml", &c), VMESH_OK);
    assert_true(c->in[0].evidence_after_auth);
    assert_false(c->in[1].evidence_after_auth);
    assert_false(c->in[2].evidence_after_auth); /* default: at the hello */
    /* fresh evidence at hello: default 10/s, burst twice the rate */
    assert_true(c->in[1].fresh_hello_rate == 3);
    assert_int_equal(c->in[1].fresh_hello_burst, 6);
    assert_true(c->in[2].fresh_hello_rate == 10);
    assert_int_equal(c->in[2].fresh_hello_burst, 20);
    assert_int_equal(c->hs_threads, 7);
    assert_int_equal(c->hs_queue, 99);
    vmesh_proxy_config_free(c);
    expect_error("limits: { handshake-threads: 257 }\n", "limits.handshake-threads");
    expect_error("limits: { handshake-queue: 0 }\n", "limits.handshake-queue");
    y = "identity: { cert: /c.pem, key: /c.key, bundle: /b.pem }\n"
        "inbound:\n"
        "  - { listen: 127.0.0.1:8443, app: 127.0.0.1:8000, evidence: later }\n";
    assert_int_equal(vmesh_proxy_config_parse(y, strlen(y), "/etc/vmesh/t.yaml", &c), VMESH_ERR_PARSE);
    assert_null(c);
    assert_non_null(strstr(vmesh_err_detail(), "inbound[0].evidence: must be after-client-auth or at-hello"));
    y = "identity: { cert: /c.pem, key: /c.key, bundle: /b.pem }\n"
        "inbound:\n"
        "  - { listen: 127.0.0.1:8443, app: 127.0.0.1:8000, fresh-hello-rate: 0 }\n";
    assert_int_equal(vmesh_proxy_config_parse(y, strlen(y), "/etc/vmesh/t.yaml", &c), VMESH_OK);
    assert_true(c->in[0].fresh_hello_rate == 0); /* no limit */
    vmesh_proxy_config_free(c);
    c = NULL;
    y = "identity: { cert: /c.pem, key: /c.key, bundle: /b.pem }\n"
        "inbound:\n"
        "  - { listen: 127.0.0.1:8443, app: 127.0.0.1:8000, fresh-hello-rate: 0.05 }\n";
    assert_int_equal(vmesh_proxy_config_parse(y, strlen(y), "/etc/vmesh/t.yaml", &c), VMESH_OK);
    assert_true(c->in[0].fresh_hello_rate == 0.05); /* one every 20 s */
    assert_int_equal(c->in[0].fresh_hello_burst, 1);
    vmesh_proxy_config_free(c);
    c = NULL;
    {
        static const char *const bad[] = {"-1", "1e9", "nan", "5/s", "0x10", "''"};
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            char doc[256];
            snprintf(doc, sizeof(doc),
                     "identity: { cert: /c.pem, key: /c.key, bundle: /b.pem }\n"
                     "inbound:\n  - { listen: 127.0.0.1:8443, app: 127.0.0.1:8000, "
                     "fresh-hello-rate: %s }\n",
                     bad[i]);
            assert_int_equal(vmesh_proxy_config_parse(doc, strlen(doc), "/etc/vmesh/t.yaml", &c),
                             VMESH_ERR_PARSE);
            assert_null(c);
            if (strstr(vmesh_err_detail(), "inbound[0].fresh-hello-rate") == NULL)
                fail_msg("fresh-hello-rate %s: error \"%s\"", bad[i], vmesh_err_detail());
        }
    }
    y = "identity: { cert: /c.pem, key: /c.key, bundle: /b.pem }\n"
        "inbound:\n"
        "  - { listen: 127.0.0.1:8443, app: 127.0.0.1:8000, fresh-hello-burst: 0 }\n";
    assert_int_equal(vmesh_proxy_config_parse(y, strlen(y), "/etc/vmesh/t.yaml", &c), VMESH_ERR_PARSE);
    assert_non_null(strstr(vmesh_err_detail(), "inbound[0].fresh-hello-burst"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults),
        cmocka_unit_test(evidence_and_pool),
        cmocka_unit_test(full),
        cmocka_unit_test(strict),
        cmocka_unit_test(central),
        cmocka_unit_test(reattestation),
        cmocka_unit_test(required),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
