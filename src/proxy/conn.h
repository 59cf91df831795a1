/*
 * Proxied connections (conn.c): the state machine a worker hosts. The
 * worker reaches it through px_conn_ops; the admin endpoint reads the
 * open connections of every worker through px_conns_peers_json.
 */
#ifndef VMESH_PROXY_CONN_H
#define VMESH_PROXY_CONN_H

#include "worker.h"

extern const px_worker_ops px_conn_ops;

/* Appends the /peers JSON array of open connections (takes each worker's
 * lock in turn). */
vmesh_err px_conns_peers_json(struct vmesh_proxy *p, vmesh_buf *out) VMESH_WUR;

#endif
