/*
 * `vmesh attest PLATFORM`: produce platform evidence with any attester the
 * scheme registry knows (psa-sim, cca-sim, tpm2, tsm), print decoded
 * evidence, or write a platform's reference values. Everything platform
 * specific comes from the scheme (vmesh_evidence_scheme: its attester
 * options, describe, reference_values); this file only maps the command
 * line onto it. It must never print or log a private key, never write
 * evidence after an error, and never present printed evidence as verified
 * unless the scheme checked it.
 */
#include "cli.h"

#include "vmesh/schemes.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

#define MAX_CFG 128                            /* attester options on one command line */
#define EVIDENCE_MAX ((size_t)16 * 1024 * 1024) /* --print reads at most this much */

enum { OPT_NONCE = 'n', OPT_OUT = 'o', OPT_PRINT = 'p', OPT_RV = 'r', OPT_OPT = 'O', OPT_HELP = 'h' };
#define OPT_SCHEME 1000 /* + index into the scheme's option table */
#define NCOMMON 6
#define SCHEME_OPTIONS_MAX 64

static const char *platform_name(const vmesh_evidence_scheme *s)
{
    return s->attester_name ? s->attester_name : s->name;
}

/* The platforms with an attester and, when `what` is set, that tool. */
static void list_platforms(FILE *f, int what)
{
    size_t n;
    const vmesh_evidence_scheme *const *all = vmesh_schemes_all(&n);
    bool first = true;

    for (size_t i = 0; i < n; i++) {
        if (all[i]->attester_new == NULL || (what == OPT_PRINT && all[i]->describe == NULL) ||
            (what == OPT_RV && all[i]->reference_values == NULL))
            continue;
        fprintf(f, "%s%s", first ? "" : ", ", platform_name(all[i]));
        if (all[i]->attester_name != NULL && what == 0)
            fprintf(f, " (scheme %s)", all[i]->name);
        first = false;
    }
}

