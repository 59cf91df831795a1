/*
 * vmesh proxy: the sidecar (DESIGN §2, docs/PROXY.md). Inbound listeners
 * terminate attested mutual TLS 1.3 and forward to a local application;
 * outbound listeners take local plaintext and open attested TLS to an
 * upstream list. An epoll event loop per worker thread with non-blocking
 * OpenSSL, bounded buffers with backpressure, timers on every connection
 * state, an admin HTTP endpoint (/ready, /metrics, /peers), a JSON access
 * log, SIGHUP reload and SIGTERM drain, and re-appraisal of open connections
 * when reference values or policy change. It must never forward a byte
 * before the peer was attested and accepted, and never keep a connection
 * open whose peer no longer passes policy after a re-appraisal.
 */
#ifndef VMESH_PROXY_H
#define VMESH_PROXY_H

#include "vmesh/core.h"

#ifdef __cplusplus
extern "C" {
#endif
VMESH_API_BEGIN

/* ---- configuration (YAML, docs/PROXY.md) ------------------------------------ */

typedef struct vmesh_proxy_config vmesh_proxy_config;

/* Parses a configuration. Strict: an unknown key, a missing required key or
 * a bad value is an error whose detail names the key path and the line
 * ("CONFIG:12: limits.idle-timeout: \"ten\" is not a duration"). Relative
 * file names are resolved against the directory of `source` when it is a
 * path (vmesh_proxy_config_load), else against the working directory. */
vmesh_err vmesh_proxy_config_parse(const char *yaml, size_t n, const char *source,
                                   vmesh_proxy_config **out) VMESH_WUR;
vmesh_err vmesh_proxy_config_load(const char *path, vmesh_proxy_config **out) VMESH_WUR;
void vmesh_proxy_config_free(vmesh_proxy_config *c);
/* A few values, for tests and the CLI. */
size_t vmesh_proxy_config_inbound_count(const vmesh_proxy_config *c);
size_t vmesh_proxy_config_outbound_count(const vmesh_proxy_config *c);
/* Listener address by index (inbound first, then outbound); NULL past the end. */
const char *vmesh_proxy_config_listen(const vmesh_proxy_config *c, size_t i);
uint32_t vmesh_proxy_config_idle_timeout_ms(const vmesh_proxy_config *c);
/* The connection limit c gives under a soft RLIMIT_NOFILE of nofile:
 * limits.max-connections when set, else derived (two descriptors per
 * connection after the headroom the process needs, docs/PROXY.md; then
 * *derived is set when derived is not NULL). When needed is not NULL it
 * receives the descriptors that limit needs. */
uint32_t vmesh_proxy_config_max_connections(const vmesh_proxy_config *c, uint64_t nofile,
                                            uint64_t *needed, bool *derived);

/* ---- the proxy ------------------------------------------------------------- */

typedef struct vmesh_proxy vmesh_proxy;

/* Loads the configuration at path, builds the attester, local verifier and
 * policies, and opens every listener (so that a port conflict is reported
 * here). Nothing is served until vmesh_proxy_run. */
vmesh_err vmesh_proxy_new(const char *config_path, vmesh_proxy **out) VMESH_WUR;
/* A dry run of vmesh_proxy_new (what `vmesh proxy --check` does): the same
 * loading path (configuration, certificates matched against their keys,
 * the attester instantiated, RVP, bell and verifier keys and rv-files
 * loaded, policies validated, app and upstream addresses resolved) and so
 * the same error messages, without opening a listener, the admin endpoint
 * or the access log. */
vmesh_err vmesh_proxy_check(const char *config_path) VMESH_WUR;
/* Serves until drained. Blocks SIGHUP, SIGTERM, SIGINT (and ignores
 * SIGPIPE) in the calling thread before starting workers, and takes them
 * through a signalfd: SIGHUP reloads, SIGTERM / SIGINT drain (stop
 * accepting, let open connections finish up to limits.drain-timeout, then
 * close the rest). Returns VMESH_OK after a drain. With $NOTIFY_SOCKET set
 * (systemd Type=notify) it tells the manager READY=1 once the workers
 * accept, RELOADING=1 / READY=1 around a reload, STOPPING=1 at the drain,
 * STATUS= lines, and WATCHDOG=1 when $WATCHDOG_USEC asks for it. */
vmesh_err vmesh_proxy_run(vmesh_proxy *p) VMESH_WUR;
/* Reloads the configuration file, certificates, policy and rv-files
 * (what SIGHUP does); open connections keep their configuration, new ones
 * use the new one; every open connection is re-appraised. On error the old
 * configuration stays in force. Thread-safe. */
vmesh_err vmesh_proxy_reload(vmesh_proxy *p) VMESH_WUR;
/* After vmesh_proxy_run: how many connections were still open when
 * limits.drain-timeout passed and were closed (0: the drain finished). */
long long vmesh_proxy_drain_forced(const vmesh_proxy *p);
/* Starts a drain (what SIGTERM does); async-signal-safe. */
void vmesh_proxy_stop(vmesh_proxy *p);
void vmesh_proxy_free(vmesh_proxy *p);

VMESH_API_END
#ifdef __cplusplus
}
#endif
#endif
