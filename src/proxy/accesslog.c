/*
 * What the proxy says about a connection: its access-log line when it ends
 * and its entry in the admin endpoint's /peers list, both from one record
 * (px_record) so that the two never disagree on a field; and the log lines
 * a flood could repeat, a few a second each (px_log_limited). A line is
 * built whole, with every peer-supplied field cut to a bound, and written
 * with one write(2), so concurrent workers never interleave. It must never
 * log a secret: identities, trust vectors and counts only, and every
 * peer-supplied string is JSON-escaped.
 */
#define _GNU_SOURCE
#include "proxy_int.h"

#include "vmesh/rv.h"
#include "vmesh/verifier.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* The escaped peer and listener names and the close reason are cut at
 * these lengths, so a line always fits LINE_MAX_LEN. */
#define LINE_MAX_LEN 4096
#define FIELD_MAX 300
#define REASON_MAX 700

/* "s" escaped (at most FIELD_MAX bytes of it), or null. */
static vmesh_err put_str_or_null(vmesh_buf *b, const char *s)
{
    char esc[FIELD_MAX + 1];

    if (s == NULL)
        return vmesh_buf_printf(b, "null");
    vmesh_json_str_to(esc, sizeof(esc), s);
    return vmesh_buf_printf(b, "\"%s\"", esc);
}

static vmesh_err put_tv(vmesh_buf *b, const vmesh_tv *tv)
{
    vmesh_err rc = VMESH_OK;
    bool first = true;

    VMESH_GUARD(vmesh_buf_printf(b, "{"));
    for (int i = 0; i < VMESH_TV__COUNT; i++) {
        if (tv->v[i] == 0)
            continue;
        VMESH_GUARD(vmesh_buf_printf(b, "%s\"%s\":%d", first ? "" : ",",
                                     vmesh_tv_claim_name((vmesh_tv_claim)i), tv->v[i]));
        first = false;
    }
    VMESH_GUARD(vmesh_buf_printf(b, "}"));
out:
    return rc;
}

/* The trust vector by name with what each value means (AR4SI):
 * {"executables":{"value":2,"tier":"affirming","means":"..."}}. */
static vmesh_err put_claims(vmesh_buf *b, const vmesh_tv *tv)
{
    vmesh_err rc = VMESH_OK;
    bool first = true;
    char esc[FIELD_MAX + 1];

    VMESH_GUARD(vmesh_buf_printf(b, "{"));
    for (int i = 0; i < VMESH_TV__COUNT; i++) {
        const char *means = vmesh_tv_describe((vmesh_tv_claim)i, tv->v[i]);
        if (tv->v[i] == 0)
            continue;
        vmesh_json_str_to(esc, sizeof(esc), means ? means : "");
        VMESH_GUARD(vmesh_buf_printf(b, "%s\"%s\":{\"value\":%d,\"tier\":\"%s\",\"means\":\"%s\"}",
                                     first ? "" : ",", vmesh_tv_claim_name((vmesh_tv_claim)i),
                                     tv->v[i], vmesh_tier_name(vmesh_tier_of(tv->v[i])), esc));
        first = false;
    }
    VMESH_GUARD(vmesh_buf_printf(b, "}"));
out:
    return rc;
}

/* The fields both views share, in the order the access log has always had
 * them ("state" after "listener" on /peers); fields added later come after
 * "pattern", so a grep for the old sequence still matches. */
