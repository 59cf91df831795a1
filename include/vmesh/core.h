/*
 * vmesh core: the one error type, growable bounded buffers, encodings,
 * file helpers and logging shared by every module. Nothing here knows about
 * attestation; nothing here may ever abort the process on bad input.
 */
#ifndef VMESH_CORE_H
#define VMESH_CORE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library's API: every declaration between VMESH_API_BEGIN and
 * VMESH_API_END (each public header wraps its own) is exported from
 * libvmesh.so; the library is built with -fvisibility=hidden, so nothing
 * else is (module-internal helpers, test hooks). A new public header must
 * wrap its declarations the same way (tests/integration/lib.symbols.sh). */
#define VMESH_API_BEGIN _Pragma("GCC visibility push(default)")
#define VMESH_API_END _Pragma("GCC visibility pop")

VMESH_API_BEGIN

#define VMESH_WUR __attribute__((warn_unused_result))
#define VMESH_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* The one error type. Every fallible function returns it; VMESH_OK is 0.
 * The code says what kind of failure; the thread-local detail message
 * (vmesh_err_detail) says what exactly went wrong and what to do. */
typedef enum {
    VMESH_OK = 0,
    VMESH_ERR_NOMEM,       /* allocation failed */
    VMESH_ERR_ARG,         /* invalid argument or option */
    VMESH_ERR_IO,          /* file or socket I/O failed */
    VMESH_ERR_PARSE,       /* malformed input (CBOR, JSON, PEM, ...) */
    VMESH_ERR_TOO_LARGE,   /* a length exceeds its cap */
    VMESH_ERR_UNSUPPORTED, /* well-formed but not supported (alg, profile) */
    VMESH_ERR_CRYPTO,      /* a crypto library call failed */
    VMESH_ERR_SIGNATURE,   /* a signature did not verify */
    VMESH_ERR_NOT_FOUND,   /* a key, reference value or entry is missing */
    VMESH_ERR_EXPIRED,     /* outside a validity window */
    VMESH_ERR_MISMATCH,    /* a nonce, binder or digest does not match */
    VMESH_ERR_POLICY,      /* refused by policy */
    VMESH_ERR_STATE,       /* call not valid in the object's current state */
    VMESH_ERR_WANT_READ,   /* non-blocking: retry when readable */
    VMESH_ERR_WANT_WRITE,  /* non-blocking: retry when writable */
    VMESH_ERR_TIMEOUT,     /* a deadline passed */
    VMESH_ERR_CLOSED,      /* the peer closed the connection */
    VMESH_ERR__COUNT
} vmesh_err;

/* Short stable name of a code ("parse", "signature", ...). */
const char *vmesh_err_name(vmesh_err e);
/* Set the detail message of this thread and return e (for `return`). */
vmesh_err vmesh_err_set(vmesh_err e, const char *fmt, ...) VMESH_PRINTF(2, 3);
/* Prefix the current detail with context: "reading CLAIMS: <old detail>". */
vmesh_err vmesh_err_wrap(vmesh_err e, const char *fmt, ...) VMESH_PRINTF(2, 3);
/* The detail message of the last error on this thread ("" if none). */
const char *vmesh_err_detail(void);
void vmesh_err_clear(void);
/* Append the OpenSSL error queue to the detail and clear the queue. */
vmesh_err vmesh_err_ssl(vmesh_err e, const char *what);
/* The three setters return their first argument. Said as a macro, the
 * compiler sees that value at every `rc = vmesh_err_set(CODE, ...); goto
 * out;` and knows rc is not VMESH_OK there: without it, gcc -O2/-O3 assumes
 * an error path may return 0 and warns about outputs that are set only on
 * success ("may be used uninitialized"). The functions stay exported. */
#if defined(__GNUC__)
#define vmesh_err_set(e, ...)                                                  \
    __extension__({                                                            \
        vmesh_err vmesh_e_ = (e);                                              \
        (vmesh_err_set)(vmesh_e_, __VA_ARGS__);                                \
        vmesh_e_;                                                              \
    })
