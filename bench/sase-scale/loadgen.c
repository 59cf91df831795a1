/*
 * Load generator for bench/sase-scale: N simulated SASE clients open attested
 * mutual-TLS connections to one PoP (a `vmesh proxy` inbound in front of an
 * HTTP app) as fast as a bounded number of handshakes in flight allows, each
 * sends one HTTP request through the tunnel, and all connections stay open
 * until every client is up; then, optionally, a revocation is published and
 * the time until the PoP has closed every open connection is measured.
 *
 * Each simulated client is its own vmesh_agent: its own ephemeral AK, so its
 * evidence (whose nonce binds the AK) and its passport differ from every
 * other client's, and the PoP cannot serve a client from the AR cache entry
 * of another. The IAKs (platform keys) and SVIDs are shared round-robin from
 * a pool of K (issuing 10,000 of each would dominate the set-up). The
 * clients' relying-party side (the appraisal of the PoP's attestation) is
 * one shared agent, as if every client's local verifier had already seen the
 * PoP this epoch; a provider wrapper dispatches attest() to the client whose
 * connection is being driven (thread-local) and appraise() to the shared one.
 *
 * Latency of a client = from just before connect() to the first byte of the
 * HTTP response through the tunnel (TCP + TLS 1.3 + both attestations + the
 * PoP's connect to its app + the app's answer): what a user sees. The
 * handshake-complete time is reported too.
 *
 * In passport mode the clients fetch their passports from --central URL; an
 * https URL is the attested verifier link (DECISIONS D31) when --central-rv
 * names reference values for the verifier's own platform: the link is
 * attested once before the clients are prepared (and again whenever that
 * attestation is older than 30 s, as for any relying party), its TLS key
 * pinned, its attested EAR key the one the passports must carry. Or a
 * static --central-pin / --central-ca for https without attestation.
 *
 * Timing only: a benchmark driver, never a test, never part of libvmesh; it
 * counts as admitted only a complete HTTP 200 received through the tunnel.
 * Prints one JSON object on stdout.
 */
#define _GNU_SOURCE
#include "vmesh/agent.h"
#include "vmesh/service.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_THREADS 16
#define MAX_POOL 1000
#define MAX_PIDS 8
#define MAX_REVOKE 4
#define MAX_CLIENTS 100000
#define RESP_MAX 2048

typedef enum { M_LOCAL, M_CENTRAL, M_PASSPORT } bench_mode;
typedef enum { S_NEW, S_CONNECTING, S_HANDSHAKE, S_REQUEST, S_RESPONSE, S_OPEN, S_DONE } cstate;
typedef enum { R_NONE, R_ADMITTED, R_REFUSED, R_FAILED, R_TIMEOUT } cresult;

struct worker;

typedef struct {
    uint32_t id;
    int fd;
    cstate st;
    cresult res;
    bool closed_by_pop;
    vmesh_agent *agent;
    vmesh_atls_conn *conn;
    struct worker *w;
    uint64_t t_start, t_hs, t_first, t_closed;
    char resp[RESP_MAX];
    size_t resp_len, body_need;
    bool have_headers;
    char why[120];
} client;

typedef struct worker {
    pthread_t th;
    int ep;
    client **fly; /* handshakes in flight */
    size_t nfly, cap;
} worker;

/* ---- options and shared state ---------------------------------------------------- */

static const char *dir = ".", *host = "127.0.0.1", *peer = NULL, *central_url = NULL, *out_path = NULL;
static int port, nthreads = 2, inflight = 256, pool = 100, prep_threads = 4;
static size_t nclients = 1000;
static bench_mode mode = M_LOCAL;
static double max_seconds = 120, conn_timeout = 60, revoke_gap = 5, revoke_timeout = 60, hold = 0;
static const char *revoke_cmd[MAX_REVOKE];
/* --after-establish CMD: run once the establishment phase's CPU sample is
 * taken, before the hold and the revocation (e.g. a snapshot of the
 * verifier's counters, so that they can be split by phase). */
static const char *after_establish_cmd;
static int nrevoke;
static bool reattest; /* --reattest on: offer in-band re-attestation (the PoP asks, clients answer) */
static const char *bell_path; /* --bell FILE (default DIR/bell/bell.cwt) */
/* The passport link (see the top): --central-rv FILE, --central-pin
 * sha256//..., --central-ca FILE */
static const char *central_rv, *central_pin, *central_ca;
static struct {
    const char *name;
    int pid;
} pids[MAX_PIDS];
static int npids;

static client *clients;
static vmesh_atls_config *cfgs[MAX_POOL];
static vmesh_kv kvs[MAX_POOL][3];
static char *kv_iak[MAX_POOL];
static char kv_claims[700], kv_measure[720];
static vmesh_rv_store *rv;
static vmesh_key *bell_key;
static vmesh_bell_view *bell;
static vmesh_verifier *rp_verifier;
static vmesh_policy *rp_policy;
static vmesh_agent *rp_agent;
static vmesh_atls_provider rp_prov;
static vmesh_err (*agent_attest_fn)(void *, const vmesh_atls_attest_in *, vmesh_atls_msg *);
static vmesh_service_client svc;
static worker workers[MAX_THREADS];