static vmesh_err put_record(vmesh_buf *b, const px_record *r)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_buf_printf(
        b, "\"direction\":\"%s\",\"listener\":", r->dir == PX_DIR_IN ? "inbound" : "outbound"));
    VMESH_GUARD(put_str_or_null(b, r->listener));
    if (r->state)
        VMESH_GUARD(vmesh_buf_printf(b, ",\"state\":\"%s\"", r->state));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"peer\":"));
    VMESH_GUARD(put_str_or_null(b, r->peer_id));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"mode\":"));
    VMESH_GUARD(put_str_or_null(b, r->mode >= 0 ? vmesh_atls_mode_name(r->mode) : NULL));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"tier\":"));
    VMESH_GUARD(put_str_or_null(b, r->mode >= 0 ? vmesh_tier_name(r->tier) : NULL));
    /* What the peer showed (docs/FEDERATION.md "Per-peer patterns"): its
     * attestation, or its identity alone (a lower tier). */
    VMESH_GUARD(vmesh_buf_printf(b, ",\"pattern\":"));
    VMESH_GUARD(put_str_or_null(b, r->mode < 0                    ? NULL
                                   : r->mode == VMESH_ATLS_MODE_NONE ? "identity-only"
                                                                     : "attested"));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"remote\":"));
    VMESH_GUARD(put_str_or_null(b, r->remote));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"upstream\":"));
    VMESH_GUARD(put_str_or_null(b, r->upstream));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"tv\":"));
    VMESH_GUARD(put_tv(b, r->tv));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"claims\":"));
    VMESH_GUARD(put_claims(b, r->tv));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"verifier\":"));
    VMESH_GUARD(put_str_or_null(b, r->verifier && r->verifier[0] ? r->verifier : NULL));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"policy_digest\":"));
    VMESH_GUARD(put_str_or_null(b, r->policy_digest && r->policy_digest[0] ? r->policy_digest : NULL));
    VMESH_GUARD(vmesh_buf_printf(
        b, ",\"rv_epochs\":%s,\"resumed\":%s,\"bytes_from_peer\":%llu,\"bytes_to_peer\":%llu",
        r->epochs[0] ? r->epochs : "{}", r->resumed ? "true" : "false",
        (unsigned long long)r->from_peer, (unsigned long long)r->to_peer));
    /* When the peer's attestation was last accepted (handshake or in-band
     * re-attestation, docs/PROXY.md) and how many rounds it passed. */
    if (r->attested_at > 0)
        VMESH_GUARD(vmesh_buf_printf(b, ",\"attested_at\":%lld", (long long)r->attested_at));
    else
        VMESH_GUARD(vmesh_buf_printf(b, ",\"attested_at\":null"));
    VMESH_GUARD(vmesh_buf_printf(b, ",\"reattested\":%llu", (unsigned long long)r->reattested));
out:
    return rc;
}

void px_epochs_json(struct vmesh_verifier *v, char out[PX_EPOCHS_MAX])
{
    vmesh_err rc = VMESH_OK;
    vmesh_rv_store *rv = vmesh_verifier_rv(v);
    vmesh_buf b;

    vmesh_buf_init(&b, PX_EPOCHS_MAX - 1);
    VMESH_GUARD(vmesh_buf_printf(&b, "{"));
    for (size_t i = 0; rv && i < vmesh_rv_epoch_count(rv); i++) {
        const char *n;
        char name[140];
        uint64_t e;
        if (!vmesh_rv_epoch_at(rv, i, &n, &e))
            continue;
        vmesh_json_str_to(name, sizeof(name), n);
        VMESH_GUARD(
            vmesh_buf_printf(&b, "%s\"%s\":%llu", i ? "," : "", name, (unsigned long long)e));
    }
    VMESH_GUARD(vmesh_buf_printf(&b, "}"));
out:
    snprintf(out, PX_EPOCHS_MAX, "%s", rc == VMESH_OK ? (const char *)b.data : "{}");
    vmesh_buf_free(&b);
    vmesh_rv_store_free(rv);
}