#define vmesh_err_wrap(e, ...)                                                 \
    __extension__({                                                            \
        vmesh_err vmesh_e_ = (e);                                              \
        (vmesh_err_wrap)(vmesh_e_, __VA_ARGS__);                               \
        vmesh_e_;                                                              \
    })
#define vmesh_err_ssl(e, what)                                                 \
    __extension__({                                                            \
        vmesh_err vmesh_e_ = (e);                                              \
        (vmesh_err_ssl)(vmesh_e_, (what));                                     \
        vmesh_e_;                                                              \
    })
#endif

/* Guard macros. Functions using them declare `vmesh_err rc = VMESH_OK;`
 * and end in an `out:` label. */
#define VMESH_GUARD(expr)                                                      \
    do {                                                                       \
        rc = (expr);                                                           \
        if (rc != VMESH_OK)                                                    \
            goto out;                                                          \
    } while (0)
#define VMESH_ENSURE(cond, code, ...)                                          \
    do {                                                                       \
        if (!(cond)) {                                                         \
            rc = vmesh_err_set((code), __VA_ARGS__);                           \
            goto out;                                                          \
        }                                                                      \
    } while (0)
#define VMESH_FAIL(code, ...)                                                  \
    do {                                                                       \
        rc = vmesh_err_set((code), __VA_ARGS__);                               \
        goto out;                                                              \
    } while (0)

/* ---- buffers ----------------------------------------------------------- */

/* A byte buffer that knows its length, its allocation and its hard cap.
 * Growing past `max` fails with VMESH_ERR_TOO_LARGE; nothing is allocated
 * first. A zeroed struct is an empty buffer with the default cap. */
typedef struct {
    uint8_t *data;
    size_t len;
    size_t cap;
    size_t max; /* 0 means VMESH_BUF_DEFAULT_MAX */
    bool secret; /* cleanse on free and on reallocation */
} vmesh_buf;

#define VMESH_BUF_DEFAULT_MAX ((size_t)64 * 1024 * 1024)

void vmesh_buf_init(vmesh_buf *b, size_t max);
vmesh_err vmesh_buf_reserve(vmesh_buf *b, size_t extra) VMESH_WUR;
vmesh_err vmesh_buf_append(vmesh_buf *b, const void *p, size_t n) VMESH_WUR;
vmesh_err vmesh_buf_append_u8(vmesh_buf *b, uint8_t v) VMESH_WUR;
vmesh_err vmesh_buf_set(vmesh_buf *b, const void *p, size_t n) VMESH_WUR;
/* Append a NUL without counting it in len, so data can be used as a C string. */
vmesh_err vmesh_buf_terminate(vmesh_buf *b) VMESH_WUR;
/* Appends what printf would print (no NUL counted). Beyond the cap:
 * VMESH_ERR_TOO_LARGE and nothing appended, so a caller that stops at the
 * first error never leaves half a line behind. */
vmesh_err vmesh_buf_printf(vmesh_buf *b, const char *fmt, ...) VMESH_PRINTF(2, 3) VMESH_WUR;
/* Hand the allocation to the caller (who frees it with free()). */
uint8_t *vmesh_buf_steal(vmesh_buf *b, size_t *len);
void vmesh_buf_reset(vmesh_buf *b); /* len = 0, keeps memory */
void vmesh_buf_free(vmesh_buf *b);  /* cleanses if secret; leaves it empty */

/* ---- encodings --------------------------------------------------------- */

vmesh_err vmesh_hex_encode(const uint8_t *p, size_t n, vmesh_buf *out) VMESH_WUR;
/* Decodes hex (upper or lower case, no separators). */
vmesh_err vmesh_hex_decode(const char *s, size_t n, vmesh_buf *out) VMESH_WUR;
/* Standard base64 with padding / base64url without padding. The decoder
 * accepts both alphabets and optional padding, refuses anything else. */
vmesh_err vmesh_b64_encode(const uint8_t *p, size_t n, vmesh_buf *out) VMESH_WUR;
vmesh_err vmesh_b64url_encode(const uint8_t *p, size_t n, vmesh_buf *out) VMESH_WUR;
vmesh_err vmesh_b64_decode(const char *s, size_t n, vmesh_buf *out) VMESH_WUR;

/* ---- files ------------------------------------------------------------- */

