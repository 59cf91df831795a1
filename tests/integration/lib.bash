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
