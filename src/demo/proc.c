/*
 * Child processes of `vmesh demo`: each in its own process group (so a
 * signal reaches it and anything it forks), tied to the demo's life with
 * PR_SET_PDEATHSIG, its output in a log file; readiness waits (TCP, HTTP,
 * a log line) that give up as soon as the child died; free loopback ports.
 * It must never leave a child running: every start has a matching stop on
 * every exit path, and a child whose parent vanished is killed by the kernel.
 */
#define _GNU_SOURCE
#include "demo.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t interrupted;

static void on_signal(int sig)
{
    interrupted = sig;
}

void demo_signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
}

bool demo_interrupted(void)
{
    return interrupted != 0;
}

static volatile sig_atomic_t user_request;

static void on_user_signal(int sig)
{
    user_request = sig;
}

void demo_user_signals_install(void)
{
    struct sigaction sa;

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_user_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGUSR1, &sa, NULL);
    sigaction(SIGUSR2, &sa, NULL);
}

int demo_user_request(void)
{
    int sig = user_request;

    user_request = 0;
    return sig;
}

double demo_now_ms(void)
{
    return (double)vmesh_time_mono_ns() / 1e6;
}

void demo_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};

    if (!interrupted)
        nanosleep(&ts, NULL); /* EINTR on a signal: we return early */
}

/* Ends the word in w (when there is one) as the next argument. */
static void push_word(demo_argv *a, vmesh_buf *w, bool *in_word)
{
    char *s;

    if (!*in_word)
        return;
    *in_word = false;
    s = a->n < DEMO_MAX_ARGS ? strndup(w->len ? (const char *)w->data : "", w->len) : NULL;
    vmesh_buf_reset(w);
    if (s == NULL) {
        a->overflow = true;
        return;
    }
    a->v[a->n++] = s;
    a->v[a->n] = NULL;
}

void demo_argv_vadd(demo_argv *a, const char *fmt, va_list ap)
{
    vmesh_buf w;
    bool in_word = false;
    char num[24];
    const char *s;

    vmesh_buf_init(&w, 64 * 1024);
    for (const char *p = fmt; !a->overflow; p++) {
        if (*p == ' ' || *p == '\0') {
            push_word(a, &w, &in_word);
            if (*p == '\0')
                break;
            continue;
        }
        in_word = true;
        s = num;
        if (*p != '%')
            snprintf(num, sizeof(num), "%c", *p);
        else if (*++p == 's')
            s = va_arg(ap, const char *);
        else if (*p == 'd')
            snprintf(num, sizeof(num), "%d", va_arg(ap, int));
        else if (*p == 'u')
            snprintf(num, sizeof(num), "%u", va_arg(ap, unsigned));
        else if (*p == '%')
            snprintf(num, sizeof(num), "%%");
        else
            s = NULL; /* an unknown conversion (or a % at the end) */
        if (s == NULL || vmesh_buf_append(&w, s, strlen(s)) != VMESH_OK)
            a->overflow = true;
    }
    vmesh_buf_free(&w);
}

void demo_argv_add(demo_argv *a, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    demo_argv_vadd(a, fmt, ap);
    va_end(ap);
}

vmesh_err demo_spawnf(demo_proc *p, const char *dir, const char *netns, const char *name,
                      const char *fmt, ...)
{
    char log[PATH_MAX];
    demo_argv av = {0};
    va_list ap;
    vmesh_err rc;

    va_start(ap, fmt);
    demo_argv_vadd(&av, fmt, ap);
    va_end(ap);
    demo_sfmt(log, sizeof(log), "%s/logs/%s.log", dir, name);
    rc = demo_spawn(p, name, log, dir, netns, &av);
    demo_argv_free(&av);
    return rc;
}

