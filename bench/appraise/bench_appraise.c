/*
 * In-process appraisal rate: decode + signature verify + reference-value
 * comparison + EAR signing, on one thread, for a fixed time. Prints one
 * JSON line. Timing only; it asserts that every appraisal was affirming so
 * that a broken setup cannot produce a flattering number. -J: then, for as
 * long, replays of that appraisal's lookup journal (D43) against a second
 * store loaded from the same file (what a relying party does per held
 * connection at a new snapshot instead of appraising again); each replay
 * must say "same".
 */
#include "vmesh/verifier.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *rv_path = NULL, *ev_path = NULL, *key_path = NULL, *nonce_hex = NULL;
    double seconds = 3;
    int c;
    vmesh_key *key = NULL;
    vmesh_rv_store *rv = NULL;
    vmesh_verifier *v = NULL;
    vmesh_buf ev = {0}, nonce = {0}, ear = {0};
    vmesh_verifier_config cfg = {0};
    uint64_t *lat = NULL;
    size_t n = 0, cap = 1 << 20;
    bool replay = false;
    vmesh_buf journal = {0};

    while ((c = getopt(argc, argv, "r:e:k:n:s:J")) != -1) {
        switch (c) {
        case 'r': rv_path = optarg; break;
        case 'e': ev_path = optarg; break;
        case 'k': key_path = optarg; break;
        case 'n': nonce_hex = optarg; break;
        case 's': seconds = strtod(optarg, NULL); break;
        case 'J': replay = true; break;
        default:
            fprintf(stderr, "usage: bench_appraise -r RV -e EVIDENCE -k EAR_KEY [-n NONCE_HEX] [-s SECONDS] [-J]\n");
            return 1;
        }
    }
    if (!rv_path || !ev_path || !key_path) {
        fprintf(stderr, "bench_appraise: -r, -e and -k are required\n");
        return 1;
    }
    if (vmesh_crypto_key_load(key_path, &key) || vmesh_rv_store_new(&rv) ||
        vmesh_verifier_load_rv_file(rv, rv_path, NULL) || vmesh_file_read(ev_path, 0, &ev) ||
        (nonce_hex && vmesh_hex_decode(nonce_hex, strlen(nonce_hex), &nonce))) {
        fprintf(stderr, "bench_appraise: %s\n", vmesh_err_detail());
        return 1;
    }
    cfg.ear_key = key;
    if (vmesh_verifier_new(&cfg, &v)) {
        fprintf(stderr, "bench_appraise: %s\n", vmesh_err_detail());
        return 1;
    }
    vmesh_verifier_set_rv(v, rv);
    lat = malloc(cap * sizeof(*lat));
    uint64_t t0 = vmesh_time_mono_ns(), deadline = t0 + (uint64_t)(seconds * 1e9), now = t0;
    while (now < deadline && n < cap) {
        vmesh_appraisal a;
        vmesh_verifier_request req = {0};
        uint64_t s = now;

        vmesh_appraisal_init(&a);
        req.evidence = ev.data;
        req.evidence_len = ev.len;
        req.nonce = nonce_hex ? nonce.data : NULL;
        req.nonce_len = nonce.len;
        vmesh_buf_reset(&ear);
        if (vmesh_verifier_appraise(v, &req, &a, NULL, &ear) != VMESH_OK || a.status != VMESH_TIER_AFFIRMING) {
            fprintf(stderr, "bench_appraise: appraisal not affirming: %s %s\n", vmesh_err_detail(), a.reason);
            return 1;
        }
        if (replay && journal.len == 0 && vmesh_buf_set(&journal, a.journal.data, a.journal.len) != VMESH_OK)
            return 1;
        vmesh_appraisal_free(&a);
        now = vmesh_time_mono_ns();
        lat[n++] = now - s;
    }
    qsort(lat, n, sizeof(*lat), cmp_u64);
    printf("{\"appraisals\": %zu, \"seconds\": %.3f, \"per_second\": %.1f, \"p50_us\": %.1f, \"p99_us\": %.1f",
           n, (double)(now - t0) / 1e9, (double)n / ((double)(now - t0) / 1e9), (double)lat[n / 2] / 1e3,
           (double)lat[n * 99 / 100] / 1e3);
    if (replay) {
        vmesh_rv_store *rv2 = NULL;
        double per = (double)n / ((double)(now - t0) / 1e9);
        size_t m = 0;

        if (journal.len == 0 || vmesh_rv_store_new(&rv2) || vmesh_verifier_load_rv_file(rv2, rv_path, NULL)) {
            fprintf(stderr, "bench_appraise: no journal or second store: %s\n", vmesh_err_detail());
            return 1;
        }
        vmesh_rv_store_freeze(rv2);
        t0 = now = vmesh_time_mono_ns();
        deadline = t0 + (uint64_t)(seconds * 1e9);
        while (now < deadline && m < cap) {
            bool same = false;
            char why[256];
            uint64_t s = now;
            if (vmesh_rv_journal_replay(journal.data, journal.len, rv2, &same, why, sizeof(why)) != VMESH_OK ||
                !same) {
                fprintf(stderr, "bench_appraise: replay did not say same: %s %s\n", vmesh_err_detail(), why);
                return 1;
            }
            now = vmesh_time_mono_ns();
            lat[m++] = now - s;
        }
        qsort(lat, m, sizeof(*lat), cmp_u64);
        printf(", \"journal_bytes\": %zu, \"replays\": %zu, \"replay_per_second\": %.1f, \"replay_p50_us\": %.2f, "
               "\"replay_p99_us\": %.2f, \"replay_over_appraisal\": %.1f",
               journal.len, m, (double)m / ((double)(now - t0) / 1e9), (double)lat[m / 2] / 1e3,
               (double)lat[m * 99 / 100] / 1e3, (double)m / ((double)(now - t0) / 1e9) / per);
        vmesh_rv_store_free(rv2);
    }
    printf("}\n");
    vmesh_buf_free(&journal);
    free(lat);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&nonce);
    vmesh_buf_free(&ear);
    vmesh_verifier_free(v);
    vmesh_rv_store_free(rv);
    vmesh_crypto_key_free(key);
    return 0;
}