/* Prints text from column `col` on, wrapped at 79 columns. */
static void wrapped(FILE *f, const char *text, int col)
{
    int at = col;

    while (*text != '\0') {
        size_t w = strcspn(text, " ");
        if (at > col && at + 1 + (int)w > 79) {
            fprintf(f, "\n%*s", col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', f);
            at++;
        }
        fprintf(f, "%.*s", (int)w, text);
        at += (int)w;
        text += w;
        while (*text == ' ')
            text++;
    }
    fputc('\n', f);
}

static void usage(FILE *f, const vmesh_evidence_scheme *s)
{
    const char *p = s ? platform_name(s) : "PLATFORM";

    fprintf(f,
            "usage: vmesh attest %s [ATTESTER OPTIONS] [--nonce HEX] -o EVIDENCE\n"
            "       vmesh attest %s [ATTESTER OPTIONS] --reference-values OUT.json\n"
            "       vmesh attest %s --print EVIDENCE [KEY OPTIONS]\n"
            "\n"
            "Produces platform evidence with the attester of PLATFORM, prints decoded\n"
            "evidence, or writes the platform's reference values; what a platform takes and\n"
            "can do comes from its evidence scheme (the scheme registry).\n"
            "Platforms: ",
            p, p, p);
    list_platforms(f, 0);
    fprintf(f, "\n\n"
               "  -n, --nonce HEX          the nonce the evidence carries (the platform checks\n"
               "                           its length; psa-sim and cca-sim fall back on their\n"
               "                           template's)\n"
               "  -o, --out FILE           where to write the evidence ('-': standard output)\n"
               "  -r, --reference-values FILE\n"
               "                           write the platform's current values as RV JSON; on: ");
    list_platforms(f, OPT_RV);
    fprintf(f, "\n"
               "  -p, --print FILE         print decoded evidence as JSON; given the key option\n"
               "                           marked --print below, the platform checks the\n"
               "                           signature with it, else nothing is verified (vmesh\n"
               "                           appraise does that); on: ");
    list_platforms(f, OPT_PRINT);
    fprintf(f, "\n"
               "  -O, --opt KEY=VALUE      an attester option by its configuration key, as in the\n"
               "                           proxy's attester.options (repeatable)\n"
               "  -h, --help               this text (after PLATFORM: with its attester options)\n");
    if (s == NULL) {
        fprintf(f, "\nRun 'vmesh attest PLATFORM --help' for a platform's attester options.\n");
    } else if (s->attester_options != NULL && s->attester_options[0].key != NULL) {
        fprintf(f, "\nattester options of %s (each also as --opt KEY=VALUE):\n", p);
        for (const vmesh_evidence_option *o = s->attester_options; o->key != NULL; o++) {
            char head[64], text[512];
            int w;
            if (o->short_name)
                w = snprintf(head, sizeof(head), "  -%c, --%s %s", o->short_name, o->key, o->arg);
            else
                w = snprintf(head, sizeof(head), "      --%s %s", o->key, o->arg);
            fprintf(f, "%s", head);
            if (w >= 26) {
                fprintf(f, "\n%27s", "");
            } else {
                fprintf(f, "%*s", 27 - w, "");
            }
            snprintf(text, sizeof(text), "%s%s", o->help, o->repeatable ? " (repeatable)" : "");
            wrapped(f, text, 27);
        }
    }
    fprintf(f, "\nexit codes: 0 done; 1 bad option, unreadable key or template, device\n"
               "unreachable or refused, malformed evidence, bad signature, I/O error\n");
}

static int write_out(const char *path, const vmesh_buf *b, const char *what)
{
    vmesh_err rc;

    if (strcmp(path, "-") == 0) {
        if (fwrite(b->data, 1, b->len, stdout) != b->len || fflush(stdout) != 0) {
            fprintf(stderr, "vmesh attest: writing the %s to standard output failed\n", what);
            return CLI_EXIT_ERROR;
        }
        return CLI_EXIT_OK;
    }
    rc = vmesh_file_write(path, b->data, b->len, 0644);
    return rc == VMESH_OK ? CLI_EXIT_OK : cli_fail("attest", rc, path);
}

/* What the command line asked for, once parsed. */
typedef struct {
    vmesh_kv cfg[MAX_CFG];
    size_t ncfg;
    const char *nonce_hex, *out, *rv_out, *print;
} attest_args;

/* An attester option: its key must be one of the scheme's (when the scheme
 * lists them), and a key that is not repeatable is given at most once. */
static int add_cfg(const vmesh_evidence_scheme *s, attest_args *a, const char *key, const char *value)
{
    const vmesh_evidence_option *o = s->attester_options;

    while (o != NULL && o->key != NULL && strcmp(o->key, key) != 0)
        o++;
    if (o != NULL && o->key == NULL)
        return cli_usage_error("attest", "%s has no attester option \"%s\"", platform_name(s), key);
    for (size_t i = 0; o != NULL && !o->repeatable && i < a->ncfg; i++)
        if (strcmp(a->cfg[i].key, key) == 0)
            return cli_usage_error("attest", "--%s given twice", key);
    if (a->ncfg == MAX_CFG)
        return cli_usage_error("attest", "more than %d attester options", MAX_CFG);
    a->cfg[a->ncfg++] = (vmesh_kv){o != NULL ? o->key : key, value};
    return CLI_EXIT_OK;
}

/* Parses argv (argv[0] is the platform) with the common options and the
 * scheme's own. Returns CLI_EXIT_OK, or an exit code to return (-1: --help
 * was printed). */
static int parse(const vmesh_evidence_scheme *s, int argc, char **argv, attest_args *a, char *opt_key,
                 size_t opt_key_len)
{
    static const struct option common[NCOMMON] = {
        {"nonce", required_argument, NULL, OPT_NONCE}, {"out", required_argument, NULL, OPT_OUT},
        {"reference-values", required_argument, NULL, OPT_RV}, {"print", required_argument, NULL, OPT_PRINT},
        {"opt", required_argument, NULL, OPT_OPT}, {"help", no_argument, NULL, OPT_HELP},
    };
    struct option opts[NCOMMON + SCHEME_OPTIONS_MAX + 1];
    char shorts[2 * SCHEME_OPTIONS_MAX + 16] = "n:o:r:p:O:h";
    size_t nopts = NCOMMON, sl = strlen(shorts);
    int c, ret;

    memcpy(opts, common, sizeof(common));
    for (size_t i = 0; s->attester_options != NULL && s->attester_options[i].key != NULL && i < SCHEME_OPTIONS_MAX;
         i++) {
        const vmesh_evidence_option *o = &s->attester_options[i];
        opts[nopts++] = (struct option){o->key, required_argument, NULL, OPT_SCHEME + (int)i};
        if (o->short_name && sl + 2 < sizeof(shorts)) {
            shorts[sl++] = o->short_name;
            shorts[sl++] = ':';
            shorts[sl] = '\0';
        }
    }
    opts[nopts] = (struct option){NULL, 0, NULL, 0};
    optind = 1;
    while ((c = getopt_long(argc, argv, shorts, opts, NULL)) != -1) {
        const char *eq;
        switch (c) {
        case OPT_NONCE: a->nonce_hex = optarg; continue;
        case OPT_OUT: a->out = optarg; continue;
        case OPT_RV: a->rv_out = optarg; continue;
        case OPT_PRINT: a->print = optarg; continue;
        case OPT_HELP: usage(stdout, s); return -1;
        case OPT_OPT:
            eq = strchr(optarg, '=');
            if (eq == NULL || eq == optarg || (size_t)(eq - optarg) >= opt_key_len)
                return cli_usage_error("attest", "--opt takes KEY=VALUE, not \"%.64s\"", optarg);
            /* argv outlives the parse: the key is cut out of it in place */
            memcpy(opt_key, optarg, (size_t)(eq - optarg));
            opt_key[eq - optarg] = '\0';
            if ((ret = add_cfg(s, a, opt_key, eq + 1)) != CLI_EXIT_OK)
                return ret;
            opt_key += (eq - optarg) + 1;
            opt_key_len -= (size_t)(eq - optarg) + 1;
            continue;
        default: break;
        }
        for (size_t i = 0; s->attester_options != NULL && s->attester_options[i].key != NULL; i++)
            if (c == OPT_SCHEME + (int)i || (c == s->attester_options[i].short_name && c != 0))
                c = OPT_SCHEME + (int)i;
        if (c < OPT_SCHEME)
            return cli_usage_error("attest", "invalid option");
        if ((ret = add_cfg(s, a, s->attester_options[c - OPT_SCHEME].key, optarg)) != CLI_EXIT_OK)
            return ret;
    }
    if (optind != argc)
        return cli_usage_error("attest", "unexpected argument '%s'", argv[optind]);
    return CLI_EXIT_OK;
}

static int do_print(const vmesh_evidence_scheme *s, const attest_args *a)
{
    vmesh_buf ev = {0}, json = {0};
    vmesh_err rc;
    int ret = CLI_EXIT_ERROR;

    if (s->describe == NULL)
        return cli_usage_error("attest", "%s cannot print evidence (vmesh appraise decodes it)", platform_name(s));
    rc = vmesh_file_read(a->print, EVIDENCE_MAX, &ev);
    if (rc == VMESH_OK)
        rc = s->describe(ev.data, ev.len, a->cfg, a->ncfg, &json);
    if (rc == VMESH_OK)
        rc = vmesh_buf_terminate(&json);
    if (rc != VMESH_OK) {
        cli_fail("attest", rc, a->print);
        goto out;
    }
    printf("%s\n", (const char *)json.data);
    for (size_t i = 0; i < a->ncfg; i++)
        fprintf(stderr, "vmesh attest: signature verified with the %s %s\n", a->cfg[i].key, a->cfg[i].value);
    ret = CLI_EXIT_OK;
out:
    vmesh_buf_free(&ev);
    vmesh_buf_free(&json);
    return ret;
}

static int do_attest(const vmesh_evidence_scheme *s, const attest_args *a)
{
    vmesh_buf nonce = {0}, ev = {0};
    void *ctx = NULL;
    vmesh_err rc;
    int ret = CLI_EXIT_ERROR;

    if (a->nonce_hex != NULL && vmesh_hex_decode(a->nonce_hex, strlen(a->nonce_hex), &nonce) != VMESH_OK) {
        ret = cli_usage_error("attest", "--nonce is not valid hex: %s", vmesh_err_detail());
        goto out;
    }
    rc = s->attester_new(a->cfg, a->ncfg, &ctx);
    if (rc != VMESH_OK) {
        ret = cli_fail("attest", rc, "setting up the attester");
        goto out;
    }
    rc = s->attest(ctx, a->nonce_hex ? nonce.data : NULL, nonce.len, &ev);
    if (rc != VMESH_OK) {
        ret = cli_fail("attest", rc, "producing evidence");
        goto out;
    }
    ret = write_out(a->out, &ev, "evidence");
out:
    if (ctx != NULL)
        s->attester_free(ctx);
    vmesh_buf_free(&nonce);
    vmesh_buf_free(&ev);
    return ret;
}

static int do_reference_values(const vmesh_evidence_scheme *s, const attest_args *a)
{
    vmesh_buf rv = {0};
    vmesh_err rc;
    int ret;

    if (s->reference_values == NULL)
        return cli_usage_error("attest", "%s cannot read its own reference values", platform_name(s));
    rc = s->reference_values(a->cfg, a->ncfg, &rv);
    ret = rc == VMESH_OK ? write_out(a->rv_out, &rv, "reference values")
                         : cli_fail("attest", rc, "reading reference values from the platform");
    vmesh_buf_free(&rv);
    return ret;
}

int cli_attest(int argc, char **argv)
{
    const vmesh_evidence_scheme *s;
    attest_args a;
    char opt_keys[4096];
    int ret;

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout, NULL);
        return argc < 2 ? CLI_EXIT_ERROR : CLI_EXIT_OK;
    }
    s = vmesh_schemes_by_platform(argv[1]);
    if (s == NULL || s->attester_new == NULL) {
        fprintf(stderr, "vmesh attest: %s platform '%s' (platforms with an attester: ", s ? "no attester for" : "unknown",
                argv[1]);
        list_platforms(stderr, 0);
        fprintf(stderr, ")\n");
        return CLI_EXIT_ERROR;
    }
    memset(&a, 0, sizeof(a));
    ret = parse(s, argc - 1, argv + 1, &a, opt_keys, sizeof(opt_keys));
    if (ret != CLI_EXIT_OK)
        return ret < 0 ? CLI_EXIT_OK : ret;
    if (a.print != NULL) {
        if (a.nonce_hex || a.out || a.rv_out)
            return cli_usage_error("attest", "--print takes no --nonce, -o or --reference-values");
        return do_print(s, &a);
    }
    if (a.rv_out != NULL) {
        if (a.nonce_hex || a.out)
            return cli_usage_error("attest", "--reference-values takes no --nonce or -o");
        return do_reference_values(s, &a);
    }
    if (a.out == NULL)
        return cli_usage_error("attest", "-o EVIDENCE is required (or --print, --reference-values)");
    return do_attest(s, &a);
}
