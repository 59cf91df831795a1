/*
 * File helpers: bounded whole-file reads and atomic writes. A reader must
 * never trust a file's size; a writer must never leave a half-written file
 * where a reader can find it.
 */
#include "vmesh/core.h"
#include "core/file_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
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

/* Temp names: "<base>.<16 random letters>.tmp" in the target's directory.
 * The name is unpredictable and the file is created with O_EXCL, so a file
 * or symlink an attacker planted under any name is never opened; a
 * collision just draws another name. The hook (file_int.h) lets tests
 * force collisions and swap the file before the rename. */
#define TMP_TRIES 32
void (*vmesh_file__tmp_hook)(int stage, const char *dir, char *name, size_t cap);

static bool tmp_name(const char *dir, const char *base, char *out, size_t cap)
{
    static const char alpha[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    uint8_t r[16];
    char rnd[17];

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return false;
    for (size_t i = 0; i < sizeof(r); i++)
        rnd[i] = alpha[r[i] % (sizeof(alpha) - 1)];
    rnd[16] = '\0';
    if (snprintf(out, cap, "%.200s.%s.tmp", base, rnd) >= (int)cap)
        return false;
    if (vmesh_file__tmp_hook != NULL)
        vmesh_file__tmp_hook(VMESH_FILE_HOOK_NAME, dir, out, cap);
    return true;
}

static vmesh_err write_all(int fd, const uint8_t *q, size_t n, const char *path)
{
    while (n > 0) {
        ssize_t w = write(fd, q, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return vmesh_err_set(VMESH_ERR_IO, "cannot write a temporary file for %s: %s", path, strerror(errno));
        q += w;
        n -= (size_t)w;
    }
    return VMESH_OK;
}

/* Never writes a byte into a file this call did not create: the data goes
 * into a new inode (O_CREAT|O_EXCL|O_NOFOLLOW, mode fixed before the first
 * byte), which is renamed over the target. rename() replaces a symlink at
 * the target rather than following it. After the rename the target must
 * be our inode; if someone swapped the temp name meanwhile (a directory
 * others can write), the write fails instead of publishing their file. */
vmesh_err vmesh_file_write(const char *path, const void *p, size_t n, unsigned mode)
{
    vmesh_err rc = VMESH_OK;
    char dir[4096], tmp[4096];
    const char *slash, *base;
    struct stat mine, there;
    int dfd = -1, fd = -1;
    size_t dl;
    bool created = false;

    memset(&mine, 0, sizeof(mine));
    VMESH_ENSURE(path != NULL && path[0] != '\0', VMESH_ERR_ARG, "no file name given");
    VMESH_ENSURE(p != NULL || n == 0, VMESH_ERR_ARG, "no data given for %s", path);
    VMESH_ENSURE((mode & ~0777u) == 0, VMESH_ERR_ARG, "file mode %o for %s has more than permission bits", mode,
                 path);
    slash = strrchr(path, '/');
    base = slash ? slash + 1 : path;
    VMESH_ENSURE(base[0] != '\0' && strcmp(base, ".") != 0 && strcmp(base, "..") != 0, VMESH_ERR_ARG,
                 "%s names a directory, not a file", path);
    dl = slash == NULL ? 1 : slash == path ? 1 : (size_t)(slash - path);
    VMESH_ENSURE(dl < sizeof(dir), VMESH_ERR_ARG, "path too long: %s", path);
    memcpy(dir, slash == NULL ? "." : path, dl);
    dir[dl] = '\0';
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    VMESH_ENSURE(dfd >= 0, VMESH_ERR_IO, "cannot open the directory of %s: %s", path, strerror(errno));
    for (int i = 0; i < TMP_TRIES && fd < 0; i++) {
        VMESH_ENSURE(tmp_name(dir, base, tmp, sizeof(tmp)), VMESH_ERR_IO, "cannot make a temporary name for %s: %s", path,
                     strerror(errno));
        /* 0600 at creation: nobody else can open it before fchmod. */
        fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (fd < 0 && errno != EEXIST)
            VMESH_FAIL(VMESH_ERR_IO, "cannot create a temporary file for %s: %s", path, strerror(errno));
    }
    VMESH_ENSURE(fd >= 0, VMESH_ERR_IO,
                 "cannot create a temporary file for %s: %d names taken in a row (someone is filling the directory?)",
                 path, TMP_TRIES);
    created = true;
    VMESH_ENSURE(fstat(fd, &mine) == 0 && fchmod(fd, (mode_t)mode) == 0, VMESH_ERR_IO,
                 "cannot set the mode of a temporary file for %s: %s", path, strerror(errno));
    VMESH_GUARD(write_all(fd, p, n, path));
    VMESH_ENSURE(fsync(fd) == 0, VMESH_ERR_IO, "cannot sync %s: %s", path, strerror(errno));
    if (vmesh_file__tmp_hook != NULL)
        vmesh_file__tmp_hook(VMESH_FILE_HOOK_RENAME, dir, tmp, sizeof(tmp));
    VMESH_ENSURE(renameat(dfd, tmp, dfd, base) == 0, VMESH_ERR_IO, "cannot replace %s: %s", path, strerror(errno));
    created = false;
    VMESH_ENSURE(fstatat(dfd, base, &there, AT_SYMLINK_NOFOLLOW) == 0 && there.st_dev == mine.st_dev &&
                     there.st_ino == mine.st_ino,
                 VMESH_ERR_IO,
                 "%s was replaced by another file while it was written: its directory is writable by others; "
                 "write it somewhere only this user can write",
                 path);
    /* The rename is durable only once the directory is synced. */
    VMESH_ENSURE(fsync(dfd) == 0, VMESH_ERR_IO, "cannot sync the directory of %s: %s", path, strerror(errno));
out:
    if (fd >= 0 && close(fd) != 0 && rc == VMESH_OK)
        rc = vmesh_err_set(VMESH_ERR_IO, "cannot close %s: %s", path, strerror(errno));
    if (created) {
        /* Remove our temp file only if the name still points at it. */
        struct stat now;
        if (mine.st_ino == 0 || (fstatat(dfd, tmp, &now, AT_SYMLINK_NOFOLLOW) == 0 && now.st_dev == mine.st_dev &&
                                 now.st_ino == mine.st_ino))
            unlinkat(dfd, tmp, 0);
    }
    if (dfd >= 0)
        close(dfd);
    return rc;
}