/* Reads a whole file; refuses files larger than max (0: default cap). */
vmesh_err vmesh_file_read(const char *path, size_t max, vmesh_buf *out) VMESH_WUR;
/* Writes atomically with exactly the given mode (0..0777; umask does not
 * apply): the data goes into a new file with an unpredictable name in the
 * same directory, created with O_EXCL|O_NOFOLLOW and its mode set before
 * the first byte, synced, renamed over path (a symlink at path is replaced,
 * never followed), and the directory synced. Fails rather than publish a
 * file someone swapped in meanwhile. */
vmesh_err vmesh_file_write(const char *path, const void *p, size_t n,
                           unsigned mode) VMESH_WUR;

/* ---- JSON text --------------------------------------------------------- */

/* The one JSON string escaper (RFC 8259 §7: "All Unicode characters may be
 * placed within the quotation marks, except for the characters that MUST be
 * escaped: quotation mark, reverse solidus, and the control characters
 * (U+0000 through U+001F)"). Those are written as \" \\ and \u00XX; valid
 * UTF-8 is copied as is; every byte that is not part of valid UTF-8 becomes
 * \ufffd, so the output is valid JSON whatever the input (peer-supplied
 * text included). vmesh_json_str appends s[0..n) with its quotes. */
vmesh_err vmesh_json_str(vmesh_buf *out, const char *s, size_t n) VMESH_WUR;
/* Appends the member `"name":"<lower-case hex of p[0..n)>"` (no comma):
 * how claims documents show digests and identifiers, the way sha256sum
 * and RV JSON write them. */
vmesh_err vmesh_json_hex_member(vmesh_buf *out, const char *name, const uint8_t *p, size_t n) VMESH_WUR;
/* RFC 3629 UTF-8 (no overlong forms, no surrogates, nothing above
 * U+10FFFF): the one validator, for JSON and CBOR text alike. NUL is valid
 * UTF-8; callers that need C strings refuse it themselves. */
bool vmesh_utf8_valid(const uint8_t *p, size_t n);
/* The same for fixed-size log lines: the escaped text of the C string s
 * (NULL counts as "") without quotes, NUL-terminated in out[cap]; when it
 * does not fit it is cut before a whole character or escape, never inside
 * one. Returns the length written (< cap; 0 when cap is 0). */
size_t vmesh_json_str_to(char *out, size_t cap, const char *s);

/* ---- network addresses ------------------------------------------------- */

/* The one address syntax of every option, configuration key and argument
 * that names a TCP endpoint:
 *   HOST:PORT     HOST a dotted-quad IPv4 address or a host name
 *   [IPV6]:PORT   IPv6 addresses only in brackets (no zone ids)
 *   :PORT *:PORT  every IPv4 interface (listening addresses only)
 * PORT is decimal 1..65535; 0 (any free port) only for listening. A host
 * name is at most 253 characters of letters, digits, '-', '_' and '.' in
 * labels of 1..63; "localhost" always means 127.0.0.1. Host names resolve
 * with the system resolver (first answer). Anything else is refused with
 * a message naming the problem. */
#define VMESH_NET_HOST_MAX 253
#define VMESH_NET_ADDR_MAX (VMESH_NET_HOST_MAX + 8) /* "[" host "]:" 5 digits */

enum {
    VMESH_NET_LISTEN = 1u << 0,    /* a local address: allows ":PORT", "*:PORT", port 0 */
    VMESH_NET_NUMERIC = 1u << 1,   /* refuse host names (no resolver) */
    VMESH_NET_REUSEPORT = 1u << 2, /* vmesh_net_listen: SO_REUSEPORT (one socket per worker) */
    VMESH_NET_BLOCKING = 1u << 3,  /* vmesh_net_listen: leave the socket blocking */
};

typedef struct {
    char host[VMESH_NET_HOST_MAX + 1]; /* without brackets; "" for ":PORT" and "*:PORT" */
    uint16_t port;
    bool v6;   /* [IPV6]:PORT */
    bool name; /* host is a name, not an address literal */
} vmesh_net_hostport;