vmesh_err demo_runf(const char *dir, const char *netns, const char *name, int timeout_ms, int *code,
                    const char *fmt, ...)
{
    char log[PATH_MAX];
    demo_argv av = {0};
    va_list ap;
    int status = -1;
    vmesh_err rc;

    demo_sfmt(log, sizeof(log), "%s/logs/%s.log", dir, name);
    va_start(ap, fmt);
    demo_argv_vadd(&av, fmt, ap);
    va_end(ap);
    rc = demo_run(name, log, dir, netns, &av, timeout_ms, false, &status);
    if (code != NULL)
        *code = status;
    else if (rc == VMESH_OK && status != 0)
        rc = vmesh_err_set(VMESH_ERR_IO, "%s: %s %s exited %d (log %s)", name, av.v[0],
                           av.n > 1 ? av.v[1] : "", status, log);
    demo_argv_free(&av);
    return rc;
}

void demo_argv_free(demo_argv *a)
{
    for (size_t i = 0; i < a->n; i++)
        free(a->v[i]);
    a->n = 0;
    a->v[0] = NULL;
}

/* In the child between fork and exec: only system calls. */
static void child_exec(const char *log, const char *cwd, int nsfd, char *const argv[], pid_t parent)
{
    sigset_t none;
    int fd;

    setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) /* the demo died between fork and prctl */
        _exit(127);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    signal(SIGHUP, SIG_DFL);
    signal(SIGPIPE, SIG_DFL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (nsfd >= 0 && setns(nsfd, CLONE_NEWNET) != 0)
        _exit(126);
    if (cwd && chdir(cwd) != 0)
        _exit(126);
    fd = open("/dev/null", O_RDONLY);
    if (fd >= 0) {
        dup2(fd, 0);
        close(fd);
    }
    fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
    }
    if (strchr(argv[0], '/'))
        execv(argv[0], argv);
    else
        execvp(argv[0], argv);
    _exit(127);
}

vmesh_err demo_spawn(demo_proc *p, const char *name, const char *log, const char *cwd,
                     const char *netns, demo_argv *argv)
{
    vmesh_err rc = VMESH_OK;
    int nsfd = -1;
    pid_t parent = getpid(), pid;
    char nspath[PATH_MAX];
    sigset_t stop_sigs, old_mask;

    memset(p, 0, sizeof(*p));
    snprintf(p->name, sizeof(p->name), "%s", name);
    snprintf(p->log, sizeof(p->log), "%s", log);
    VMESH_ENSURE(!argv->overflow && argv->n > 0, VMESH_ERR_ARG, "%s: command line too long", name);
    if (netns) {
        snprintf(nspath, sizeof(nspath), "/run/netns/%s", netns);
        nsfd = open(nspath, O_RDONLY | O_CLOEXEC);
        VMESH_ENSURE(nsfd >= 0, VMESH_ERR_IO, "%s: network namespace %s: %s", name, netns,
                     strerror(errno));
    }
    fflush(NULL);
    /* A stop signal sent to the child before it reset our handlers would
     * run on_signal in the child and be lost: block them across the fork;
     * the child unblocks them once they have their default action. */
    sigemptyset(&stop_sigs);
    sigaddset(&stop_sigs, SIGTERM);
    sigaddset(&stop_sigs, SIGINT);
    sigaddset(&stop_sigs, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop_sigs, &old_mask);
    pid = fork();
    if (pid == 0)
        child_exec(log, cwd, nsfd, argv->v, parent);
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    VMESH_ENSURE(pid >= 0, VMESH_ERR_IO, "%s: fork: %s", name, strerror(errno));
    setpgid(pid, pid); /* also done by the child: whichever runs first */
    p->pid = pid;
out:
    if (nsfd >= 0)
        close(nsfd);
    return rc;
}

bool demo_alive(demo_proc *p)
{
    int st;
    pid_t r;

    if (p->pid <= 0 || p->reaped)
        return false;
    r = waitpid(p->pid, &st, WNOHANG);
    if (r == p->pid || (r < 0 && errno == ECHILD)) {
        p->status = r == p->pid ? st : 0;
        p->reaped = true;
        return false;
    }
    return true;
}

