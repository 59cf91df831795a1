/*
 * File helpers: bounded whole-file reads and atomic writes. A reader must
 * never trust a file's size; a writer must never leave a half-written file
 * where a reader can find it.
 */
#include "vmesh/core.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

vmesh_err vmesh_file_read(const char *path, size_t max, vmesh_buf *out)
{
    vmesh_err rc = VMESH_OK;
    uint8_t chunk[16384];
    ssize_t n;
    int fd;

    if (max == 0)
        max = VMESH_BUF_DEFAULT_MAX;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vmesh_err_set(VMESH_ERR_IO, "cannot open %s: %s", path, strerror(errno));
    vmesh_buf_reset(out);
    for (;;) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            VMESH_FAIL(VMESH_ERR_IO, "cannot read %s: %s", path, strerror(errno));
        if (n == 0)
            break;
        if (out->len + (size_t)n > max)
            VMESH_FAIL(VMESH_ERR_TOO_LARGE, "%s is larger than the limit of %zu bytes", path, max);
        VMESH_GUARD(vmesh_buf_append(out, chunk, (size_t)n));
    }
    rc = vmesh_buf_terminate(out);
out:
    close(fd);
    return rc;
}

vmesh_err vmesh_file_write(const char *path, const void *p, size_t n, unsigned mode)
{
    vmesh_err rc = VMESH_OK;
    char tmp[4096];
    const uint8_t *q = p;
    int fd = -1;

    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >= (int)sizeof(tmp))
        return vmesh_err_set(VMESH_ERR_ARG, "path too long: %s", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, (mode_t)mode);
    if (fd < 0)
        return vmesh_err_set(VMESH_ERR_IO, "cannot create %s: %s", tmp, strerror(errno));
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            VMESH_FAIL(VMESH_ERR_IO, "cannot write %s: %s", tmp, strerror(errno));
        q += w;
        n -= (size_t)w;
    }
    if (fsync(fd) != 0)
        VMESH_FAIL(VMESH_ERR_IO, "cannot sync %s: %s", tmp, strerror(errno));
    if (close(fd) != 0) {
        fd = -1;
        VMESH_FAIL(VMESH_ERR_IO, "cannot close %s: %s", tmp, strerror(errno));
    }
    fd = -1;
    if (rename(tmp, path) != 0)
        VMESH_FAIL(VMESH_ERR_IO, "cannot rename %s to %s: %s", tmp, path, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    if (rc != VMESH_OK)
        unlink(tmp);
    return rc;
}