static atomic_size_t next_client, n_done, n_admitted, n_refused, n_failed, n_closed;
static atomic_bool stop_starting, stop_all;
static _Thread_local client *cur;

static const char request[] = "GET / HTTP/1.1\r\nHost: pop.sase.example\r\nUser-Agent: vmesh-sase-loadgen\r\n\r\n";

static void die(const char *what)
{
    fprintf(stderr, "sase-loadgen: %s: %s\n", what, vmesh_err_detail());
    exit(1);
}

/* DIR/name, or DIR/<prefix><i><suffix> for i >= 0 (pool files: iak-3.pem). */
static const char *P(const char *name)
{
    static _Thread_local char buf[4][700];
    static _Thread_local int k;
    char *p = buf[k++ % 4];

    snprintf(p, 700, "%s/%s", dir, name);
    return p;
}

static const char *PI(const char *prefix, int i, const char *suffix)
{
    char name[128];

    snprintf(name, sizeof(name), "%s%d%s", prefix, i, suffix);
    return P(name);
}

static uint64_t now_ns(void)
{
    return vmesh_time_mono_ns();
}

/* ---- the provider wrapper ---------------------------------------------------------- */

static vmesh_err disp_attest(void *ctx, const vmesh_atls_attest_in *in, vmesh_atls_msg *msg)
{
    (void)ctx;
    if (cur == NULL || cur->agent == NULL)
        return vmesh_err_set(VMESH_ERR_STATE, "sase-loadgen: attest outside a client's turn");
    return agent_attest_fn(cur->agent, in, msg);
}

static vmesh_err disp_appraise(void *ctx, const vmesh_atls_appraise_in *in, vmesh_atls_peer_result *out,
                               vmesh_atls_reason *reason)
{
    (void)ctx;
    return rp_prov.appraise(rp_prov.ctx, in, out, reason);
}

/* ---- set-up -------------------------------------------------------------------------- */

static void setup_shared(void)
{
    vmesh_verifier_config vc;
    vmesh_agent_config ac;
    vmesh_atls_provider prov;
    vmesh_buf b = {0};

    if (vmesh_rv_store_new(&rv) || vmesh_verifier_load_rv_file(rv, P("pop-rv.json"), NULL))
        die("the PoP's reference values (pop-rv.json)");
    vmesh_rv_store_freeze(rv);
    memset(&vc, 0, sizeof(vc));
    if (vmesh_verifier_new(&vc, &rp_verifier))
        die("verifier");
    vmesh_verifier_set_rv(rp_verifier, rv);
    if (vmesh_crypto_key_load(P("bell.pub"), &bell_key) || vmesh_bell_view_new(bell_key, &bell) ||
        vmesh_file_read((bell_path ? bell_path : P("bell/bell.cwt")), 0, &b) ||
        vmesh_bell_view_update(bell, (const char *)b.data, b.len, vmesh_time_now()))
        die("epoch bell (bell.pub, bell/bell.cwt)");
    vmesh_buf_free(&b);
    if (vmesh_policy_load(P("client-policy.json"), &rp_policy))
        die("client-policy.json");
    memset(&ac, 0, sizeof(ac));
    ac.verifier = rp_verifier;
    ac.policy = rp_policy;
    ac.bell = bell;
    if (vmesh_agent_new(&ac, &rp_agent))
        die("the clients' relying-party agent");
    vmesh_agent_provider(rp_agent, &rp_prov);
    snprintf(kv_claims, sizeof(kv_claims), "%s", P("claims.json"));
    snprintf(kv_measure, sizeof(kv_measure), "workload=%s", P("workload"));
    svc.url = central_url;
    svc.timeout_ms = 30000;
    svc.tls_pin = central_pin;
    svc.ca_file = central_ca;
    if (central_rv != NULL) {
        svc.verifier_rv = central_rv;
        if (vmesh_service_client_attest_init(&svc))
            die("the verifier link (--central-rv)");
        /* attested now, so that a refused verifier stops the run here and
         * not in the middle of the clients' preparation */
        if (mode == M_PASSPORT && vmesh_service_client_attest(&svc, NULL))
            die("the central verifier's attestation (--central-rv)");
    }
    for (int k = 0; k < pool; k++) {
        kv_iak[k] = strdup(PI("iak-", k, ".pem"));
        if (kv_iak[k] == NULL)
            die("out of memory");
        kvs[k][0].key = "iak";
        kvs[k][0].value = kv_iak[k];
        kvs[k][1].key = "claims";
        kvs[k][1].value = kv_claims;
        kvs[k][2].key = "measure";
        kvs[k][2].value = kv_measure;
        prov = rp_prov;
        prov.ctx = NULL;
        prov.attest = disp_attest;
        prov.appraise = disp_appraise;
        prov.will_attest = true;
        prov.attest_modes = VMESH_ATLS_MODE_BIT(mode == M_PASSPORT ? VMESH_ATLS_MODE_PASSPORT
                                                                   : VMESH_ATLS_MODE_EPOCH_FRESH);
        if (vmesh_atls_config_new(VMESH_ATLS_CLIENT, &cfgs[k]) ||
            vmesh_atls_config_set_svid(cfgs[k], PI("cli-", k, "-chain.pem"), PI("cli-", k, ".key")) ||
            vmesh_atls_config_set_bundle(cfgs[k], P("ca/bundle.pem")) ||
            (peer != NULL && vmesh_atls_config_set_peer_pattern(cfgs[k], peer)) ||
            vmesh_atls_config_set_provider(cfgs[k], &prov))
            die("client atls configuration");
        vmesh_atls_config_set_resumption(cfgs[k], false);
        vmesh_atls_config_set_reattest(cfgs[k], reattest);
        vmesh_atls_config_set_deadline_ms(cfgs[k], (uint32_t)(conn_timeout * 1000));
    }
}