void demo_stop(demo_proc *const *procs, size_t n, int timeout_ms)
{
    double deadline = demo_now_ms() + timeout_ms;
    bool left;

    for (size_t i = 0; i < n; i++)
        if (procs[i] && demo_alive(procs[i]))
            kill(-procs[i]->pid, SIGTERM);
    do {
        left = false;
        for (size_t i = 0; i < n; i++)
            if (procs[i] && demo_alive(procs[i]))
                left = true;
        if (left) {
            struct timespec ts = {0, 20 * 1000000L};
            nanosleep(&ts, NULL); /* not demo_sleep_ms: stopping must finish after SIGINT too */
        }
    } while (left && demo_now_ms() < deadline);
    for (size_t i = 0; i < n; i++)
        if (procs[i] && demo_alive(procs[i])) {
            fprintf(stderr,
                    "vmesh demo: %s did not stop within %d ms of SIGTERM: killed (log %s)\n",
                    procs[i]->name, timeout_ms, procs[i]->log);
            kill(-procs[i]->pid, SIGKILL);
            if (waitpid(procs[i]->pid, &procs[i]->status, 0) == procs[i]->pid)
                procs[i]->reaped = true;
        }
}

vmesh_err demo_run(const char *name, const char *log, const char *cwd, const char *netns,
                   demo_argv *argv, int timeout_ms, bool cleanup, int *exit_code)
{
    vmesh_err rc = VMESH_OK;
    demo_proc p, *pp = &p;
    double deadline = demo_now_ms() + timeout_ms;

    *exit_code = -1;
    VMESH_GUARD(demo_spawn(&p, name, log, cwd, netns, argv));
    while (demo_alive(&p) && demo_now_ms() < deadline && (cleanup || !demo_interrupted())) {
        struct timespec ts = {0, 5 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (!p.reaped) {
        demo_stop(&pp, 1, 1000);
        VMESH_FAIL(demo_interrupted() && !cleanup ? VMESH_ERR_IO : VMESH_ERR_TIMEOUT, "%s: %s",
                   name, demo_interrupted() && !cleanup ? "interrupted" : "did not finish in time");
    }
    *exit_code = WIFEXITED(p.status) ? WEXITSTATUS(p.status) : -1;
out:
    return rc;
}

void demo_proc_describe(const demo_proc *p, char *out, size_t n)
{
    if (!p->reaped)
        snprintf(out, n, "%s", p->pid > 0 ? "running" : "not started");
    else if (WIFEXITED(p->status))
        snprintf(out, n, "exited %d", WEXITSTATUS(p->status));
    else if (WIFSIGNALED(p->status))
        snprintf(out, n, "killed by signal %d", WTERMSIG(p->status));
    else
        snprintf(out, n, "status %d", p->status);
}

void demo_log_tail(const char *path, int lines)
{
    vmesh_buf b = {0};
    size_t start;
    int seen = 0;

    if (vmesh_file_read(path, 4u << 20, &b) != VMESH_OK || b.len == 0) {
        vmesh_buf_free(&b);
        return;
    }
    start = b.len;
    while (start > 0) {
        if (b.data[start - 1] == '\n' && start != b.len && ++seen >= lines)
            break;
        start--;
    }
    fprintf(stderr, "   --- last lines of %s\n", path);
    while (start < b.len) {
        size_t e = start;
        while (e < b.len && b.data[e] != '\n')
            e++;
        fprintf(stderr, "   | %.*s\n", (int)(e - start), (const char *)b.data + start);
        start = e + 1;
    }
    vmesh_buf_free(&b);
}

bool demo_file_contains(const char *path, const char *needle)
{
    vmesh_buf b = {0};
    bool found = false;

    if (vmesh_file_read(path, 4u << 20, &b) == VMESH_OK && b.len > 0 &&
        vmesh_buf_terminate(&b) == VMESH_OK)
        found = memmem(b.data, b.len, needle, strlen(needle)) != NULL;
    vmesh_buf_free(&b);
    return found;
}

/* Ports handed out: a port is never given twice, even once closed again,
 * because the process that got it may not have bound it yet. */
static uint16_t given[1024];
static size_t ngiven;

static bool port_given(uint16_t p)
{
    for (size_t i = 0; i < ngiven; i++)
        if (given[i] == p)
            return true;
    return false;
}

static bool port_free(uint16_t port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a;
    bool ok;

    if (s < 0)
        return false;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = bind(s, (struct sockaddr *)&a, sizeof(a)) == 0;
    close(s);
    return ok;
}

uint16_t demo_free_port(bool pair)
{
    for (int attempt = 0; attempt < 200 && ngiven + 2 <= sizeof(given) / sizeof(given[0]);
         attempt++) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in a;
        socklen_t len = sizeof(a);
        uint16_t port = 0;

        if (s < 0)
            return 0;
        memset(&a, 0, sizeof(a));
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(s, (struct sockaddr *)&a, sizeof(a)) == 0 &&
            getsockname(s, (struct sockaddr *)&a, &len) == 0)
            port = ntohs(a.sin_port);
        close(s);
        if (port == 0 || port == 65535 || port_given(port) ||
            (pair && (port_given((uint16_t)(port + 1)) || !port_free((uint16_t)(port + 1)))))
            continue;
        given[ngiven++] = port;
        if (pair)
            given[ngiven++] = (uint16_t)(port + 1);
        return port;
    }
    return 0;
}

