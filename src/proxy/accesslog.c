/*
 * What the proxy says about a connection: its access-log line when it ends
 * and its entry in the admin endpoint's /peers list, both from one record
 * (px_record) so that the two never disagree on a field. Lines are built
 * in a fixed buffer and written with one write(2), so concurrent workers
 * never interleave. It must never log a secret: identities, trust vectors
 * and counts only, and every peer-supplied string is JSON-escaped.
 */
#define _GNU_SOURCE
#include "proxy_int.h"

#include "vmesh/rv.h"
#include "vmesh/verifier.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* A line holds every field at its largest: the escaped peer and listener
 * names and the close reason are cut at these lengths. */
#define LINE_MAX_LEN 2048
#define FIELD_MAX 300
#define REASON_MAX 700

/* A fixed-size text under construction; what does not fit is cut (and
 * cut says so). */
typedef struct {
    char *p;
    size_t cap, len;
    bool cut;
} line_t;

static void put(line_t *l, const char *fmt, ...) VMESH_PRINTF(2, 3);
static void put(line_t *l, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (l->len + 1 >= l->cap) {
        l->cut = true;
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(l->p + l->len, l->cap - l->len, fmt, ap);
    va_end(ap);
    if (n < 0 || l->len + (size_t)n >= l->cap) {
        l->cut = true;
        l->len = l->cap - 1;
    } else {
        l->len += (size_t)n;
    }
}

/* At most max bytes of the escaped text of s (vmesh_json_str_to: cut
 * before a whole character or escape, never inside one). */
static void put_escaped(line_t *l, const char *s, size_t max)
{
    size_t room = l->cap - l->len;

    l->len += vmesh_json_str_to(l->p + l->len, max + 1 < room ? max + 1 : room, s);
}

/* "s" escaped (at most max bytes of it), or null. */
static void put_str_or_null(line_t *l, const char *s, size_t max)
{
    if (s == NULL) {
        put(l, "null");
        return;
    }
    put(l, "\"");
    put_escaped(l, s, max);
    put(l, "\"");
}

static void put_tv(line_t *l, const vmesh_tv *tv)
{
    bool first = true;

    put(l, "{");
    for (int i = 0; i < VMESH_TV__COUNT; i++) {
        if (tv->v[i] == 0)
            continue;
        put(l, "%s\"%s\":%d", first ? "" : ",", vmesh_tv_claim_name((vmesh_tv_claim)i), tv->v[i]);
        first = false;
    }
    put(l, "}");
}

/* The fields both views share, in the order the access log has always had
 * them ("state" after "listener" on /peers). */
static void put_record(line_t *l, const px_record *r)
{
    put(l, "\"direction\":\"%s\",\"listener\":", r->dir == PX_DIR_IN ? "inbound" : "outbound");
    put_str_or_null(l, r->listener, FIELD_MAX);
    if (r->state)
        put(l, ",\"state\":\"%s\"", r->state);
    put(l, ",\"peer\":");
    put_str_or_null(l, r->peer_id, FIELD_MAX);
    put(l, ",\"mode\":");
    put_str_or_null(l, r->mode >= 0 ? vmesh_atls_mode_name(r->mode) : NULL, FIELD_MAX);
    put(l, ",\"tier\":");
    put_str_or_null(l, r->mode >= 0 ? vmesh_tier_name(r->tier) : NULL, FIELD_MAX);
    put(l, ",\"tv\":");
    put_tv(l, r->tv);
    put(l, ",\"rv_epochs\":%s,\"resumed\":%s,\"bytes_from_peer\":%llu,\"bytes_to_peer\":%llu",
        r->epochs[0] ? r->epochs : "{}", r->resumed ? "true" : "false",
        (unsigned long long)r->from_peer, (unsigned long long)r->to_peer);
}

void px_epochs_json(struct vmesh_verifier *v, char out[PX_EPOCHS_MAX])
{
    vmesh_rv_store *rv = vmesh_verifier_rv(v);
    line_t l = {out, PX_EPOCHS_MAX, 0, false};

    put(&l, "{");
    for (size_t i = 0; rv && i < vmesh_rv_epoch_count(rv); i++) {
        const char *n;
        char name[140];
        uint64_t e;
        if (!vmesh_rv_epoch_at(rv, i, &n, &e))
            continue;
        vmesh_json_str_to(name, sizeof(name), n);
        put(&l, "%s\"%s\":%llu", i ? "," : "", name, (unsigned long long)e);
    }
    put(&l, "}");
    if (l.cut)
        snprintf(out, PX_EPOCHS_MAX, "{}");
    vmesh_rv_store_free(rv);
}

vmesh_err px_access_log_open(struct vmesh_proxy *p, const vmesh_proxy_config *cfg)
{
    int fd;

    if (cfg->access_log == NULL)
        return VMESH_OK;
    if (strcmp(cfg->access_log, "-") == 0)
        fd = dup(STDERR_FILENO);
    else
        fd = open(cfg->access_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return vmesh_err_set(VMESH_ERR_IO, "access-log %s: %s", cfg->access_log, strerror(errno));
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
    char buf[LINE_MAX_LEN];
    line_t l = {buf, sizeof(buf), 0, false};
    struct timespec rt;
    struct tm tm;

    if (p->access_fd < 0)
        return;
    clock_gettime(CLOCK_REALTIME, &rt);
    gmtime_r(&rt.tv_sec, &tm);
    put(&l, "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",", tm.tm_year + 1900, tm.tm_mon + 1,
        tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rt.tv_nsec / 1000000);
    put_record(&l, r);
    put(&l, ",\"duration_ms\":%llu,\"result\":\"%s\",\"close_reason\":\"",
        (unsigned long long)duration_ms, px_result_name(result));
    put_escaped(&l, reason, REASON_MAX);
    put(&l, "\"}\n");
    (void)!write(p->access_fd, buf, l.len);
}

vmesh_err px_record_peers_json(vmesh_buf *out, const px_record *r, bool first, uint64_t age_ms,
                               size_t worker)
{
    char buf[LINE_MAX_LEN];
    line_t l = {buf, sizeof(buf), 0, false};

    put(&l, "%s\n{", first ? "" : ",");
    put_record(&l, r);
    put(&l, ",\"age_ms\":%llu,\"worker\":%zu}", (unsigned long long)age_ms, worker);
    return vmesh_buf_append(out, buf, l.len);
}
