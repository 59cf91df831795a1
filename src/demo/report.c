/*
 * The end of `vmesh demo sase`: the summary table and checks of the
 * account, and the one JSON object of --json (the demo's own result
 * format, read by tests/integration/demo.sase.sh). It must print exactly
 * one line on stdout with --json, whatever happened.
 */
#include "sase.h"

#include <jansson.h>
#include <stdlib.h>

static json_t *ms_json(double v, bool have)
{
    return have ? json_real((double)((long long)(v * 100 + 0.5)) / 100.0) : json_null();
}

void sase_print_json(demo *d)
{
    json_t *o = json_object(), *modes = json_object(), *rev, *checks = json_array();
    char *s;

    for (int m = 0; m < M__COUNT; m++) {
        mode_stats *st = &d->modes[m];
        json_object_set_new(modes, sase_mode_names[m],
                            json_pack("{s:i, s:i, s:i, s:o, s:o}", "attempted",
                                      (json_int_t)st->attempted, "admitted",
                                      (json_int_t)st->admitted, "refused", (json_int_t)st->refused,
                                      "p50_ms", ms_json(st->p50, st->nlat > 0), "p99_ms",
                                      ms_json(st->p99, st->nlat > 0)));
    }
    rev = json_pack("{s:o, s:o, s:i, s:i}", "cutoff_ms",
                    ms_json(d->cutoff_ms, d->revocation_ran && d->cutoff_ms >= 0),
                    "last_admitted_ms",
                    ms_json(d->last_admitted_ms, d->revocation_ran && d->last_admitted_ms >= 0),
                    "refused_after",
                    (json_int_t)d->refused_after, "admitted_after_restore",
                    (json_int_t)d->admitted_after_restore);
    for (size_t i = 0; i < d->acc.n; i++)
        json_array_append_new(checks, json_pack("{s:s, s:b}", "name", d->acc.checks[i].name, "ok",
                                                d->acc.checks[i].ok));
    json_object_set_new(o, "ok", json_boolean(demo_all_ok(&d->acc)));
    json_object_set_new(o, "modes", modes);
    json_object_set_new(o, "revocation", rev);
    json_object_set_new(o, "unattested_admitted", json_integer(d->unattested_admitted));
    json_object_set_new(o, "checks", checks);
    s = json_dumps(o, JSON_PRESERVE_ORDER | JSON_COMPACT | JSON_REAL_PRECISION(8));
    if (s)
        printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(o);
}

void sase_print_summary(demo *d)
{
    FILE *f = d->opt.json ? stderr : stdout;
    char note[300];

    if (d->opt.json && d->opt.quiet)
        return;
    fprintf(f, "\n== Summary (%d clients, %d requests each per mode, poll interval %d s)\n\n",
            d->opt.clients, d->opt.requests, d->opt.poll_s);
    fprintf(f, "   %-9s %9s %9s %8s %9s %9s\n", "mode", "attempted", "admitted", "refused",
            "p50 ms", "p99 ms");
    for (int m = 0; m < M__COUNT; m++) {
        mode_stats *s = &d->modes[m];
        if (!s->ran) {
            fprintf(f, "   %-9s %9s\n", sase_mode_names[m], "not run");
            continue;
        }
        fprintf(f, "   %-9s %9u %9u %8u %9.2f %9.2f\n", sase_mode_names[m], s->attempted,
                s->admitted, s->refused, s->p50, s->p99);
    }
    if (d->revocation_ran)
        fprintf(f,
                "\n   revocation: cut off by every client after %.0f ms; refused after: %d/%d; "
                "admitted after "
                "restore: %d/%d (after %.0f ms)\n",
                d->cutoff_ms, d->refused_after, d->opt.clients, d->admitted_after_restore,
                d->opt.clients, d->restore_ms);
    fprintf(f, "   unattested peers admitted: %d\n\n", d->unattested_admitted);
    if (d->unclean[0])
        demo_sfmt(note, sizeof(note), "   (first unclean stop: %s)", d->unclean);
    demo_print_checks(&d->acc, f, d->unclean[0] ? note : NULL, d->opt.keep, d->dir);
    fflush(f);
}
