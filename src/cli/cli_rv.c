/*
 * Reference values for an in-process verifier from the command line, one
 * way for `vmesh verifier serve` and `vmesh ca serve`: --rv files into a
 * store, --rvp providers into a bundle sync client (cli.h).
 */
#include "cli.h"
#include "vmesh/rv.h"
#include "vmesh/rvp.h"
#include "vmesh/verifier.h"
#ifdef VMESH_HAVE_SYNC
#include "vmesh/sync.h"
#endif

#include <stdio.h>
#include <string.h>

int cli_verifier_rv(const char *cmd, struct vmesh_verifier *v, const cli_rv_sources *src,
                    struct vmesh_rv_store **store, struct vmesh_bell_view **bell, struct vmesh_sync **sync)
{
    vmesh_err rc;

    if (src->nrv > 0) {
        if ((rc = vmesh_rv_store_new(store)) != VMESH_OK)
            return cli_fail(cmd, rc, "reference values");
        for (size_t i = 0; i < src->nrv; i++)
            if ((rc = vmesh_verifier_load_rv_file(*store, src->rv_files[i], src->corim_key)) != VMESH_OK)
                return cli_fail(cmd, rc, "reference values refused");
        vmesh_verifier_set_rv(v, *store);
    }
    if (src->nrvp == 0)
        return CLI_EXIT_OK;
#ifdef VMESH_HAVE_SYNC
    vmesh_sync_config sc;

    if (src->nrv > 0)
        vmesh_log_status("vmesh %s: note: bundles from --rvp replace the --rv reference values once the first "
                         "snapshot is installed", cmd);
    for (size_t i = 0; i < src->nbells; i++) {
        vmesh_key *bk = NULL;
        rc = vmesh_crypto_key_load(src->bell_keys[i], &bk);
        if (rc == VMESH_OK)
            rc = i == 0 ? vmesh_bell_view_new(bk, bell) : vmesh_bell_view_add(*bell, bk);
        vmesh_crypto_key_free(bk);
        if (rc != VMESH_OK)
            return cli_fail(cmd, rc, "--bell-key");
    }
    memset(&sc, 0, sizeof(sc));
    sc.bell = *bell;
    sc.state_dir = src->state_dir;
    sc.interval = src->poll_s;
    sc.on_snapshot = vmesh_sync_to_verifier;
    sc.ctx = v;
    if ((rc = vmesh_sync_new(&sc, sync)) != VMESH_OK)
        return cli_fail(cmd, rc, "bundle sync");
    for (size_t i = 0; i < src->nrvp; i++) {
        if ((rc = vmesh_sync_add_rvp_spec(*sync, src->rvps[i])) != VMESH_OK)
            return cli_fail(cmd, rc, "--rvp");
        if (src->scopes != NULL && src->scopes[i] != NULL &&
            (rc = vmesh_sync_scope_rvp(*sync, i, src->scopes[i])) != VMESH_OK)
            return cli_fail(cmd, rc, "--rvp-scope");
    }
    if (src->nrv > 0 && vmesh_sync_scoped(*sync))
        return cli_usage_error(cmd, "--rv cannot be combined with --rvp-scope: a local file has no scope; publish "
                                    "it through an RVP with its own scope");
    return CLI_EXIT_OK;
#else
    (void)bell;
    (void)sync;
    return cli_usage_error(cmd, "--rvp: the bundle sync client is not in this build; use --rv FILE");
#endif
}
