/*
 * bench/central-cost relying-party driver: what a central-mode PoP does per
 * verification (src/agent/rp.c ask_central), in a loop: the central client
 * (vmesh_service_central_client: the one-request appraisal over the
 * process's keep-alive connection cache), then the EAR's signature and
 * claims (vmesh_ear_verify) and its answer to this question
 * (vmesh_ear_check_answer: nonce, the scheme's submodule), the key's
 * thumbprint the result is recorded under, then the submodule's trust
 * vector. -n COUNT verifications over the evidence files
 * DIR/ev-<i>.cose with DIR/nonce-<i>.txt (base64url), i < FILES, in turn,
 * on -t THREADS threads at once (one client, as a PoP's handshake pool).
 * Counts only affirming answers as done, so a broken set-up cannot look
 * cheap. Prints one JSON line. Run under callgrind for instructions per
 * verification (bench/central-cost/run.sh). -r VERIFIER_RV: the attested
 * https link of D31 (the verifier attested once under those reference
 * values, its TLS key pinned); then answers come channel-bound (D51)
 * unless -s (signed answers). Not part of libvmesh.
 */
#include "vmesh/jose.h"
#include "vmesh/schemes.h"
#include "vmesh/service.h"

#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_FILES 64

static _Atomic long n_channel; /* answers that came channel-bound (D51) */

typedef struct {
    vmesh_buf ev;
    vmesh_buf nonce;
} ev_file;

static int load_files(const char *dir, int n, ev_file *f)
{
    for (int i = 0; i < n; i++) {
        char path[4096];
        vmesh_buf b64 = {0};
        snprintf(path, sizeof(path), "%s/ev-%d.cose", dir, i);
        if (vmesh_file_read(path, 1 << 20, &f[i].ev) != VMESH_OK)
            return -1;
        snprintf(path, sizeof(path), "%s/nonce-%d.txt", dir, i);
        if (vmesh_file_read(path, 1024, &b64) != VMESH_OK)
            return -1;
        while (b64.len > 0 && (b64.data[b64.len - 1] == '\n' || b64.data[b64.len - 1] == '\r'))
            b64.len--;
        if (vmesh_b64_decode((const char *)b64.data, b64.len, &f[i].nonce) != VMESH_OK) {
            vmesh_buf_free(&b64);
            return -1;
        }
        vmesh_buf_free(&b64);
    }
    return 0;
}

/* One verification as ask_central does it; true when affirming. */
static bool one(vmesh_service_client *c, const vmesh_key *key, const char *mt, const char *scheme, const char *peer,
                const ev_file *f)
{
    vmesh_buf jwt = {0};
    vmesh_ear *ear = NULL;
    vmesh_ear_question q;
    vmesh_tv tv;
    size_t sub = 0;
    uint8_t tp[32], chkey[VMESH_JOSE_MAC_KEY_LEN];
    bool ok = false, channel = false;

    if (vmesh_service_central_client(c, mt, f->ev.data, f->ev.len, f->nonce.data, f->nonce.len, peer, &jwt, chkey,
                                     &channel) == VMESH_OK &&
        (channel ? vmesh_ear_verify_mac((const char *)jwt.data, jwt.len, chkey, vmesh_time_now(), &ear)
                 : vmesh_ear_verify((const char *)jwt.data, jwt.len, key, vmesh_time_now(), &ear)) == VMESH_OK) {
        memset(&q, 0, sizeof(q));
        q.nonce = f->nonce.data;
        q.nonce_len = f->nonce.len;
        q.scheme = scheme;
        q.peer = peer != NULL && vmesh_ear_peer_id(ear) != NULL ? peer : NULL;
        if (vmesh_ear_check_answer(ear, &q, &sub) == VMESH_EAR_ANSWER_OK &&
            vmesh_crypto_key_thumbprint(key, tp) == VMESH_OK) { /* the result names the key (entry_under_ear) */
            vmesh_ear_submod_tv(ear, sub, &tv);
            ok = vmesh_tv_status(&tv) == VMESH_TIER_AFFIRMING;
        }
        if (channel)
            n_channel++;
    }
    if (!ok)
        fprintf(stderr, "bench_central_rp: %s\n", vmesh_err_detail());
    vmesh_err_clear();
    vmesh_ear_free(ear);
    vmesh_buf_free(&jwt);
    return ok;
}

