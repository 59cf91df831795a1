/*
 * `vmesh dashboard`: the mesh page. An HTTP server (libmicrohttpd) that
 * serves the page (compiled in from web/) and /mesh/state, and a poller
 * thread that fetches /dashboard/state from the admin endpoint of every
 * node it was given (libcurl, all nodes at once, each with a deadline), so
 * that the browser only ever talks to this server. Like src/demo, a static
 * library for the vmesh command only, never part of libvmesh.
 */
#ifndef VMESH_DASHBOARD_H
#define VMESH_DASHBOARD_H

#include "vmesh/core.h"

#include <stddef.h>
#include <stdint.h>

#define DASH_MAX_NODES 64
#define DASH_URL_MAX 300
/* The most a node's state may weigh; a bigger answer is that node's error. */
#define DASH_NODE_STATE_MAX ((size_t)2 * 1024 * 1024)

typedef struct {
    const char *listen;                /* HOST:PORT of the page */
    char (*nodes)[DASH_URL_MAX];       /* base URLs, as dash_node_url wrote them */
    size_t nnodes;
    unsigned poll_ms;                  /* how often nodes are read; 0: 1000 */
} dash_mesh_config;

typedef struct dash_mesh dash_mesh;

/* "http://HOST:PORT[/]" or "HOST:PORT" (an admin endpoint: plain HTTP) ->
 * "http://HOST:PORT"; anything else is refused with the reason. */
vmesh_err dash_node_url(const char *in, char out[DASH_URL_MAX]) VMESH_WUR;
/* Appends the node URLs of a file (one a line; blank lines and lines
 * starting with # are skipped) to nodes[*n..DASH_MAX_NODES). */
vmesh_err dash_nodes_file(const char *path, char (*nodes)[DASH_URL_MAX], size_t *n) VMESH_WUR;

/* Listens, starts polling; the page is up when this returns. */
vmesh_err dash_mesh_start(const dash_mesh_config *cfg, dash_mesh **out) VMESH_WUR;
uint16_t dash_mesh_port(const dash_mesh *m);
void dash_mesh_stop(dash_mesh *m);

/* The page's files (generated from web/ at build time). */
bool dash_web_asset(const char *path, const unsigned char **data, size_t *len, const char **type);

#endif