/* Creates client i's agent and prepares its attestation (the evidence for
 * the current tick, or its passport from the central verifier) by the same
 * call the handshake makes, over a throw-away binder: a running client has
 * it ready before it connects. */
static void prep_client(size_t i)
{
    client *c = &clients[i];
    vmesh_agent_config ac;
    vmesh_atls_provider p;
    vmesh_atls_attest_in in;
    vmesh_atls_ext ext;
    vmesh_atls_msg msg;
    uint8_t binder[32];
    size_t k = i % (size_t)pool;

    c->id = (uint32_t)i;
    c->fd = -1;
    memset(&ac, 0, sizeof(ac));
    ac.platform = "psa";
    ac.platform_cfg = kvs[k];
    ac.n_platform_cfg = 3;
    ac.attest_modes =
        VMESH_ATLS_MODE_BIT(mode == M_PASSPORT ? VMESH_ATLS_MODE_PASSPORT : VMESH_ATLS_MODE_EPOCH_FRESH);
    ac.bell = bell;
    ac.cache_slots = 1;
    if (mode == M_PASSPORT) {
        ac.passport = vmesh_service_passport_client;
        ac.passport_ctx = &svc;
    }
    if (vmesh_agent_new(&ac, &c->agent))
        die("client agent");
    vmesh_agent_provider(c->agent, &p);
    agent_attest_fn = p.attest;
    memset(&in, 0, sizeof(in));
    memset(&ext, 0, sizeof(ext));
    if (vmesh_crypto_random(binder, sizeof(binder)))
        die("random");
    in.role = VMESH_ATLS_CLIENT;
    in.mode = mode == M_PASSPORT ? VMESH_ATLS_MODE_PASSPORT : VMESH_ATLS_MODE_EPOCH_FRESH;
    in.binder = binder;
    in.peer = &ext;
    vmesh_atls_msg_init(&msg);
    msg.role = VMESH_ATLS_CLIENT;
    if (p.attest(p.ctx, &in, &msg) != VMESH_OK) {
        fprintf(stderr, "sase-loadgen: client %zu: preparing its attestation: %s\n", i, vmesh_err_detail());
        exit(1);
    }
    vmesh_atls_msg_free(&msg);
}

static atomic_size_t prep_next;

static void *prep_thread(void *arg)
{
    size_t i;

    (void)arg;
    while ((i = atomic_fetch_add(&prep_next, 1)) < nclients)
        prep_client(i);
    return NULL;
}

/* ---- connections ------------------------------------------------------------------- */

static void fly_remove(worker *w, client *c)
{
    for (size_t i = 0; i < w->nfly; i++)
        if (w->fly[i] == c) {
            w->fly[i] = w->fly[--w->nfly];
            return;
        }
}

