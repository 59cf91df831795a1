/*
 * Internal to src/rvp: the CoSERV part of `vmesh rvp serve`
 * (coserv_http.c), called from the bundle server (serve.c).
 */
#ifndef VMESH_RVP_SERVE_INT_H
#define VMESH_RVP_SERVE_INT_H

#include "vmesh/rvp.h"

#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

typedef struct rvp_coserv rvp_coserv;

/* Opens root_fd/rel ("sets/x.json") component by component without following
 * symlinks; a regular file only. rel is modified while walking and restored.
 * -1 when it is not there or not a regular file. */
int rvp_open_under(int root_fd, char *rel, struct stat *st);
/* Reads exactly n bytes; false on an error or a short file. */
bool rvp_read_all(int fd, uint8_t *p, size_t n);

#define RVP_COSERV_WELL_KNOWN "/.well-known/coserv-configuration"
#define RVP_COSERV_PATH "/coserv/"

vmesh_err rvp_coserv_new(int root_fd, const vmesh_key *key, rvp_coserv **out) VMESH_WUR;
void rvp_coserv_free(rvp_coserv *cs);
/* Answers the discovery document or a query (url starts with one of the
 * two paths above). */
enum MHD_Result rvp_coserv_handle(rvp_coserv *cs, struct MHD_Connection *c, const char *url);

#endif
