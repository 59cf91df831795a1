/*
 * `vmesh keygen`: generate a signing key (EC P-256, EC P-384, Ed25519) and
 * write it as PEM or JWK, private key file mode 0600. It must never
 * overwrite an existing key unless told to (--force), and never print or
 * log private key material.
 */
#include "cli.h"

#include "vmesh/crypto.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static void keygen_usage(FILE *f)
{
    fprintf(f,
            "usage: vmesh keygen [--type ec-p256|ec-p384|ed25519] -o KEY [--jwk] [--pub PUBFILE]\n"
            "                    [--force]\n"
            "\n"
            "Generates a signing key and writes the private key to KEY (mode 0600).\n"
            "\n"
            "  -t, --type TYPE   ec-p256 (default, ES256), ec-p384 (ES384) or ed25519 (EdDSA)\n"
            "  -o, --out KEY     private key file (PKCS#8 PEM, or JWK with --jwk)\n"
            "  -p, --pub FILE    also write the public key (SPKI PEM, or JWK with --jwk), mode 0644\n"
            "  -j, --jwk         write JWK (RFC 7517) JSON instead of PEM\n"
            "  -f, --force       overwrite existing files (by default an existing KEY or\n"
            "                    PUBFILE is refused)\n"
            "  -h, --help        this text\n"
            "\n"
            "Prints the RFC 7638 JWK thumbprint (base64url) of the new key on stdout.\n"
            "\n"
            "exit codes: 0 key written; 1 bad option, unknown type, existing file or I/O error\n");
}

static bool file_exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static int write_key(const vmesh_key *k, const char *path, bool priv, bool jwk)
{
    vmesh_buf b = {0};
    vmesh_err rc;
    int ret = CLI_EXIT_OK;

    b.secret = priv;
    rc = jwk ? vmesh_crypto_key_to_jwk(k, priv, &b) : vmesh_crypto_key_to_pem(k, priv, &b);
    if (rc == VMESH_OK && jwk && (b.len == 0 || b.data[b.len - 1] != '\n'))
        rc = vmesh_buf_append_u8(&b, '\n');
    if (rc == VMESH_OK)
        rc = vmesh_file_write(path, b.data, b.len, priv ? 0600 : 0644);
    /* The mode given to open() is filtered by the umask; a private key is
     * 0600 whatever the umask says. */
    if (rc == VMESH_OK && chmod(path, priv ? 0600 : 0644) != 0)
        rc = vmesh_err_set(VMESH_ERR_IO, "cannot set the mode of %s", path);
    if (rc != VMESH_OK)
        ret = cli_fail("keygen", rc, priv ? "writing the private key" : "writing the public key");
    vmesh_buf_free(&b);
    return ret;
}

int cli_keygen(int argc, char **argv)
{
    static const struct option opts[] = {
        {"type", required_argument, NULL, 't'}, {"out", required_argument, NULL, 'o'},
        {"pub", required_argument, NULL, 'p'},  {"jwk", no_argument, NULL, 'j'},
        {"force", no_argument, NULL, 'f'},      {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *type = "ec-p256", *out = NULL, *pub = NULL;
    bool jwk = false, force = false;
    vmesh_key_type t;
    vmesh_key *k = NULL;
    vmesh_buf tp = {0};
    uint8_t thumb[32];
    vmesh_err rc;
    int c, ret = CLI_EXIT_ERROR;

    optind = 1;
    while ((c = getopt_long(argc, argv, "t:o:p:jfh", opts, NULL)) != -1) {
        switch (c) {
        case 't': type = optarg; break;
        case 'o': out = optarg; break;
        case 'p': pub = optarg; break;
        case 'j': jwk = true; break;
        case 'f': force = true; break;
        case 'h': keygen_usage(stdout); return CLI_EXIT_OK;
        default: return cli_usage_error("keygen", "invalid option");
        }
    }
    if (optind != argc)
        return cli_usage_error("keygen", "unexpected argument '%s'", argv[optind]);
    if (out == NULL)
        return cli_usage_error("keygen", "-o KEY is required");
    if (vmesh_crypto_key_type_parse(type, &t) != VMESH_OK)
        return cli_usage_error("keygen", "unknown key type '%s' (accepted types: ec-p256, "
                                         "ec-p384, ed25519)",
                               type);
    if (pub != NULL && strcmp(pub, out) == 0)
        return cli_usage_error("keygen", "--pub and -o name the same file");
    if (!force && file_exists(out))
        return cli_usage_error("keygen", "%s exists; refusing to overwrite it (use --force)", out);
    if (!force && pub != NULL && file_exists(pub))
        return cli_usage_error("keygen", "%s exists; refusing to overwrite it (use --force)", pub);

    rc = vmesh_crypto_key_generate(t, &k);
    if (rc != VMESH_OK) {
        ret = cli_fail("keygen", rc, "generating the key");
        goto out;
    }
    if ((ret = write_key(k, out, true, jwk)) != CLI_EXIT_OK)
        goto out;
    if (pub != NULL && (ret = write_key(k, pub, false, jwk)) != CLI_EXIT_OK)
        goto out;
    rc = vmesh_crypto_key_thumbprint(k, thumb);
    if (rc == VMESH_OK)
        rc = vmesh_b64url_encode(thumb, sizeof(thumb), &tp);
    if (rc != VMESH_OK) {
        ret = cli_fail("keygen", rc, "computing the JWK thumbprint");
        goto out;
    }
    printf("%s\n", (const char *)tp.data);
    ret = CLI_EXIT_OK;
out:
    vmesh_buf_free(&tp);
    vmesh_crypto_key_free(k);
    return ret;
}