static void finish_conn(client *c)
{
    if (c->conn != NULL) {
        vmesh_atls_free(c->conn);
        c->conn = NULL;
    }
    if (c->fd >= 0) {
        epoll_ctl(c->w->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
}

/* The establishment of client c ended (admitted or not). */
static void settle(client *c, cresult r, const char *why)
{
    c->res = r;
    if (why != NULL && c->why[0] == '\0')
        snprintf(c->why, sizeof(c->why), "%s", why);
    fly_remove(c->w, c);
    if (r == R_ADMITTED) {
        c->st = S_OPEN;
        atomic_fetch_add(&n_admitted, 1);
    } else {
        c->st = S_DONE;
        finish_conn(c);
        atomic_fetch_add(r == R_REFUSED ? &n_refused : &n_failed, 1);
    }
    atomic_fetch_add_explicit(&n_done, 1, memory_order_release);
}

static void fail_atls(client *c, vmesh_err rc, const char *stage)
{
    const char *m = NULL;
    bool by_peer = false;
    vmesh_atls_reason r = c->conn ? vmesh_atls_failure(c->conn, &m, &by_peer) : VMESH_ATLS_R_NONE;
    char why[sizeof(c->why)];

    if (r != VMESH_ATLS_R_NONE)
        snprintf(why, sizeof(why), "%s: %s%s: %.80s", stage, by_peer ? "refused by the PoP: " : "",
                 vmesh_atls_reason_name(r), m ? m : "");
    else
        snprintf(why, sizeof(why), "%s: %.100s", stage, vmesh_err_detail());
    settle(c, rc == VMESH_ERR_TIMEOUT ? R_TIMEOUT : (r != VMESH_ATLS_R_NONE && by_peer) ? R_REFUSED : R_FAILED,
           why);
}

/* Parses the response head once complete; returns false on a bad answer. */
static bool response_progress(client *c)
{
    char *end, *cl;
    long n;

    if (!c->have_headers) {
        c->resp[c->resp_len] = '\0';
        end = strstr(c->resp, "\r\n\r\n");
        if (end == NULL)
            return c->resp_len < RESP_MAX - 1;
        if (strncmp(c->resp, "HTTP/1.1 200", 12) != 0)
            return false;
        cl = strcasestr(c->resp, "\r\nContent-Length:");
        if (cl == NULL || cl > end)
            return false;
        errno = 0;
        n = strtol(cl + 17, NULL, 10);
        if (errno != 0 || n < 0 || n > 1 << 20)
            return false;
        c->have_headers = true;
        c->body_need = (size_t)n;
        c->resp_len -= (size_t)(end + 4 - c->resp); /* body bytes already here */
    }
    return true;
}

/* Reads what the tunnel has; returns false when the connection ended (c settled or closed). */
static bool read_some(client *c)
{
    char buf[4096];

    for (;;) {
        size_t got = 0;
        vmesh_err rc = vmesh_atls_read(c->conn, buf, sizeof(buf), &got);
        if (rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE)
            return true;
        if (rc != VMESH_OK) {
            if (c->st == S_OPEN) {
                c->t_closed = now_ns();
                c->closed_by_pop = true;
                c->st = S_DONE;
                finish_conn(c);
                atomic_fetch_add_explicit(&n_closed, 1, memory_order_release);
            } else if (rc == VMESH_ERR_POLICY) {
                fail_atls(c, rc, "response");
            } else {
                char why[100];
                snprintf(why, sizeof(why), "response: connection ended (%.70s)", vmesh_err_detail());
                settle(c, R_FAILED, why);
            }
            return false;
        }
        if (c->st != S_RESPONSE)
            continue; /* unexpected bytes on an open connection: ignore */
        if (c->t_first == 0)
            c->t_first = now_ns();
        if (!c->have_headers) {
            size_t take = got < RESP_MAX - 1 - c->resp_len ? got : RESP_MAX - 1 - c->resp_len;
            memcpy(c->resp + c->resp_len, buf, take);
            c->resp_len += take;
        } else {
            c->resp_len += got;
        }
        if (!response_progress(c)) {
            settle(c, R_FAILED, "response: not an HTTP 200 with a Content-Length");
            return false;
        }
        if (c->have_headers && c->resp_len >= c->body_need)
            settle(c, R_ADMITTED, NULL);
    }
}

static void drive(client *c)
{
    vmesh_err rc;

    cur = c;
    for (;;) {
        switch (c->st) {
        case S_CONNECTING: {
            int err = 0;
            socklen_t len = sizeof(err);
            if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
                err = errno;
            if (err == EINPROGRESS || err == EALREADY)
                goto out;
            if (err != 0) {
                char why[80];
                snprintf(why, sizeof(why), "connect: %s", strerror(err));
                settle(c, R_FAILED, why);
                goto out;
            }
            if (vmesh_atls_conn_new(cfgs[c->id % (uint32_t)pool], c->fd, &c->conn) != VMESH_OK) {
                fail_atls(c, VMESH_ERR_STATE, "atls");
                goto out;
            }
            c->st = S_HANDSHAKE;
            break;
        }
        case S_HANDSHAKE:
            rc = vmesh_atls_handshake(c->conn);
            if (rc == VMESH_ERR_WANT_READ || rc == VMESH_ERR_WANT_WRITE)
                goto out;
            if (rc != VMESH_OK) {
                fail_atls(c, rc, "handshake");
                goto out;
            }
            c->t_hs = now_ns();
            if (vmesh_atls_write(c->conn, request, sizeof(request) - 1) != VMESH_OK) {
                fail_atls(c, VMESH_ERR_IO, "request");
                goto out;
            }
            c->st = S_REQUEST;
            break;
        case S_REQUEST:
            rc = vmesh_atls_flush(c->conn);
            if (rc == VMESH_ERR_WANT_WRITE)
                goto out;
            if (rc != VMESH_OK) {
                fail_atls(c, rc, "request");
                goto out;
            }
            c->st = S_RESPONSE;
            break;
        case S_RESPONSE:
        case S_OPEN:
            (void)read_some(c);
            goto out;
        default: goto out;
        }
    }
out:
    cur = NULL;
}

static void start_client(worker *w, client *c)
{
    struct sockaddr_in a;
    struct epoll_event ev;
    int one = 1;

    c->w = w;
    c->t_start = now_ns();
    w->fly[w->nfly++] = c;
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        char why[80];
        snprintf(why, sizeof(why), "socket: %s", strerror(errno));
        settle(c, R_FAILED, why);
        return;
    }
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, host, &a.sin_addr);
    memset(&ev, 0, sizeof(ev));
    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
    ev.data.ptr = c;
    if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0 ||
        (connect(c->fd, (struct sockaddr *)&a, sizeof(a)) != 0 && errno != EINPROGRESS)) {
        char why[80];
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        settle(c, R_FAILED, why);
        return;
    }
    c->st = S_CONNECTING;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct epoll_event evs[256];
    uint64_t last_scan = now_ns();

    while (!atomic_load(&stop_all)) {
        size_t i;
        while (w->nfly < w->cap && !atomic_load(&stop_starting) &&
               (i = atomic_fetch_add(&next_client, 1)) < nclients)
            start_client(w, &clients[i]);
        int n = epoll_wait(w->ep, evs, 256, 20);
        for (int k = 0; k < n; k++)
            drive(evs[k].data.ptr);
        if (now_ns() - last_scan > 100000000u) {
            uint64_t t = now_ns();
            last_scan = t;
            for (size_t j = 0; j < w->nfly;) {
                client *c = w->fly[j];
                if (t - c->t_start > (uint64_t)(conn_timeout * 1e9)) {
                    settle(c, R_TIMEOUT, "no answer within the connection timeout");
                    continue; /* c was swapped out of slot j */
                }
                j++;
            }
        }
    }
    return NULL;
}