typedef struct {
    vmesh_service_client *c;
    const vmesh_key *key;
    const char *mt, *scheme, *peer;
    const ev_file *files;
    int nfiles;
    long count, done, failed;
} worker;

static void *run(void *arg)
{
    worker *w = arg;

    for (long i = 0; i < w->count; i++) {
        if (one(w->c, w->key, w->mt, w->scheme, w->peer, &w->files[i % w->nfiles]))
            w->done++;
        else
            w->failed++;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    const char *url = NULL, *key_path = NULL, *dir = NULL, *mt = NULL, *peer = NULL, *vrv = NULL;
    bool signed_answers = false;
    int nfiles = 1, nthreads = 1, opt;
    pthread_t th[64];
    worker w[64];
    long count = 100, done = 0, failed = 0;
    static ev_file files[MAX_FILES];
    vmesh_service_client c;
    vmesh_key *key = NULL;
    const vmesh_evidence_scheme *scheme;
    struct timespec t0, t1;

    while ((opt = getopt(argc, argv, "u:k:e:m:n:f:p:t:r:s")) != -1) {
        switch (opt) {
        case 'u': url = optarg; break;
        case 'k': key_path = optarg; break;
        case 'e': dir = optarg; break;
        case 'm': mt = optarg; break;
        case 'n': count = strtol(optarg, NULL, 10); break;
        case 'f': nfiles = (int)strtol(optarg, NULL, 10); break;
        case 'p': peer = optarg; break;
        case 't': nthreads = (int)strtol(optarg, NULL, 10); break;
        case 'r': vrv = optarg; break;
        case 's': signed_answers = true; break;
        default:
            fprintf(stderr, "usage: bench_central_rp -u URL -k EAR_PUB -e DIR -m MEDIA_TYPE [-n COUNT] [-f FILES]"
                            " [-p PEER_SPIFFE_ID]\n"
                            "       [-t THREADS: each runs COUNT / THREADS, as a PoP's handshake pool]\n"
                            "       [-r VERIFIER_RV: attested https link (D31); -s: signed answers, not channel-bound]\n");
            return 1;
        }
    }
    if (url == NULL || key_path == NULL || dir == NULL || mt == NULL || count < 1 || nfiles < 1 ||
        nfiles > MAX_FILES || nthreads < 1 || nthreads > 64) {
        fprintf(stderr, "bench_central_rp: -u, -k, -e and -m are required; -f is 1..%d\n", MAX_FILES);
        return 1;
    }
    scheme = vmesh_schemes_by_media_type(mt, NULL);
    if (scheme == NULL || vmesh_crypto_key_load(key_path, &key) != VMESH_OK || load_files(dir, nfiles, files) != 0) {
        fprintf(stderr, "bench_central_rp: %s\n", scheme ? vmesh_err_detail() : "unknown media type");
        return 1;
    }
    memset(&c, 0, sizeof(c));
    c.url = url;
    c.timeout_ms = 10000;
    c.signed_answers = signed_answers;
    if (vrv != NULL) {
        c.verifier_rv = vrv;
        c.ear_key = key; /* the attested EAR key must be this one */
        if (vmesh_service_client_attest_init(&c) != VMESH_OK) {
            fprintf(stderr, "bench_central_rp: %s\n", vmesh_err_detail());
            return 1;
        }
        c.ear_key = NULL; /* the answers are checked here, as the agent does */
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int t = 0; t < nthreads; t++) {
        w[t] = (worker){&c, key, mt, scheme->name, peer, files, nfiles, count / nthreads, 0, 0};
        if (pthread_create(&th[t], NULL, run, &w[t]) != 0) {
            fprintf(stderr, "bench_central_rp: pthread_create failed\n");
            return 1;
        }
    }
    for (int t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
        done += w[t].done;
        failed += w[t].failed;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("{\"verifications\": %ld, \"failed\": %ld, \"channel_bound\": %ld, \"seconds\": %.3f, "
           "\"us_per_verification\": %.1f}\n",
           done, failed, (long)n_channel, s, done > 0 ? s * 1e6 / (double)done : 0.0);
    for (int i = 0; i < nfiles; i++) {
        vmesh_buf_free(&files[i].ev);
        vmesh_buf_free(&files[i].nonce);
    }
    if (vrv != NULL)
        vmesh_service_client_attest_free(&c);
    vmesh_crypto_key_free(key);
    return failed > 0 || done == 0 ? 1 : 0;
}
