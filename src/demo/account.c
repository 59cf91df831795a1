/*
 * What a demo scenario tells and leaves behind: the account (its lines and
 * its checks, the verdict), and its working directory (a new directory
 * under TMPDIR, removed at the end unless kept). It must never remove
 * anything but the directory it made.
 */
#define _GNU_SOURCE
#include "demo.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void demo_account_init(demo_account *a, bool json, bool quiet, bool echo)
{
    memset(a, 0, sizeof(*a));
    a->out = json ? stderr : stdout;
    a->quiet = quiet;
    a->echo = echo;
    a->t_start = demo_now_ms();
    demo_signals_install();
}

void demo_say(demo_account *a, const char *fmt, ...)
{
    va_list ap;

    if (a->quiet)
        return;
    va_start(ap, fmt);
    vfprintf(a->out, fmt, ap);
    va_end(ap);
    fflush(a->out);
}

void demo_check_add(demo_account *a, bool ok, const char *fmt, ...)
{
    va_list ap;

    if (a->n >= DEMO_MAX_CHECKS)
        return;
    va_start(ap, fmt);
    vsnprintf(a->checks[a->n].name, sizeof(a->checks[0].name), fmt, ap);
    va_end(ap);
    a->checks[a->n].ok = ok;
    if (a->echo)
        demo_say(a, "   [%s] %s\n", ok ? " ok " : "FAIL", a->checks[a->n].name);
    a->n++;
}

size_t demo_passed(const demo_account *a)
{
    size_t n = 0;

    for (size_t i = 0; i < a->n; i++)
        n += a->checks[i].ok;
    return n;
}

bool demo_all_ok(const demo_account *a)
{
    return a->n > 0 && demo_passed(a) == a->n;
}

void demo_print_checks(const demo_account *a, FILE *f, const char *note, bool kept, const char *dir)
{
    for (size_t i = 0; i < a->n && !a->echo; i++)
        fprintf(f, "   [%s] %s\n", a->checks[i].ok ? " ok " : "FAIL", a->checks[i].name);
    if (note)
        fprintf(f, "%s\n", note);
    fprintf(f, "\n%s: %zu of %zu checks passed in %.1f s%s\n",
            demo_all_ok(a) ? "SUCCESS" : "FAILED", demo_passed(a), a->n,
            (demo_now_ms() - a->t_start) / 1000.0, kept ? "" : "; everything stopped and removed");
    if (kept)
        fprintf(f, "kept: %s (configurations, logs)\n", dir);
}

void demo_failed(demo_account *a, vmesh_err rc, const char *what)
{
    bool stop = demo_interrupted();

    if (rc == VMESH_OK)
        return;
    fprintf(stderr, "%s: %s\n", what,
            stop ? "interrupted: stopping everything" : vmesh_err_detail());
    demo_check_add(a, false, "the demo ran to the end (%s)",
                   stop ? "interrupted" : vmesh_err_detail());
}

demo_result demo_verdict(const demo_account *a, vmesh_err rc)
{
    return demo_all_ok(a) ? DEMO_PASSED : rc != VMESH_OK ? DEMO_ERROR : DEMO_CHECK_FAILED;
}

void demo_sfmt(char *out, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(out, n, fmt, ap);
    va_end(ap);
}

vmesh_err demo_workdir(const char *name, char exe[PATH_MAX], char dir[PATH_MAX])
{
    vmesh_err rc = VMESH_OK;
    const char *tmp = getenv("TMPDIR");
    ssize_t n = readlink("/proc/self/exe", exe, PATH_MAX - 1);

    dir[0] = '\0';
    VMESH_ENSURE(n > 0, VMESH_ERR_IO, "/proc/self/exe: %s", strerror(errno));
    exe[n] = '\0';
    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    VMESH_ENSURE(strlen(tmp) <= DEMO_TMPDIR_MAX, VMESH_ERR_ARG,
                 "TMPDIR is longer than %d characters", DEMO_TMPDIR_MAX);
    demo_sfmt(dir, PATH_MAX, "%s/%s.XXXXXX", tmp, name);
    if (mkdtemp(dir) == NULL) {
        rc = vmesh_err_set(VMESH_ERR_IO, "mkdtemp %s: %s", dir, strerror(errno));
        dir[0] = '\0';
    }
out:
    return rc;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    if (flag == FTW_DP)
        rmdir(path);
    else
        unlink(path);
    return 0;
}

void demo_rm_tree(const char *dir)
{
    if (dir[0] != '\0')
        nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

bool demo_in_path(const char *name)
{
    const char *path = getenv("PATH");
    char buf[PATH_MAX];

    for (const char *p = path ? path : "/usr/bin:/bin"; p && *p;) {
        const char *colon = strchr(p, ':');
        size_t len = colon ? (size_t)(colon - p) : strlen(p);
        demo_sfmt(buf, sizeof(buf), "%.*s/%s", (int)len, p, name);
        if (access(buf, X_OK) == 0)
            return true;
        p = colon ? colon + 1 : NULL;
    }
    return false;
}

vmesh_err demo_write_text(const char *path, const char *text)
{
    return vmesh_file_write(path, text, strlen(text), 0644);
}