/* Syntax only, never the resolver. */
vmesh_err vmesh_net_parse(const char *s, unsigned flags, vmesh_net_hostport *out) VMESH_WUR;
/* Parse and resolve to one socket address. */
vmesh_err vmesh_net_resolve(const char *s, unsigned flags, struct sockaddr_storage *ss,
                            socklen_t *len) VMESH_WUR;
/* A listening TCP socket on s: close-on-exec, SO_REUSEADDR, non-blocking
 * (unless VMESH_NET_BLOCKING), IPV6_V6ONLY for [IPV6] addresses, the given
 * backlog (<= 0: 1024). Bind failures say why (in use, not local, needs
 * privilege). */
vmesh_err vmesh_net_listen(const char *s, int backlog, unsigned flags, int *fd) VMESH_WUR;
/* The local port a socket is bound to (0 on error). */
uint16_t vmesh_net_local_port(int fd);
/* A socket address in the syntax above ("192.0.2.1:443", "[2001:db8::1]:443")
 * into out[cap] (VMESH_NET_ADDR_STR_MAX is enough); "" when it is neither
 * IPv4 nor IPv6 or does not fit. */
#define VMESH_NET_ADDR_STR_MAX 56
void vmesh_net_addr_str(const struct sockaddr_storage *ss, char *out, size_t cap);

/* ---- time -------------------------------------------------------------- */

int64_t vmesh_time_now(void);       /* seconds since the epoch, wall clock */
uint64_t vmesh_time_mono_ns(void);  /* monotonic nanoseconds */
/* Parse "2022-09-24T00:00:00Z" (RFC 3339, UTC or offset) into epoch seconds. */
vmesh_err vmesh_time_parse_rfc3339(const char *s, int64_t *out) VMESH_WUR;
/* A duration as configuration files and command lines write it, one syntax
 * everywhere: a decimal number followed by "ms", "s", "m" or "h", or a bare
 * number of seconds ("500ms", "30s", "30", "5m", "1h"); at most 10^9 of the
 * unit. Into milliseconds; false when s is not that (no error is set, the
 * caller names the option). */
bool vmesh_duration_parse_ms(const char *s, uint64_t *ms);
/* Override "now" for the process (tests, --at); 0 restores the clock. */
void vmesh_time_pin(int64_t t);

/* ---- logging ----------------------------------------------------------- */

/* The operational log, on stderr: one record per call, written with one
 * write(2) so threads never interleave, each with an RFC 3339 UTC time (ms)
 * and its level. Text: "2026-12-04T12:00:00.123Z warn proxy: ..."; JSON:
 * {"time":"2026-12-04T12:00:00.123Z","level":"warn","msg":"proxy: ..."}
 * (the message escaped by vmesh_json_str_to, so every line parses). */
typedef enum { VMESH_LOG_ERROR, VMESH_LOG_WARN, VMESH_LOG_INFO, VMESH_LOG_DEBUG } vmesh_log_level;
typedef enum { VMESH_LOG_TEXT, VMESH_LOG_JSON } vmesh_log_format;
void vmesh_log_set_level(vmesh_log_level l);
void vmesh_log_set_format(vmesh_log_format f);
vmesh_log_format vmesh_log_get_format(void);
/* "text" or "json"; an error naming both otherwise. */
vmesh_err vmesh_log_format_parse(const char *s, vmesh_log_format *out) VMESH_WUR;
void vmesh_log(vmesh_log_level l, const char *fmt, ...) VMESH_PRINTF(2, 3);
/* A line a daemon prints whatever the level (listening, stopping, totals),
 * at level "info" in its record. */
void vmesh_log_status(const char *fmt, ...) VMESH_PRINTF(1, 2);

/* ---- service manager ---------------------------------------------------- */

/* sd_notify(3) without libsystemd: sends state ("READY=1\nSTATUS=...") as one
 * datagram to $NOTIFY_SOCKET (a path or "@abstract"); VMESH_OK and nothing
 * sent when it is unset. */
vmesh_err vmesh_notify(const char *state) VMESH_WUR;
/* $WATCHDOG_USEC when the manager asks this process for WATCHDOG=1 pings
 * (WATCHDOG_PID unset or ours), else 0. */
uint64_t vmesh_notify_watchdog_usec(void);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