vmesh_err px_access_log_open(struct vmesh_proxy *p, const vmesh_proxy_config *cfg)
{
    int fd;

    if (cfg->access_log == NULL && cfg->access_std == 0)
        return VMESH_OK;
    if (cfg->access_log == NULL)
        fd = fcntl(cfg->access_std == 1 ? STDOUT_FILENO : STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
    else
        fd = open(cfg->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return vmesh_err_set(VMESH_ERR_IO, "access-log %s: %s",
                             cfg->access_log ? cfg->access_log
                             : cfg->access_std == 1 ? "stdout" : "stderr",
                             strerror(errno));
    if (p->access_fd < 0) {
        p->access_fd = fd;
    } else {
        /* Replace in place: workers keep writing to the same number. */
        (void)dup2(fd, p->access_fd);
        close(fd);
    }
    return VMESH_OK;
}

void px_access_log(struct vmesh_proxy *p, const px_record *r, uint64_t duration_ms,
                   px_result result, const char *reason)
{
    vmesh_err rc = VMESH_OK;
    vmesh_buf line;
    char esc[REASON_MAX + 1];
    struct timespec rt;
    struct tm tm;

    if (result == PX_RES_REAPPRAISAL) {
        char judged[PX_EPOCHS_MAX];
        px_epochs_json(p->verifier, judged);
        px_recent_note(p->recent, r, result, reason, judged);
    } else {
        px_recent_note(p->recent, r, result, reason, NULL);
    }
    if (p->access_fd < 0)
        return;
    vmesh_buf_init(&line, LINE_MAX_LEN);
    clock_gettime(CLOCK_REALTIME, &rt);
    gmtime_r(&rt.tv_sec, &tm);
    VMESH_GUARD(vmesh_buf_printf(&line, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",",
                                 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                                 tm.tm_min, tm.tm_sec, rt.tv_nsec / 1000000));
    VMESH_GUARD(put_record(&line, r));
    vmesh_json_str_to(esc, sizeof(esc), reason);
    VMESH_GUARD(vmesh_buf_printf(
        &line, ",\"duration_ms\":%llu,\"result\":\"%s\",\"reason\":%s%s%s,\"close_reason\":\"%s\"}\n",
        (unsigned long long)duration_ms, px_result_name(result), r->code ? "\"" : "",
        r->code ? r->code : "null", r->code ? "\"" : "", esc));
    (void)!write(p->access_fd, line.data, line.len);
out:
    if (rc != VMESH_OK)
        vmesh_log(VMESH_LOG_ERROR, "proxy: access log: %s", vmesh_err_detail());
    vmesh_buf_free(&line);
}

vmesh_err px_record_json(vmesh_buf *out, const px_record *r)
{
    return put_record(out, r);
}

vmesh_err px_record_peers_json(vmesh_buf *out, const px_record *r, bool first, uint64_t age_ms,
                               size_t worker)
{
    vmesh_err rc = VMESH_OK;

    VMESH_GUARD(vmesh_buf_printf(out, "%s\n{", first ? "" : ","));
    VMESH_GUARD(put_record(out, r));
    VMESH_GUARD(vmesh_buf_printf(out, ",\"age_ms\":%llu,\"worker\":%zu}",
                                 (unsigned long long)age_ms, worker));
out:
    return rc;
}

/* ---- rate-limited log lines ---------------------------------------------------------------- */

void px_log_limited(px_ratelog *rl, vmesh_log_level level, const char *fmt, ...)
{
    int64_t now = vmesh_time_mono_ns() / 1000000000, last = atomic_load(&rl->sec);
    uint64_t more = 0;
    char line[1024];
    va_list ap;

    /* The first thread to see a new second starts its budget; races only
     * let a line more or less through. */
    if (now != last && atomic_compare_exchange_strong(&rl->sec, &last, now))
        atomic_store(&rl->lines, 0);
    if (atomic_fetch_add(&rl->lines, 1) >= PX_LOG_LINES_PER_SECOND) {
        atomic_fetch_add(&rl->suppressed, 1);
        return;
    }
    more = atomic_exchange(&rl->suppressed, 0);
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (more > 0)
        vmesh_log(level, "%s (and %llu more like this left out before)", line,
                  (unsigned long long)more);
    else
        vmesh_log(level, "%s", line);
}