/* ---- measurement helpers -------------------------------------------------------------- */

static double proc_cpu(int pid)
{
    char path[64], buf[1024], *p;
    FILE *f;
    size_t n;
    unsigned long long ut = 0, st = 0;

    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    p = strrchr(buf, ')');
    /* after ")": state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15) */
    if (p == NULL || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double self_cpu(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           (double)ru.ru_stime.tv_usec / 1e6;
}

/* Busy CPU seconds of the whole machine (/proc/stat), to tell how much
 * other processes took while we measured. */
static double machine_cpu(void)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    int n = 0;

    if (f != NULL) {
        n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5],
                   &v[6], &v[7]);
        fclose(f);
    }
    if (n != 8)
        return -1;
    /* user nice system idle iowait irq softirq steal: all but idle and iowait */
    return (double)(v[0] + v[1] + v[2] + v[5] + v[6] + v[7]) / (double)sysconf(_SC_CLK_TCK);
}

typedef struct {
    double v[MAX_PIDS + 2];
} cpu_snap;

static void cpu_take(cpu_snap *s)
{
    for (int i = 0; i < npids; i++)
        s->v[i] = proc_cpu(pids[i].pid);
    s->v[npids] = self_cpu();
    s->v[npids + 1] = machine_cpu();
}

/* Prints {"name": seconds, ...} of b - a, summed per name, and "loadgen". */
static void cpu_print(FILE *f, const cpu_snap *a, const cpu_snap *b)
{
    bool seen[MAX_PIDS] = {false};

    fputc('{', f);
    for (int i = 0; i < npids; i++) {
        double sum = 0;
        if (seen[i])
            continue;
        for (int j = i; j < npids; j++)
            if (strcmp(pids[j].name, pids[i].name) == 0) {
                seen[j] = true;
                sum += b->v[j] - a->v[j];
            }
        fprintf(f, "\"%s\": %.3f, ", pids[i].name, sum);
    }
    double ours = b->v[npids] - a->v[npids];
    for (int i = 0; i < npids; i++)
        ours += b->v[i] - a->v[i];
    /* "other": what the rest of the machine used meanwhile (noise). */
    fprintf(f, "\"loadgen\": %.3f, \"other\": %.3f}", b->v[npids] - a->v[npids],
            b->v[npids + 1] - a->v[npids + 1] - ours);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double pct_ms(const uint64_t *v, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return 0;
    i = (size_t)(p * (double)(n - 1) + 0.5);
    return (double)v[i] / 1e6;
}

static size_t open_count(void)
{
    return atomic_load(&n_admitted) - atomic_load_explicit(&n_closed, memory_order_acquire);
}

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_sase_loadgen --dir DIR --port PORT --mode local|central|passport -n N\n"
            "       [--host ADDR] [--peer SPIFFE] [--central URL] [--central-rv FILE]\n"
            "       [--central-pin sha256//B64] [--central-ca FILE] [--pool K] [--threads T]\n"
            "       [--inflight K] [--prep-threads T] [--max-seconds S] [--conn-timeout S]\n"
            "       [--pid NAME=PID ...] [--revoke CMD ...] [--revoke-gap S] [--revoke-timeout S]\n"
            "       [--hold S] [--reattest on] [--bell FILE] [--out FILE] [--after-establish CMD]\n");
    exit(2);
}

