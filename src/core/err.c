/*
 * The one error type: codes with stable names and a per-thread detail
 * message that tells the user what went wrong and what to do. It must never
 * allocate: reporting an out-of-memory error has to work.
 */
#include "vmesh/core.h"

#include <openssl/err.h>
#include <stdio.h>
#include <string.h>

#define DETAIL_MAX 1024

static _Thread_local char detail[DETAIL_MAX];

static const char *const names[VMESH_ERR__COUNT] = {
    [VMESH_OK] = "ok",
    [VMESH_ERR_NOMEM] = "out of memory",
    [VMESH_ERR_ARG] = "invalid argument",
    [VMESH_ERR_IO] = "I/O error",
    [VMESH_ERR_PARSE] = "malformed input",
    [VMESH_ERR_TOO_LARGE] = "too large",
    [VMESH_ERR_UNSUPPORTED] = "unsupported",
    [VMESH_ERR_CRYPTO] = "crypto error",
    [VMESH_ERR_SIGNATURE] = "bad signature",
    [VMESH_ERR_NOT_FOUND] = "not found",
    [VMESH_ERR_EXPIRED] = "expired",
    [VMESH_ERR_MISMATCH] = "mismatch",
    [VMESH_ERR_POLICY] = "refused by policy",
    [VMESH_ERR_STATE] = "invalid state",
    [VMESH_ERR_WANT_READ] = "want read",
    [VMESH_ERR_WANT_WRITE] = "want write",
    [VMESH_ERR_TIMEOUT] = "timed out",
    [VMESH_ERR_CLOSED] = "connection closed",
};

const char *vmesh_err_name(vmesh_err e)
{
    if ((unsigned)e >= VMESH_ERR__COUNT)
        return "unknown error";
    return names[e];
}

vmesh_err (vmesh_err_set)(vmesh_err e, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, sizeof(detail), fmt, ap);
    va_end(ap);
    return e;
}

/* Appends src to dst[*len] within DETAIL_MAX, truncating silently: a long
 * message is still better than none. */
static void append(char *dst, size_t *len, const char *src)
{
    size_t n = strlen(src);

    if (*len + 1 >= DETAIL_MAX)
        return;
    if (n > DETAIL_MAX - 1 - *len)
        n = DETAIL_MAX - 1 - *len;
    memcpy(dst + *len, src, n);
    *len += n;
    dst[*len] = '\0';
}

vmesh_err (vmesh_err_wrap)(vmesh_err e, const char *fmt, ...)
{
    char old[DETAIL_MAX];
    char out[DETAIL_MAX];
    size_t len;
    va_list ap;

    memcpy(old, detail, sizeof(old));
    va_start(ap, fmt);
    vsnprintf(out, sizeof(out), fmt, ap);
    va_end(ap);
    len = strlen(out);
    append(out, &len, ": ");
    append(out, &len, old[0] != '\0' ? old : vmesh_err_name(e));
    memcpy(detail, out, sizeof(detail));
    return e;
}

const char *vmesh_err_detail(void)
{
    return detail;
}

void vmesh_err_clear(void)
{
    detail[0] = '\0';
}

vmesh_err (vmesh_err_ssl)(vmesh_err e, const char *what)
{
    unsigned long code = ERR_get_error();
    char buf[256] = "no OpenSSL error queued";

    if (code != 0)
        ERR_error_string_n(code, buf, sizeof(buf));
    ERR_clear_error();
    return vmesh_err_set(e, "%s: %s", what, buf);
}
