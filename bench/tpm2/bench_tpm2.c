/*
 * TPM quote rate and tpm2 appraisal rate in one run: attest() (TCTI open,
 * AK read, TPM2_Quote, PCR_Read, close) in a loop against a TPM for a fixed
 * time, then the scheme's appraisal (evidence decode, ECDSA verify, PCR
 * digest, reference-value comparison; no EAR) of the last quote in a loop.
 * Prints one JSON line. Timing only; it fails when an appraisal is not
 * affirming so that a broken setup cannot produce a flattering number.
 */
#include "vmesh/tpm2.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static double p50_us(uint64_t *lat, size_t n)
{
    if (n == 0)
        return 0;
    qsort(lat, n, sizeof(*lat), cmp_u64);
    return (double)lat[n / 2] / 1e3;
}

int main(int argc, char **argv)
{
    const char *tcti = NULL, *rv_path = NULL, *pcrs = VMESH_TPM2_DEFAULT_PCRS;
    double seconds = 3;
    int c;
    vmesh_kv cfg[2];
    size_t ncfg = 0, nq = 0, na = 0, cap = 1 << 20;
    void *ctx = NULL;
    vmesh_rv_store *rv = NULL;
    vmesh_buf ev = {0}, rvj = {0};
    uint8_t nonce[32] = {0};
    uint64_t *lat, t0, deadline, now;
    double q_rate, q_p50, a_rate, a_p50;

    while ((c = getopt(argc, argv, "t:r:p:s:")) != -1) {
        switch (c) {
        case 't': tcti = optarg; break;
        case 'r': rv_path = optarg; break;
        case 'p': pcrs = optarg; break;
        case 's': seconds = strtod(optarg, NULL); break;
        default: fprintf(stderr, "usage: bench_tpm2 -t TCTI -r RV.json [-p PCRS] [-s SECONDS]\n"); return 1;
        }
    }
    if (tcti == NULL || rv_path == NULL) {
        fprintf(stderr, "bench_tpm2: -t and -r are required\n");
        return 1;
    }
    cfg[ncfg++] = (vmesh_kv){"tcti", tcti};
    cfg[ncfg++] = (vmesh_kv){"pcrs", pcrs};
    if (vmesh_scheme_tpm2.attester_new(cfg, ncfg, &ctx) || vmesh_rv_store_new(&rv) ||
        vmesh_file_read(rv_path, 0, &rvj) || vmesh_rv_load_json(rv, rvj.data, rvj.len, rv_path)) {
        fprintf(stderr, "bench_tpm2: %s\n", vmesh_err_detail());
        return 1;
    }
    vmesh_rv_store_freeze(rv);
    lat = malloc(cap * sizeof(*lat));
    if (lat == NULL)
        return 1;
    t0 = vmesh_time_mono_ns();
    deadline = t0 + (uint64_t)(seconds * 1e9);
    now = t0;
    while (now < deadline && nq < cap) {
        uint64_t s = now;

        memcpy(nonce, &nq, sizeof(nq));
        vmesh_buf_reset(&ev);
        if (vmesh_scheme_tpm2.attest(ctx, nonce, sizeof(nonce), &ev) != VMESH_OK) {
            fprintf(stderr, "bench_tpm2: quote failed: %s\n", vmesh_err_detail());
            return 1;
        }
        now = vmesh_time_mono_ns();
        lat[nq++] = now - s;
    }
    q_rate = (double)nq / ((double)(now - t0) / 1e9);
    q_p50 = p50_us(lat, nq);
    t0 = vmesh_time_mono_ns();
    deadline = t0 + (uint64_t)(seconds * 1e9);
    now = t0;
    while (now < deadline && na < cap) {
        vmesh_appraisal a;
        vmesh_appraisal_in in = {0};
        uint64_t s = now;

        in.evidence = ev.data;
        in.evidence_len = ev.len;
        in.media_type = VMESH_TPM2_MEDIA_TYPE;
        in.nonce = nonce;
        in.nonce_len = sizeof(nonce);
        in.rv = rv;
        vmesh_appraisal_init(&a);
        if (vmesh_scheme_tpm2.appraise(&in, &a) != VMESH_OK || a.status != VMESH_TIER_AFFIRMING) {
            fprintf(stderr, "bench_tpm2: appraisal not affirming: %s %s\n", vmesh_err_detail(), a.reason);
            return 1;
        }
        vmesh_appraisal_free(&a);
        now = vmesh_time_mono_ns();
        lat[na++] = now - s;
    }
    a_rate = (double)na / ((double)(now - t0) / 1e9);
    a_p50 = p50_us(lat, na);
    printf("{\"quotes_per_second\": %.1f, \"quote_p50_us\": %.1f, \"appraisals_per_second\": %.1f, "
           "\"appraisal_p50_us\": %.1f, \"quotes\": %zu, \"appraisals\": %zu, \"evidence_bytes\": %zu}\n",
           q_rate, q_p50, a_rate, a_p50, nq, na, ev.len);
    vmesh_scheme_tpm2.attester_free(ctx);
    vmesh_rv_store_free(rv);
    vmesh_buf_free(&ev);
    vmesh_buf_free(&rvj);
    free(lat);
    return 0;
}