static double num(const char *s, double lo, double hi)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "sase-loadgen: bad number \"%s\"\n", s);
        usage();
    }
    return v;
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (v == NULL)
            usage();
        i++;
        if (strcmp(o, "--dir") == 0)
            dir = v;
        else if (strcmp(o, "--port") == 0)
            port = (int)num(v, 1, 65535);
        else if (strcmp(o, "--host") == 0)
            host = v;
        else if (strcmp(o, "--peer") == 0)
            peer = v;
        else if (strcmp(o, "--central") == 0)
            central_url = v;
        else if (strcmp(o, "--central-rv") == 0)
            central_rv = v;
        else if (strcmp(o, "--central-pin") == 0)
            central_pin = v;
        else if (strcmp(o, "--central-ca") == 0)
            central_ca = v;
        else if (strcmp(o, "-n") == 0)
            nclients = (size_t)num(v, 1, MAX_CLIENTS);
        else if (strcmp(o, "--pool") == 0)
            pool = (int)num(v, 1, MAX_POOL);
        else if (strcmp(o, "--threads") == 0)
            nthreads = (int)num(v, 1, MAX_THREADS);
        else if (strcmp(o, "--prep-threads") == 0)
            prep_threads = (int)num(v, 1, 64);
        else if (strcmp(o, "--inflight") == 0)
            inflight = (int)num(v, 1, 65536);
        else if (strcmp(o, "--max-seconds") == 0)
            max_seconds = num(v, 0.1, 86400);
        else if (strcmp(o, "--conn-timeout") == 0)
            conn_timeout = num(v, 0.1, 3600);
        else if (strcmp(o, "--revoke-gap") == 0)
            revoke_gap = num(v, 0, 3600);
        else if (strcmp(o, "--revoke-timeout") == 0)
            revoke_timeout = num(v, 0.1, 3600);
        else if (strcmp(o, "--hold") == 0)
            hold = num(v, 0, 3600);
        else if (strcmp(o, "--reattest") == 0)
            reattest = strcmp(v, "on") == 0;
        else if (strcmp(o, "--bell") == 0)
            bell_path = v;
        else if (strcmp(o, "--out") == 0)
            out_path = v;
        else if (strcmp(o, "--after-establish") == 0)
            after_establish_cmd = v;
        else if (strcmp(o, "--revoke") == 0 && nrevoke < MAX_REVOKE)
            revoke_cmd[nrevoke++] = v;
        else if (strcmp(o, "--pid") == 0 && npids < MAX_PIDS && strchr(v, '=') != NULL) {
            char *eq = strchr(v, '=');
            *eq = '\0';
            pids[npids].name = v;
            pids[npids++].pid = (int)num(eq + 1, 1, 1e9);
        } else if (strcmp(o, "--mode") == 0) {
            if (strcmp(v, "local") == 0)
                mode = M_LOCAL;
            else if (strcmp(v, "central") == 0)
                mode = M_CENTRAL;
            else if (strcmp(v, "passport") == 0)
                mode = M_PASSPORT;
            else
                usage();
        } else {
            usage();
        }
    }
    if (port == 0 || (mode == M_PASSPORT && central_url == NULL))
        usage();
}

/* With --reattest the clients follow the bell (their attestations, and in
 * passport mode their passports, bind to its ticks; their relying party
 * judges the PoP's): bell/bell.cwt is re-read at most every 200 ms. */
static void bell_refresh(void)
{
    static uint64_t last;
    vmesh_buf b = {0};

    if (!reattest || now_ns() - last < 200000000u)
        return;
    last = now_ns();
    if (vmesh_file_read((bell_path ? bell_path : P("bell/bell.cwt")), 0, &b) != VMESH_OK ||
        vmesh_bell_view_update(bell, (const char *)b.data, b.len, vmesh_time_now()) != VMESH_OK)
        vmesh_err_clear(); /* the same tick again, or a half-written file: the next read */
    vmesh_buf_free(&b);
}

/* Sleeps ms in steps of at most 200 ms, following the bell meanwhile. */
static void sleep_following_bell(long ms)
{
    while (ms > 0) {
        long step = ms < 200 ? ms : 200;
        sleep_ms(step);
        ms -= step;
        bell_refresh();
    }
}

/* ---- main ----------------------------------------------------------------------------- */

