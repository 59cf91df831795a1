#!/usr/bin/env bash
# --check is a dry run of the start (issue 15.1): each misconfiguration a
# real start refuses is refused by `--check` too, with exit 1 and the very
# line the start prints; a valid configuration passes without binding
# anything (its listener ports stay free). Covers vmesh proxy, vmesh
# verifier serve, vmesh rvp serve and vmesh rvp sync.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
px_setup
px_config server
"$VMESH" keygen --type ec-p256 -o "$T/rvp.key" --pub "$T/rvp.pub" >/dev/null

# check_pair NAME EXPECT_REGEX -- CMD...: CMD --check exits 1 with a line
# matching EXPECT_REGEX; CMD (a real start) exits 1 with the same line.
check_pair() {
    local name=$1 want=$2; shift 3
    "$@" --check >"$T/c.out" 2>"$T/c.err"; local crc=$?
    timeout 20 "$@" >"$T/s.out" 2>"$T/s.err"; local src=$?
    local cline sline
    cline=$(grep -E "$want" "$T/c.err" | head -1); sline=$(grep -E "$want" "$T/s.err" | head -1)
    if [ "$crc" -eq 1 ] && [ -n "$cline" ]; then ok "$name: --check exits 1: $cline"
    else fail "$name: --check exit $crc"; sed 's/^/  check: /' "$T/c.out" "$T/c.err" | head; fi
    if [ "$src" -eq 1 ] && [ "$cline" = "$sline" ]; then ok "$name: the start refuses it with the same line"
    else fail "$name: start exit $src"; echo "  check: $cline"; sed 's/^/  start: /' "$T/s.err" | head; fi
    if grep -qE "Sanitizer|runtime error" "$T/c.err" "$T/s.err"; then fail "$name: sanitizer report"; grep -A10 Sanitizer "$T/c.err" | head -20; fi
}

# variant NAME SED_EXPR: server.yaml edited
variant() { sed "$2" "$T/server.yaml" > "$T/$1.yaml"; }

# A valid configuration passes and binds nothing.
expect_exit 0 "valid configuration: --check" -- "$VMESH" proxy -c "$T/server.yaml" --check
grep -q 'is valid (certificates, keys, attester' "$T/out" && ok "it says what was loaded" || { fail "--check output"; cat "$T/out"; }
python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',int(sys.argv[1]))); s.close()" "$IN_PORT" \
    && ok "--check left the inbound port free" || fail "--check bound $IN_PORT"
[ ! -e "$T/server-access.log" ] && ok "--check created no access log" || fail "--check created the access log"

variant sgx 's/platform: psa$/platform: sgx/'
check_pair "platform: sgx" 'cannot start: .*sgx' -- "$VMESH" proxy -c "$T/sgx.yaml"

# psa-sim with no options at all
awk '/^  options:/ { skip = 1; next } skip && /^    / { next } { skip = 0; print }' "$T/server.yaml" \
    | sed 's/platform: psa$/platform: psa-sim/' > "$T/noopts.yaml"
check_pair "psa-sim without options" 'cannot start: ' -- "$VMESH" proxy -c "$T/noopts.yaml"

variant typo 's/^    iak:/    iakk:/'
check_pair "typo in a psa option (iakk)" 'cannot start: .*iakk' -- "$VMESH" proxy -c "$T/typo.yaml"

variant nocert "s|cert: $T/server-chain.pem|cert: $T/missing-chain.pem|"
check_pair "certificate file missing" 'cannot start: .*missing-chain.pem' -- "$VMESH" proxy -c "$T/nocert.yaml"

variant wrongkey "s|key: $T/server.key|key: $T/client.key|"
check_pair "key does not match the certificate" 'cannot start: .*(match|key)' -- "$VMESH" proxy -c "$T/wrongkey.yaml"

sed "s|^  rv-files: .*|  rvps: [ { url: \"http://127.0.0.1:1/\", key: $T/no-such-rvp.pub } ]\n  state-dir: $T/state|" \
    "$T/server.yaml" > "$T/norvpkey.yaml"
