#!/usr/bin/env bash
# vmesh proxy flag mode (issue 15.5, docs/PROXY.md "Flags instead of a file"):
# a server-side (--inbound) and a client-side (--outbound) sidecar started
# from flags alone, on the files of `vmesh init`, pass an attested request
# (the service's access log names the client's SPIFFE ID, affirming); a
# client whose workload changed is refused by the same flag-only service;
# --print-config writes the YAML the flags stand for and `-c` of it checks
# valid; --check works with flags; missing and contradictory flags are
# refused with a message naming the flag; -c plus flags is refused; the
# generated file is removed when the proxy exits. Runs in its own network
# namespace (vmesh init's fixed ports).
if [ -z "${VMESH_IN_NS:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (a network namespace for fixed ports)"; exit 77; }
    command -v unshare >/dev/null || { echo "SKIP: unshare missing"; exit 77; }
    exec unshare -n env VMESH_IN_NS=1 bash "$0" "$@"
fi
. "$(dirname "$0")/lib.bash"
for t in curl python3 ip; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
ip link set lo up
pids=()
cleanup_hooks+=('for p in "${pids[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null')
M=$T/m
mkdir -p "$T/tmp"
export TMPDIR=$T/tmp
"$VMESH" init "$M" >/dev/null && ok "vmesh init" || { fail "vmesh init"; finish; }
cd "$M"
"$VMESH" rvp serve --root rvp --listen 127.0.0.1:8600 2>"$T/rvp.err" & pids+=($!)
python3 -m http.server --bind 127.0.0.1 --directory app 8000 >/dev/null 2>&1 & pids+=($!)

common() { # $1 = service|client, then the workload file
    echo --svid "$1-chain.pem" --key "$1.key" --bundle ca/bundle.pem --platform psa-sim \
        --platform-option "iak=$1-iak.pem" --platform-option "claims=$1-claims.json" \
        --platform-option "measure=BL=$1-fw" --platform-option "measure=workload=$2" \
        --rvp "quickstart,http://127.0.0.1:8600,rvp.pub,psa" --bell "http://127.0.0.1:8600/bell.cwt,rvp.pub" \
        --poll 2s --state-dir "$T/$1-state-$3"
}
SERVICE=(--inbound --listen 127.0.0.1:8443 --target 127.0.0.1:8000 --peer "spiffe://quickstart.example/*"
         $(common service service-workload a) --admin 127.0.0.1:9901 --access-log "$T/service-access.log")
CLIENT=(--outbound --listen 127.0.0.1:8080 --target 127.0.0.1:8443 --peer spiffe://quickstart.example/service
        $(common client client-workload a) --admin 127.0.0.1:9902)

# --check and --print-config with flags: the same parser and start.
expect_exit 0 "--check with the service's flags" -- "$VMESH" proxy "${SERVICE[@]}" --check
grep -q 'the configuration from the flags is valid' "$T/out" && ok "--check: $(head -1 "$T/out")" || fail "--check output: $(cat "$T/out")"
expect_exit 0 "--print-config" -- "$VMESH" proxy "${SERVICE[@]}" --print-config; cp "$T/out" "$T/printed.yaml"
sed 's/^/  | /' "$T/printed.yaml"
expect_exit 0 "vmesh proxy -c <printed config> --check" -- "$VMESH" proxy -c "$T/printed.yaml" --check

"$VMESH" proxy "${SERVICE[@]}" 2>"$T/service.err" & pids+=($!)
"$VMESH" proxy "${CLIENT[@]}" 2>"$T/client.err" & pids+=($!)
t0=$(date +%s.%N)
if curl -sS --retry 60 --retry-all-errors --retry-delay 1 --max-time 10 http://127.0.0.1:8080/ >"$T/page" 2>"$T/curl.err" &&
    grep -q 'hello from the app behind an attested vmesh sidecar' "$T/page"; then
    ok "a request through two flag-only sidecars got the app's page ($(python3 -c "import time;print(round(time.time()-$t0,1))") s after the start)"
else fail "no page through the flag-only sidecars: $(cat "$T/curl.err")"; tail -5 "$T/service.err" "$T/client.err"; fi
python3 - "$T/service-access.log" >"$T/acc" 2>&1 <<'PY'
import json, sys
recs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
good = [r for r in recs if r.get("peer") == "spiffe://quickstart.example/client" and r.get("tier") == "affirming"]
print(len(good), json.dumps(good[0] if good else (recs[0] if recs else {}))[:300])
PY
read -r ngood rest <"$T/acc"
[ "${ngood:-0}" -ge 1 ] && ok "service access log: the client attested and affirming: $rest" || fail "no affirming client record: $(cat "$T/acc")"
ls "$T/tmp" | grep -q '^vmesh-proxy-flags-' && ok "the running sidecars keep their generated files" || fail "no generated file while running"

# A client whose workload changed: the flag-only service refuses it.
cp client-workload "$T/evil-workload"; echo tampered >>"$T/evil-workload"
EVIL=(--outbound --listen 127.0.0.1:8081 --target 127.0.0.1:8443 --peer spiffe://quickstart.example/service
      $(common client "$T/evil-workload" b) --admin 127.0.0.1:9903)