int main(int argc, char **argv)
{
    static const char *mode_names[] = {"local", "central", "passport"};
    struct rlimit rl;
    pthread_t prep[64];
    cpu_snap c0, c1, c2, c3;
    uint64_t t_prep, t_est0, t_est1, t_first_start = UINT64_MAX, t_last_ok = 0;
    uint64_t *lat, *hs, *closes;
    size_t nlat = 0, nclose = 0, open_before[MAX_REVOKE] = {0};
    double rv_at[MAX_REVOKE] = {0};
    uint64_t t_rv[MAX_REVOKE] = {0};
    FILE *f = stdout;

    parse_args(argc, argv);
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        if (rl.rlim_cur < nclients + 64)
            fprintf(stderr, "sase-loadgen: warning: RLIMIT_NOFILE %llu < %zu clients\n",
                    (unsigned long long)rl.rlim_cur, nclients);
    }
    clients = calloc(nclients, sizeof(*clients));
    lat = calloc(nclients, sizeof(*lat));
    hs = calloc(nclients, sizeof(*hs));
    closes = calloc(nclients, sizeof(*closes));
    if (clients == NULL || lat == NULL || hs == NULL || closes == NULL)
        die("out of memory");
    setup_shared();

    /* Prepare every client (agent, AK, evidence or passport) in parallel. */
    cpu_take(&c0);
    t_prep = now_ns();
    for (int t = 0; t < prep_threads; t++)
        if (pthread_create(&prep[t], NULL, prep_thread, NULL) != 0)
            die("pthread_create");
    for (int t = 0; t < prep_threads; t++)
        pthread_join(prep[t], NULL);
    t_prep = now_ns() - t_prep;

    /* Establishment. */
    cpu_take(&c1);
    t_est0 = now_ns();
    for (int t = 0; t < nthreads; t++) {
        worker *w = &workers[t];
        w->cap = (size_t)((inflight + nthreads - 1) / nthreads);
        w->fly = calloc(w->cap, sizeof(*w->fly));
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        if (w->fly == NULL || w->ep < 0 || pthread_create(&w->th, NULL, worker_main, w) != 0)
            die("worker");
    }
    for (;;) {
        size_t done = atomic_load_explicit(&n_done, memory_order_acquire);
        if (done >= nclients)
            break;
        if (!atomic_load(&stop_starting) && (double)(now_ns() - t_est0) / 1e9 > max_seconds) {
            /* Time-bounded: start no more; let the ones in flight finish.
             * A worker may have passed its check just before: give it time. */
            atomic_store(&stop_starting, true);
            sleep_ms(50);
        }
        if (atomic_load(&stop_starting)) {
            size_t started = atomic_load(&next_client);
            if (done >= (started < nclients ? started : nclients))
                break;
        }
        sleep_ms(5);
        bell_refresh();
    }
    atomic_store(&stop_starting, true);
    t_est1 = now_ns();
    cpu_take(&c2);
    if (after_establish_cmd != NULL && system(after_establish_cmd) != 0)
        fprintf(stderr, "sase-loadgen: --after-establish command failed\n");

    /* Hold, then revocation. */
    if (hold > 0)
        sleep_following_bell((long)(hold * 1000));
    for (int r = 0; r < nrevoke; r++) {
        int st;
        if (r > 0) {
            /* The next command only when connections are still open
             * after the gap (e.g. passports: one epoch of lag tolerated). */
            uint64_t until = now_ns() + (uint64_t)(revoke_gap * 1e9);
            while (now_ns() < until && open_count() > 0)
                sleep_following_bell(10);
            if (open_count() == 0) {
                nrevoke = r;
                break;
            }
        }
        open_before[r] = open_count();
        t_rv[r] = now_ns();
        st = system(revoke_cmd[r]);
        rv_at[r] = (double)(now_ns() - t_rv[r]) / 1e9;
        if (st != 0)
            fprintf(stderr, "sase-loadgen: revocation command %d exited with status %d\n", r + 1, st);
    }
    if (nrevoke > 0) {
        uint64_t until = now_ns() + (uint64_t)(revoke_timeout * 1e9);
        while (now_ns() < until && open_count() > 0)
            sleep_following_bell(10);
    }
    cpu_take(&c3);
    atomic_store(&stop_all, true);
    for (int t = 0; t < nthreads; t++)
        pthread_join(workers[t].th, NULL);

    /* Results. */
    size_t started = atomic_load(&next_client) < nclients ? atomic_load(&next_client) : nclients;
    for (size_t i = 0; i < started; i++) {
        client *c = &clients[i];
        if (c->t_start != 0 && c->t_start < t_first_start)
            t_first_start = c->t_start;
        if (c->res == R_ADMITTED) {
            lat[nlat] = c->t_first - c->t_start;
            hs[nlat++] = c->t_hs - c->t_start;
            if (c->t_first > t_last_ok)
                t_last_ok = c->t_first;
            /* Revocation: closing time from the first command; the
             * convergence is also given from the last one. */
            if (c->closed_by_pop && nrevoke > 0 && c->t_closed >= t_rv[0])
                closes[nclose++] = c->t_closed - t_rv[0];
        }
    }
    qsort(lat, nlat, sizeof(*lat), cmp_u64);
    qsort(hs, nlat, sizeof(*hs), cmp_u64);
    qsort(closes, nclose, sizeof(*closes), cmp_u64);
    if (out_path != NULL && (f = fopen(out_path, "w")) == NULL)
        die("--out");
    double est_s = (double)(t_est1 - t_est0) / 1e9;
    double ok_window = t_last_ok > t_first_start ? (double)(t_last_ok - t_first_start) / 1e9 : 0;
    fprintf(f, "{\"mode\": \"%s\", \"n\": %zu, \"threads\": %d, \"inflight\": %d, \"pool\": %d, ", mode_names[mode],
            nclients, nthreads, inflight, pool);
    fprintf(f, "\"prep_s\": %.3f, \"prep_cpu\": ", (double)t_prep / 1e9);
    cpu_print(f, &c0, &c1);
    fprintf(f, ", \"attempted\": %zu, \"admitted\": %zu, \"refused\": %zu, \"failed\": %zu, ", started,
            atomic_load(&n_admitted), atomic_load(&n_refused), atomic_load(&n_failed));
    fprintf(f, "\"establish_s\": %.3f, \"admitted_per_s\": %.1f, ", est_s,
            ok_window > 0 ? (double)nlat / ok_window : 0.0);
    fprintf(f, "\"p50_ms\": %.2f, \"p99_ms\": %.2f, \"max_ms\": %.2f, ", pct_ms(lat, nlat, 0.5),
            pct_ms(lat, nlat, 0.99), nlat ? (double)lat[nlat - 1] / 1e6 : 0.0);
    fprintf(f, "\"hs_p50_ms\": %.2f, \"hs_p99_ms\": %.2f, \"establish_cpu\": ", pct_ms(hs, nlat, 0.5),
            pct_ms(hs, nlat, 0.99));
    cpu_print(f, &c1, &c2);
    fprintf(f, ", \"open_after_establish\": %zu", (size_t)(atomic_load(&n_admitted)));
    if (nrevoke > 0) {
        fprintf(f, ", \"revocation\": {\"commands\": [");
        for (int r = 0; r < nrevoke; r++)
            fprintf(f, "%s{\"open_before\": %zu, \"at_s\": %.3f, \"took_s\": %.3f}", r ? ", " : "", open_before[r],
                    (double)(t_rv[r] - t_rv[0]) / 1e9, rv_at[r]);
        fprintf(f, "], \"closed\": %zu, \"still_open\": %zu, ", nclose, open_count());
        double last_cmd = (double)(t_rv[nrevoke - 1] - t_rv[0]) / 1e9;
        fprintf(f, "\"p50_s\": %.3f, \"max_s\": %.3f, \"max_from_last_s\": %.3f, \"cpu\": ",
                pct_ms(closes, nclose, 0.5) / 1e3, nclose ? (double)closes[nclose - 1] / 1e9 : -1.0,
                nclose ? (double)closes[nclose - 1] / 1e9 - last_cmd : -1.0);
        cpu_print(f, &c2, &c3);
        fputc('}', f);
    }
    /* The most frequent failure reasons (first 5 distinct). */
    fprintf(f, ", \"failures\": [");
    {
        const char *seen[5];
        size_t cnt[5] = {0}, ns = 0;
        for (size_t i = 0; i < started; i++) {
            client *c = &clients[i];
            size_t j;
            if (c->res == R_ADMITTED || c->why[0] == '\0')
                continue;
            for (j = 0; j < ns && strcmp(seen[j], c->why) != 0; j++)
                ;
            if (j == ns && ns < 5)
                seen[ns++] = c->why;
            if (j < ns)
                cnt[j]++;
        }
        for (size_t j = 0; j < ns; j++) {
            fprintf(f, "%s{\"count\": %zu, \"why\": \"", j ? ", " : "", cnt[j]);
            for (const char *p = seen[j]; *p; p++)
                fputc(*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ? '\'' : *p, f);
            fprintf(f, "\"}");
        }
    }
    fprintf(f, "]}\n");
    if (f != stdout)
        fclose(f);

    /* Clean-up (the sanitizer build checks for leaks). */
    for (size_t i = 0; i < nclients; i++) {
        client *c = &clients[i];
        if (c->w != NULL)
            finish_conn(c);
        vmesh_agent_free(c->agent);
    }
    for (int t = 0; t < nthreads; t++) {
        close(workers[t].ep);
        free(workers[t].fly);
    }
    for (int k = 0; k < pool; k++) {
        vmesh_atls_config_free(cfgs[k]);
        free(kv_iak[k]);
    }
    vmesh_service_client_attest_free(&svc);
    vmesh_agent_free(rp_agent);
    vmesh_policy_free(rp_policy);
    vmesh_verifier_free(rp_verifier);
    vmesh_rv_store_free(rv);
    vmesh_bell_view_free(bell);
    vmesh_crypto_key_free(bell_key);
    free(clients);
    free(lat);
    free(hs);
    free(closes);
    return 0;
}