check_pair "RVP key file missing" 'cannot start: .*no-such-rvp.pub' -- "$VMESH" proxy -c "$T/norvpkey.yaml"

variant badapp "s|app: 127.0.0.1:$APP_PORT|app: no-such-host.invalid:80|"
check_pair "app address does not resolve" 'cannot start: .*no-such-host.invalid' -- "$VMESH" proxy -c "$T/badapp.yaml"

echo '{ "format": "vmesh-policy/1", "min-tiers": { "no-such-claim": "affirming" } }' > "$T/badpolicy.json"
variant badpolicy "s|^verifier:|policy: { file: $T/badpolicy.json }\nverifier:|"
check_pair "policy naming an unknown claim" 'cannot start: .*no-such-claim' -- "$VMESH" proxy -c "$T/badpolicy.yaml"

# --check-syntax reads the file alone: the missing certificate passes it.
expect_exit 0 "--check-syntax does not open the files" -- "$VMESH" proxy -c "$T/nocert.yaml" --check-syntax

# ---- vmesh verifier serve
"$VMESH" keygen --type ec-p256 -o "$T/ear.key" --pub "$T/ear.pub" >/dev/null
VPORT=$(free_port)
expect_exit 0 "verifier serve --check: valid" -- "$VMESH" verifier serve --key "$T/ear.key" --rv "$T/client-rv.json" --listen "127.0.0.1:$VPORT" --check
check_pair "verifier: --rv file missing" 'reference values refused: .*no-such-rv.json' -- \
    "$VMESH" verifier serve --key "$T/ear.key" --rv "$T/no-such-rv.json" --listen "127.0.0.1:$VPORT"
check_pair "verifier: --rvp key missing" 'no-such-rvp.pub' -- \
    "$VMESH" verifier serve --key "$T/ear.key" --rvp "rvp1,http://127.0.0.1:1/,$T/no-such-rvp.pub" --state-dir "$T/vstate" --listen "127.0.0.1:$VPORT"
check_pair "verifier: --bell-key missing" 'no-such-bell.pub' -- \
    "$VMESH" verifier serve --key "$T/ear.key" --rvp "rvp1,http://127.0.0.1:1/,$T/rvp.pub" --bell-key "$T/no-such-bell.pub" --state-dir "$T/vstate" --listen "127.0.0.1:$VPORT"
check_pair "verifier: --listen does not resolve" 'listening: .*no-such-host.invalid' -- \
    "$VMESH" verifier serve --key "$T/ear.key" --listen "no-such-host.invalid:$VPORT"

# ---- vmesh rvp serve / sync
RPORT=$(free_port)
mkdir -p "$T/www2"
expect_exit 0 "rvp serve --check: valid" -- "$VMESH" rvp serve --root "$T/www2" --listen "127.0.0.1:$RPORT" --check
check_pair "rvp serve: root missing" 'no-such-dir' -- "$VMESH" rvp serve --root "$T/no-such-dir" --listen "127.0.0.1:$RPORT"
check_pair "rvp serve: listen does not resolve" 'no-such-host.invalid' -- "$VMESH" rvp serve --root "$T/www2" --listen "no-such-host.invalid:$RPORT"
expect_exit 0 "rvp sync --check: valid" -- "$VMESH" rvp sync --rvp "rvp1,http://127.0.0.1:1/,$T/rvp.pub" --state "$T/sstate" --check
[ ! -e "$T/sstate" ] && ok "rvp sync --check wrote no state" || fail "rvp sync --check created $T/sstate"
check_pair "rvp sync: RVP key missing" 'no-such-rvp.pub' -- "$VMESH" rvp sync --rvp "rvp1,http://127.0.0.1:1/,$T/no-such-rvp.pub" --state "$T/sstate" --once
check_pair "rvp sync: bell key missing" 'no-such-bell.pub' -- "$VMESH" rvp sync --rvp "rvp1,http://127.0.0.1:1/,$T/rvp.pub" --bell-key "$T/no-such-bell.pub" --state "$T/sstate" --once
finish
