#!/usr/bin/env bash
# examples/library/attested_echo.c (issue 15.6): built outside the tree with
# `pkg-config --cflags --libs vmesh` alone against this build installed in a
# temporary prefix, then run as an attested server and client on the files
# of `vmesh init`: both sides print the other's SPIFFE ID, mode and tier
# affirming and the echo comes back; after the client's workload file
# changes (psa-sim measures it again), the server refuses the client and
# the client is told so (exit 2, reason named on both sides).
. "$(dirname "$0")/lib.bash"
[ -n "${VMESH_BUILD:-}" ] || { echo "SKIP: VMESH_BUILD not set"; exit 77; }
command -v pkg-config >/dev/null || { echo "SKIP: pkg-config missing"; exit 77; }
SRC=${VMESH_SRC:-$(dirname "$0")/../..}
CC=${VMESH_CC:-cc}
cmake --install "$VMESH_BUILD" --prefix "$T/prefix" >"$T/install.log" 2>&1 || { fail "install: $(tail -3 "$T/install.log")"; finish; }
PKG_CONFIG_PATH=$(dirname "$(find "$T/prefix" -name vmesh.pc | head -1)")
export PKG_CONFIG_PATH
libdir=$(pkg-config --variable=libdir vmesh)
mkdir "$T/app" && cp "$SRC/examples/library/attested_echo.c" "$T/app/" && cd "$T/app" || exit 1
# shellcheck disable=SC2046,SC2086
if "$CC" ${VMESH_TEST_CFLAGS:-} -Wall -Wextra -Werror $(pkg-config --cflags vmesh) attested_echo.c -o attested_echo \
       $(pkg-config --libs vmesh) -Wl,-rpath,"$libdir" 2>cc.log; then
    ok "attested_echo.c compiled with $CC and pkg-config only ($(pkg-config --libs vmesh))"
else fail "compile: $(head -20 cc.log)"; finish; fi
ldd ./attested_echo | grep -q "libvmesh.so.0 => $libdir\|libvmesh.so.0 => $(cd "$libdir" && pwd -P)" &&
    ok "it loads the installed libvmesh.so.0" || fail "ldd: $(ldd ./attested_echo | grep vmesh)"
"$VMESH" init mesh >/dev/null || fail "vmesh init"
port=$(free_port)
# run_pair TAG: a server and one client on $port; exit codes in $T/TAG.{s,c}.rc
run_pair() {
    ./attested_echo server mesh "$port" >"$1.s.out" 2>"$1.s.err" &
    local spid=$!
    cleanup_hooks+=("kill $spid 2>/dev/null")
    for _ in $(seq 600); do grep -q listening "$1.s.out" && break; sleep 0.1; done
    ./attested_echo client mesh "$port" >"$1.c.out" 2>"$1.c.err"; echo $? >"$1.c.rc"
    wait "$spid"; echo $? >"$1.s.rc"
}
run_pair ok
[ "$(cat ok.c.rc)" = 0 ] && [ "$(cat ok.s.rc)" = 0 ] && ok "server and client exit 0" || fail "exit codes: client $(cat ok.c.rc) server $(cat ok.s.rc): $(cat ok.c.err ok.s.err)"
grep -q '^peer spiffe://quickstart.example/service attested: mode fresh, tier affirming' ok.c.out &&
    ok "client: $(grep '^peer' ok.c.out)" || fail "client output: $(cat ok.c.out)"
grep -q '^peer spiffe://quickstart.example/client attested: mode fresh, tier affirming' ok.s.out &&
    ok "server: $(grep '^peer' ok.s.out)" || fail "server output: $(cat ok.s.out)"
grep -q '^echo from an attested server: hello' ok.c.out && ok "the echo came back" || fail "no echo"
# the client's workload changes: the server must refuse it
echo "a changed workload" >> mesh/client-workload
run_pair bad
[ "$(cat bad.c.rc)" = 2 ] && ok "changed client: exit 2: $(cat bad.c.err)" || fail "changed client: exit $(cat bad.c.rc): $(cat bad.c.out bad.c.err)"
grep -q 'the peer refused us' bad.c.err && ok "the client is told it was refused" || fail "client err: $(cat bad.c.err)"
grep -q 'we refused the peer' bad.s.err && ok "server: $(cat bad.s.err)" || fail "server err: $(cat bad.s.out bad.s.err)"
grep -q 'echo from' bad.c.out && fail "a refused client got data" || ok "no application data for the refused client"
grep -qE "LeakSanitizer|AddressSanitizer|runtime error" ./*.err && fail "sanitizer report: $(grep -h -A5 Sanitizer ./*.err | head)" || ok "no sanitizer report"
finish
