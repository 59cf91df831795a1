/*
 * Growable byte buffers with a hard cap. Every growth is checked against the
 * cap before anything is allocated, so a hostile length can never make us
 * allocate more than the caller allowed.
 */
#include "vmesh/core.h"

#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t buf_max(const vmesh_buf *b)
{
    return b->max ? b->max : VMESH_BUF_DEFAULT_MAX;
}

void vmesh_buf_init(vmesh_buf *b, size_t max)
{
    memset(b, 0, sizeof(*b));
    b->max = max;
}

vmesh_err vmesh_buf_reserve(vmesh_buf *b, size_t extra)
{
    size_t need, ncap;
    uint8_t *p;

    if (extra > buf_max(b) || b->len > buf_max(b) - extra)
        return vmesh_err_set(VMESH_ERR_TOO_LARGE,
                             "buffer would grow to more than its cap of %zu bytes",
                             buf_max(b));
    need = b->len + extra + 1; /* room for vmesh_buf_terminate */
    if (need <= b->cap)
        return VMESH_OK;
    ncap = b->cap ? b->cap : 64;
    while (ncap < need)
        ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    if (b->secret) {
        p = malloc(ncap);
        if (p == NULL)
            return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory (%zu bytes)", ncap);
        if (b->data) {
            memcpy(p, b->data, b->len);
            OPENSSL_cleanse(b->data, b->cap);
            free(b->data);
        }
    } else {
        p = realloc(b->data, ncap);
        if (p == NULL)
            return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory (%zu bytes)", ncap);
    }
    b->data = p;
    b->cap = ncap;
    return VMESH_OK;
}

vmesh_err vmesh_buf_append(vmesh_buf *b, const void *p, size_t n)
{
    vmesh_err rc;

    if (n == 0)
        return VMESH_OK;
    rc = vmesh_buf_reserve(b, n);
    if (rc != VMESH_OK)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return VMESH_OK;
}

vmesh_err vmesh_buf_append_u8(vmesh_buf *b, uint8_t v)
{
    return vmesh_buf_append(b, &v, 1);
}

vmesh_err vmesh_buf_set(vmesh_buf *b, const void *p, size_t n)
{
    vmesh_buf_reset(b);
    return vmesh_buf_append(b, p, n);
}

vmesh_err vmesh_buf_terminate(vmesh_buf *b)
{
    vmesh_err rc = vmesh_buf_reserve(b, 0);

    if (rc != VMESH_OK)
        return rc;
    b->data[b->len] = 0;
    return VMESH_OK;
}

vmesh_err vmesh_buf_printf(vmesh_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    vmesh_err rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return vmesh_err_set(VMESH_ERR_ARG, "vmesh_buf_printf: bad format \"%.40s\"", fmt);
    rc = vmesh_buf_reserve(b, (size_t)n); /* room for n + the NUL vsnprintf writes */
    if (rc != VMESH_OK)
        return rc;
    va_start(ap, fmt);
    vsnprintf((char *)b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return VMESH_OK;
}

uint8_t *vmesh_buf_steal(vmesh_buf *b, size_t *len)
{
    uint8_t *p = b->data;

    if (len)
        *len = b->len;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void vmesh_buf_reset(vmesh_buf *b)
{
    if (b->secret && b->data)
        OPENSSL_cleanse(b->data, b->cap);
    b->len = 0;
}

void vmesh_buf_free(vmesh_buf *b)
{
    if (b->data) {
        if (b->secret)
            OPENSSL_cleanse(b->data, b->cap);
        free(b->data);
    }
    b->data = NULL;
    b->len = b->cap = 0;
}
