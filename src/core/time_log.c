/*
 * Time and logging. The wall clock can be pinned (tests, `--at`) so that
 * validity windows of old evidence and certificates can be checked
 * deterministically; logging goes to stderr and never logs secrets.
 */
#include "vmesh/core.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static int64_t pinned;
static vmesh_log_level log_level = VMESH_LOG_WARN;
static vmesh_log_format log_format = VMESH_LOG_TEXT;

int64_t vmesh_time_now(void)
{
    if (pinned != 0)
        return pinned;
    return (int64_t)time(NULL);
}

void vmesh_time_pin(int64_t t)
{
    pinned = t;
}

uint64_t vmesh_time_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static bool digits(const char *s, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

bool vmesh_duration_parse_ms(const char *s, uint64_t *ms)
{
    static const struct {
        const char *suffix;
        uint64_t mult;
    } units[] = {{"ms", 1}, {"s", 1000}, {"", 1000}, {"m", 60000}, {"h", 3600000}};
    char *end;
    unsigned long long v;

    if (s == NULL || s[0] < '0' || s[0] > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno != 0 || v > 1000000000ULL)
        return false;
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (strcmp(end, units[i].suffix) == 0) {
            *ms = (uint64_t)v * units[i].mult;
            return true;
        }
    return false;
}

vmesh_err vmesh_time_parse_rfc3339(const char *s, int64_t *out)
{
    int Y, M, D, h = 0, m = 0, sec = 0, oh = 0, om = 0, sign = 0;
    size_t n = strlen(s), i;
    struct tm tm;

    /* RFC 3339 §5.6: full-date "T" full-time; we also accept a bare date. */
    if (n < 10 || !digits(s, 4, &Y) || s[4] != '-' || !digits(s + 5, 2, &M) ||
        s[7] != '-' || !digits(s + 8, 2, &D))
        goto bad;
    i = 10;
    if (i < n) {
        if ((s[i] != 'T' && s[i] != 't' && s[i] != ' ') || n < i + 9 ||
            !digits(s + i + 1, 2, &h) || s[i + 3] != ':' || !digits(s + i + 4, 2, &m) ||
            s[i + 6] != ':' || !digits(s + i + 7, 2, &sec))
            goto bad;
        i += 9;
        if (i < n && s[i] == '.') {
            i++;
            while (i < n && s[i] >= '0' && s[i] <= '9')
                i++;
        }
        if (i < n && (s[i] == 'Z' || s[i] == 'z') && i + 1 == n) {
            sign = 0;
        } else if (i < n && (s[i] == '+' || s[i] == '-') && n == i + 6 &&
                   digits(s + i + 1, 2, &oh) && s[i + 3] == ':' && digits(s + i + 4, 2, &om)) {
            sign = s[i] == '+' ? 1 : -1;
        } else {
            goto bad;
        }
    }
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        goto bad;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm) - sign * (oh * 3600 + om * 60);
    return VMESH_OK;
bad:
    return vmesh_err_set(VMESH_ERR_PARSE,
                         "invalid time \"%s\": expected RFC 3339 like 2024-01-31T12:00:00Z", s);
}

void vmesh_log_set_level(vmesh_log_level l)
{
    log_level = l;
}

void vmesh_log_set_format(vmesh_log_format f)
{
    log_format = f;
}

vmesh_log_format vmesh_log_get_format(void)
{
    return log_format;
}

vmesh_err vmesh_log_format_parse(const char *s, vmesh_log_format *out)
{
    if (s != NULL && strcmp(s, "text") == 0)
        *out = VMESH_LOG_TEXT;
    else if (s != NULL && strcmp(s, "json") == 0)
        *out = VMESH_LOG_JSON;
    else
        return vmesh_err_set(VMESH_ERR_ARG, "\"%s\" is not a log format (text or json)",
                             s ? s : "");
    return VMESH_OK;
}

#define LOG_LINE_MAX 2048

/* One record: time, level, message; one write(2). */
static void emit(const char *level, const char *fmt, va_list ap) VMESH_PRINTF(2, 0);
static void emit(const char *level, const char *fmt, va_list ap)
{
    char msg[LOG_LINE_MAX], esc[LOG_LINE_MAX], line[LOG_LINE_MAX + 128], ts[96];
    struct timespec rt;
    struct tm tm;
    int n;

    vsnprintf(msg, sizeof(msg), fmt, ap);
    clock_gettime(CLOCK_REALTIME, &rt);
    gmtime_r(&rt.tv_sec, &tm);
    snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
             (int)(rt.tv_nsec / 1000000));
    if (log_format == VMESH_LOG_JSON) {
        vmesh_json_str_to(esc, sizeof(esc), msg);
        n = snprintf(line, sizeof(line), "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"}\n", ts,
                     level, esc);
    } else {
        /* A record is one line: a newline inside a message would start a
         * record of its own in a line-based collector. */
        for (char *c = msg; *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
        n = snprintf(line, sizeof(line), "%s %s %s\n", ts, level, msg);
    }
    if (n < 0)
        return;
    if ((size_t)n >= sizeof(line)) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    (void)!write(STDERR_FILENO, line, (size_t)n);
}

void vmesh_log(vmesh_log_level l, const char *fmt, ...)
{
    static const char *const tag[] = {"error", "warn", "info", "debug"};
    va_list ap;

    if (l > log_level)
        return;
    va_start(ap, fmt);
    emit(tag[l], fmt, ap);
    va_end(ap);
}

void vmesh_log_status(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    emit("info", fmt, ap);
    va_end(ap);
}
