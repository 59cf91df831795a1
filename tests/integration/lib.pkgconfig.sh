#!/usr/bin/env bash
# A program outside the tree builds against an installed libvmesh with
# pkg-config alone: install this build into a temporary prefix, compile a
# small C program with `pkg-config --cflags --libs vmesh` (also --static
# resolves every Requires.private), run it: it signs and verifies a JWS with
# a fresh key, refuses a tampered one, and uses the address parser and the
# JSON escaper, all through the shared library (checked with ldd).
set -u
[ -n "${VMESH_BUILD:-}" ] && [ -f "${VMESH_LIB:-}" ] || { echo "VMESH_BUILD/VMESH_LIB not set"; exit 77; }
command -v pkg-config >/dev/null || { echo "pkg-config missing"; exit 77; }
CC=${VMESH_CC:-cc}
d=$(mktemp -d); trap 'rm -rf "$d"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

cmake --install "$VMESH_BUILD" --prefix "$d/prefix" >"$d/install.log" 2>&1 || fail "install: $(tail -5 "$d/install.log")"
pc=$(find "$d/prefix" -name vmesh.pc | head -1)
[ -n "$pc" ] || fail "no vmesh.pc installed"
export PKG_CONFIG_PATH=$(dirname "$pc")
ls "$d"/prefix/lib*/libvmesh.so.0 >/dev/null 2>&1 || ls "$d"/prefix/lib/*/libvmesh.so.0 >/dev/null 2>&1 \
    || fail "libvmesh.so.0 not installed"
cflags=$(pkg-config --cflags vmesh) || fail "pkg-config --cflags vmesh"
libs=$(pkg-config --libs vmesh) || fail "pkg-config --libs vmesh"
pkg-config --static --libs vmesh >/dev/null || fail "pkg-config --static --libs vmesh: $(pkg-config --static --libs vmesh 2>&1)"
libdir=$(pkg-config --variable=libdir vmesh)
[ "$(cd "$libdir" && pwd -P)" = "$(cd "$(dirname "$(ls "$d"/prefix/lib*/libvmesh.so "$d"/prefix/lib/*/libvmesh.so 2>/dev/null | head -1)")" && pwd -P)" ] \
    || fail "libdir $libdir is not where the library is"
echo "ok: installed; pkg-config gives: $cflags $libs"

mkdir "$d/app" && cd "$d/app" || fail "cd"
cat >app.c <<'C'
#include <stdio.h>
#include <string.h>
#include <vmesh/core.h>
#include <vmesh/crypto.h>
#include <vmesh/jose.h>

#define CHECK(x)                                                                                \
    do {                                                                                        \
        if ((x) != VMESH_OK) {                                                                  \
            fprintf(stderr, "%s: %s\n", #x, vmesh_err_detail());                                \
            return 1;                                                                           \
        }                                                                                       \
    } while (0)

int main(void)
{
    vmesh_key *k = NULL;
    vmesh_buf jws = {0}, payload = {0}, esc = {0};
    vmesh_net_hostport hp;
    const char *msg = "{\"hello\":\"attested world\"}";

    CHECK(vmesh_crypto_key_generate(VMESH_KEY_EC_P256, &k));
    CHECK(vmesh_jose_jws_sign(k, "JWT", "app", (const uint8_t *)msg, strlen(msg), &jws));
    CHECK(vmesh_jose_jws_verify((const char *)jws.data, jws.len, k, &payload));
    if (payload.len != strlen(msg) || memcmp(payload.data, msg, payload.len) != 0)
        return 2;
    jws.data[jws.len - 2] ^= 1; /* tamper with the signature */
    if (vmesh_jose_jws_verify((const char *)jws.data, jws.len, k, &payload) == VMESH_OK)
        return 3;
    printf("tampered JWS refused: %s\n", vmesh_err_detail());
    CHECK(vmesh_net_parse("[::1]:8443", 0, &hp));
    if (vmesh_net_parse("::1:8443", 0, &hp) != VMESH_ERR_ARG)
        return 4;
    CHECK(vmesh_json_str(&esc, "a\"b\n", 4));
    printf("host %s port %u, json %.*s, alg %s\n", "::1", 8443u, (int)esc.len, (const char *)esc.data,
           vmesh_crypto_key_jws_alg(k));
    vmesh_buf_free(&jws);
    vmesh_buf_free(&payload);
    vmesh_buf_free(&esc);
    vmesh_crypto_key_free(k);
    puts("app ok");
    return 0;
}
C
# shellcheck disable=SC2086
"$CC" ${VMESH_TEST_CFLAGS:-} -Wall -Wextra -Werror $cflags app.c -o app $libs -Wl,-rpath,"$libdir" 2>"$d/cc.log" \
    || fail "compile: $(cat "$d/cc.log")"
echo "ok: compiled with $CC against the installed tree"
readelf -d app | grep -q 'NEEDED.*\[libvmesh.so.0\]' || fail "app does not need libvmesh.so.0"
ldd ./app | grep -q "libvmesh.so.0 => $libdir\|libvmesh.so.0 => $(cd "$libdir" && pwd -P)" \
    || fail "app does not load the installed library: $(ldd ./app | grep vmesh)"
./app >"$d/run.out" 2>&1 || fail "app exited $?: $(cat "$d/run.out")"
grep -q "tampered JWS refused: .*signature" "$d/run.out" || fail "tamper message: $(cat "$d/run.out")"
grep -q 'json "a\\"b\\u000a"' "$d/run.out" || fail "json: $(cat "$d/run.out")"
grep -q "^app ok" "$d/run.out" || fail "run: $(cat "$d/run.out")"
echo "ok: the program runs against the installed libvmesh.so.0"
