/*
 * Internal to src/rvp: the CoSERV part of `vmesh rvp serve`
 * (coserv_http.c), called from the bundle server (serve.c).
 */
#ifndef VMESH_RVP_SERVE_INT_H
#define VMESH_RVP_SERVE_INT_H

#include "vmesh/rvp.h"

#include <microhttpd.h>

typedef struct rvp_coserv rvp_coserv;

#define RVP_COSERV_WELL_KNOWN "/.well-known/coserv-configuration"
#define RVP_COSERV_PATH "/coserv/"

vmesh_err rvp_coserv_new(int root_fd, const vmesh_key *key, rvp_coserv **out) VMESH_WUR;
void rvp_coserv_free(rvp_coserv *cs);
/* Answers the discovery document or a query (url starts with one of the
 * two paths above). */
enum MHD_Result rvp_coserv_handle(rvp_coserv *cs, struct MHD_Connection *c, const char *url);

#endif