static vmesh_err died(demo_proc *p)
{
    char st[64];

    demo_proc_describe(p, st, sizeof(st));
    demo_log_tail(p->log, 15);
    return vmesh_err_set(VMESH_ERR_IO, "%s %s while starting (log: %s)", p->name, st, p->log);
}

vmesh_err demo_wait_port(demo_proc *p, const char *host, uint16_t port, int timeout_ms)
{
    double deadline = demo_now_ms() + timeout_ms;
    struct sockaddr_in a;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return vmesh_err_set(VMESH_ERR_ARG, "%s: not an IPv4 address", host);
    while (demo_now_ms() < deadline && !demo_interrupted()) {
        int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int r = s >= 0 ? connect(s, (struct sockaddr *)&a, sizeof(a)) : -1;
        if (s >= 0)
            close(s);
        if (r == 0)
            return VMESH_OK;
        if (!demo_alive(p))
            return died(p);
        demo_sleep_ms(30);
    }
    return vmesh_err_set(demo_interrupted() ? VMESH_ERR_IO : VMESH_ERR_TIMEOUT, "%s: %s:%u %s",
                         p->name, host, (unsigned)port,
                         demo_interrupted() ? "interrupted" : "not listening in time");
}

static size_t sink(char *ptr, size_t size, size_t nmemb, void *ud)
{
    (void)ptr;
    (void)ud;
    return size * nmemb;
}

vmesh_err demo_wait_http(demo_proc *p, const char *url, long status, int timeout_ms)
{
    double deadline = demo_now_ms() + timeout_ms;
    long last = 0;
    CURL *c = curl_easy_init();

    if (c == NULL)
        return vmesh_err_set(VMESH_ERR_NOMEM, "out of memory");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    while (demo_now_ms() < deadline && !demo_interrupted()) {
        last = 0;
        if (curl_easy_perform(c) == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &last);
        if (last == status) {
            curl_easy_cleanup(c);
            return VMESH_OK;
        }
        if (!demo_alive(p)) {
            curl_easy_cleanup(c);
            return died(p);
        }
        demo_sleep_ms(50);
    }
    curl_easy_cleanup(c);
    if (!demo_interrupted())
        demo_log_tail(p->log, 10);
    return vmesh_err_set(demo_interrupted() ? VMESH_ERR_IO : VMESH_ERR_TIMEOUT,
                         "%s: %s %s (last status %ld)", p->name, url,
                         demo_interrupted() ? "interrupted" : "not ready in time", last);
}

vmesh_err demo_wait_log(demo_proc *p, const char *needle, int timeout_ms)
{
    double deadline = demo_now_ms() + timeout_ms;

    while (demo_now_ms() < deadline && !demo_interrupted()) {
        if (demo_file_contains(p->log, needle))
            return VMESH_OK;
        if (!demo_alive(p))
            return died(p);
        demo_sleep_ms(50);
    }
    if (!demo_interrupted())
        demo_log_tail(p->log, 10);
    return vmesh_err_set(demo_interrupted() ? VMESH_ERR_IO : VMESH_ERR_TIMEOUT,
                         "%s: no \"%s\" in its log %s", p->name, needle,
                         demo_interrupted() ? "(interrupted)" : "in time");
}