"$VMESH" proxy "${EVIL[@]}" 2>"$T/evil.err" & evil=$!; pids+=($evil)
# ready: /ready answers 200 (curl -f; a 503 while it fetches its first
# snapshot is not ready), else what it is refused for is not the service's
ready=
for i in $(seq 90); do curl -sf -o /dev/null http://127.0.0.1:9903/ready 2>/dev/null && { ready=1; break; }; sleep 1; done
[ -n "$ready" ] && ok "the tampered client's sidecar is ready" || { fail "the tampered client's sidecar never became ready"; tail -5 "$T/evil.err"; }
if curl -sS --max-time 10 http://127.0.0.1:8081/ >"$T/evilpage" 2>"$T/evilcurl.err" && grep -q 'hello from the app' "$T/evilpage"; then
    fail "the tampered client got the page"
else ok "the tampered client is refused: $(head -c 200 "$T/evilcurl.err")"; fi
# the service logs the refusal when it has sent its verdict: wait for the line
for i in $(seq 50); do grep -q 'not-affirming\|refus' "$T/service.err" && break; sleep 0.2; done
grep -q 'not-affirming\|refus' "$T/service.err" && ok "service log: $(grep -m1 'not-affirming\|refus' "$T/service.err" | cut -c1-250)" \
    || { fail "the service did not log a refusal"; tail -5 "$T/service.err" "$T/evil.err"; }; kill $evil; wait $evil 2>/dev/null

# Refusals, each naming the flag.
refuse() { # expected-stderr, flags...
    local want=$1; shift
    expect_exit 1 "refused: $want" -- "$VMESH" proxy "$@"
    if grep -qiE -- "$want" "$T/err"; then ok "  message: $(head -1 "$T/err" | cut -c1-200)"
    else fail "stderr lacks '$want': $(head -3 "$T/err")"; fi
}
BASE=(--listen 127.0.0.1:9 --target 127.0.0.1:10 --peer spiffe://quickstart.example/service --svid client-chain.pem
      --key client.key --bundle ca/bundle.pem --platform psa-sim --rvp "quickstart,http://127.0.0.1:8600,rvp.pub")
refuse 'needs --inbound .* or --outbound' "${BASE[@]}" --check
refuse '--inbound and --outbound are exclusive' --inbound --outbound "${BASE[@]}" --check
refuse '--listen ADDR:PORT is required' --outbound --target 127.0.0.1:1 --peer spiffe://x/y --check
refuse '--target ADDR:PORT is required' --outbound --listen 127.0.0.1:1 --check
refuse '--peer SPIFFE-ID is required with --outbound' --outbound --listen 127.0.0.1:9 --target 127.0.0.1:10 --svid a --key b --bundle c --check
refuse '--svid CHAIN.pem is required' --inbound --listen 127.0.0.1:9 --target 127.0.0.1:10 --check
refuse '--key KEY.pem is required' --inbound --listen 127.0.0.1:9 --target 127.0.0.1:10 --svid a --check
refuse '--rvp NAME,URL,KEYFILE .* is required' --inbound --listen 127.0.0.1:9 --target 127.0.0.1:10 --svid a --key b --bundle c --check
refuse '--platform-option is given but no --platform' --inbound --listen 127.0.0.1:9 --target 127.0.0.1:10 --svid a --key b --bundle c --platform-option x=y --check
refuse '--rvp "quickstart,http://x": expected NAME,URL,KEYFILE' --outbound "${BASE[@]}" --rvp quickstart,http://x --check
refuse '--platform-option "novalue": expected KEY=VALUE' --outbound "${BASE[@]}" --platform-option novalue --check
refuse '-c and --listen are exclusive' -c service.yaml --listen 127.0.0.1:1 --check
refuse '-c and --inbound are exclusive' --inbound -c service.yaml --check
refuse 'from the flags.*poll-interval' --outbound "${BASE[@]}" --poll ten --check
refuse 'no-such-key.pem' "${SERVICE[@]/service.key/no-such-key.pem}" --check

# The generated files go when the sidecars stop.
for p in "${pids[@]}"; do kill $p 2>/dev/null; done; wait 2>/dev/null; pids=()
left=$(ls "$T/tmp" | grep -c '^vmesh-proxy-flags-')
[ "$left" -eq 0 ] && ok "no generated configuration left after the sidecars stopped" || fail "$left generated files left: $(ls "$T/tmp")"
"$VMESH" proxy --help >"$T/help"
for o in --inbound --outbound --listen --target --peer --svid --key --bundle --platform --platform-option --rvp --rv-file \
    --bell --poll --state-dir --admin --access-log --print-config; do
    grep -q -- "  $o " "$T/help" || grep -q -- "  $o\$" "$T/help" || fail "vmesh proxy --help does not document $o"
done
ok "vmesh proxy --help documents the 18 flag-mode options"
finish
