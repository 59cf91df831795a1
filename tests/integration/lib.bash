# Shared helpers for integration tests (sourced, not run).
set -u
VMESH=${VMESH_BIN:?VMESH_BIN must point at the vmesh binary}
VECTORS=${VMESH_VECTORS:-}
T=$(mktemp -d "${TMPDIR:-/tmp}/vmesh-test.XXXXXX")
[ -n "${VMESH_KEEP:-}" ] && echo "test dir: $T (kept)"
cleanup_hooks=()
cleanup() { local h; for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done; [ -n "${VMESH_KEEP:-}" ] || rm -rf "$T"; }
trap cleanup EXIT
fails=0 passes=0
ok()   { passes=$((passes+1)); echo "ok: $*"; }
fail() { fails=$((fails+1)); echo "FAIL: $*"; }
need_vectors() {
    if [ -z "$VECTORS" ] || [ ! -d "$VECTORS" ]; then
        echo "SKIP: shared test vectors not found (VMESH_VECTORS=$VECTORS)"; exit 77
    fi
}
# expect_exit CODE DESCRIPTION -- CMD...: runs CMD, checks its exit code,
# keeps stdout in $T/out and stderr in $T/err.
expect_exit() {
    local want=$1 what=$2; shift 3
    "$@" >"$T/out" 2>"$T/err"; local got=$?
    if [ "$got" -eq "$want" ]; then ok "$what (exit $got)"; else
        fail "$what: exit $got, expected $want"; sed 's/^/  stderr: /' "$T/err" | head -20; fi
}
expect_stderr() { if grep -qiE "$1" "$T/err"; then ok "stderr mentions '$1'"; else fail "stderr lacks '$1'"; sed 's/^/  stderr: /' "$T/err" | head -10; fi; }
# json_get FILE EXPR: python expression on the parsed JSON document `d`
json_get() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print($2)" "$1"; }
finish() { echo "$passes passed, $fails failed"; [ "$fails" -eq 0 ]; exit $?; }

# psa_sim_platform PREFIX IMPL_TAG FIRMWARE_TEXT WORKLOAD_TEXT: a psa-sim
# platform in PREFIX-iak.pem/.pub, PREFIX-fw, PREFIX-workload and
# PREFIX-claims.json, implementation id "<IMPL_TAG>-<name padded to 10>"
# (32 bytes), where name is PREFIX's last path component.
psa_sim_platform() {
    local who impl zero
    who=$(basename "$1")
    "$VMESH" keygen --type ec-p256 -o "$1-iak.pem" --pub "$1-iak.pub" >/dev/null
    printf '%s\n' "$3" > "$1-fw"
    printf '%s\n' "$4" > "$1-workload"
    impl=$(printf '%s-%-10s' "$2" "$who" | head -c 32 | base64 -w0)
    zero=$(head -c 32 /dev/zero | base64 -w0)
    cat > "$1-claims.json" <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1,
  "psa-security-lifecycle": 12288, "psa-implementation-id": "$impl",
  "psa-boot-seed": "$zero", "psa-nonce": "$zero",
  "psa-software-components": [
    { "measurement-type": "BL", "measurement-value": "$zero", "signer-id": "$zero" } ] }
JSON
}

# free_port: a port nothing listens on, and never one this test was given
# before: the ports are bound only later, so two calls could return the same
# one (verifier.bound once had its replayer on the app's port). The ports
# handed out are kept in $T/.ports (free_port runs in $(...) subshells).
# They are taken below the kernel's ephemeral range (ip_local_port_range):
# a port from that range (what binding port 0 gives) can be taken before
# the test binds it by the source port of any outgoing connection, or by a
# process that binds port 0, which under `ctest -j2` made a proxy fail with
# "Address already in use" (verifier.attested-replicas, once).
free_port() {
    local p f="${T:+$T/.ports}" i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        p=$(python3 -c '
import random, socket
lo = int(open("/proc/sys/net/ipv4/ip_local_port_range").read().split()[0])
base = 10000 if lo > 12000 else 1024
for _ in range(200):
    p = random.randrange(base, lo)
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p))
    except OSError:
        continue
    finally:
        s.close()
    print(p)
    break
')
        if [ -n "$p" ] && { [ -z "$f" ] || ! grep -qx "$p" "$f" 2>/dev/null; }; then
            [ -n "$f" ] && echo "$p" >> "$f"
            echo "$p"
            return 0
        fi
    done
    echo "free_port: no new free port after $i tries" >&2
    return 1
}
