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
