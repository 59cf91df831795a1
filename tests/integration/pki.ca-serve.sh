#!/usr/bin/env bash
# `vmesh ca serve` (the attested SVID issuer, D44): its options are checked
# before anything is served, each mistake refused with exit 1 and a message
# naming it; --check loads the CA, the serving SVID, the bundle, the policy
# and the reference values and binds nothing; SIGTERM stops it with exit 0
# and its totals. Issuance itself: issuer.issuer and proxy.keybound.
. "$(dirname "$0")/lib.bash"
cd "$T" || exit 1
"$VMESH" ca init --trust-domain example.org --out ca >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/issuer --out iss >/dev/null
printf '{ "format": "vmesh-rv/1", "reference-values": [] }\n' > rv.json
base=(ca serve --ca ca --listen 127.0.0.1:0 --cert iss-chain.pem --key iss.key --bundle ca/bundle.pem)

expect_exit 0 "--check with --rv" -- "$VMESH" "${base[@]}" --rv rv.json --check
grep -q "the configuration is valid" "$T/out" && ok "--check says what it loaded" || fail "--check output: $(cat "$T/out")"
expect_exit 1 "no reference values" -- "$VMESH" "${base[@]}"
expect_stderr "reference values are required"
expect_exit 1 "--rvp without --state-dir" -- "$VMESH" "${base[@]}" --rvp "http://127.0.0.1:1,iss.key"
expect_stderr "state-dir"
expect_exit 1 "--max-ttl too short" -- "$VMESH" "${base[@]}" --rv rv.json --max-ttl 10s
expect_stderr "max-ttl must be a duration of 60s"
expect_exit 1 "missing --cert" -- "$VMESH" ca serve --ca ca --listen 127.0.0.1:0 --key iss.key --bundle ca/bundle.pem --rv rv.json
expect_stderr "are required"
printf '{ "format": "vmesh-policy/1", "id": "policy:no-fresh", "modes": ["epoch-fresh"] }\n' > nofresh.json
expect_exit 1 "a policy without fresh" -- "$VMESH" "${base[@]}" --rv rv.json --policy nofresh.json --check
expect_stderr "does not accept mode fresh"
expect_exit 1 "a serving key that is not the certificate's" -- "$VMESH" ca serve --ca ca --listen 127.0.0.1:0 --cert iss-chain.pem --key ca/ca.key --bundle ca/bundle.pem --rv rv.json --check
expect_stderr "serving SVID"
expect_exit 1 "a bad --clients pattern" -- "$VMESH" "${base[@]}" --rv rv.json --clients "https://x" --check
expect_stderr "spiffe"
expect_exit 1 "a bad --listen" -- "$VMESH" ca serve --ca ca --listen "nohost:99999" --cert iss-chain.pem --key iss.key --bundle ca/bundle.pem --rv rv.json --check
expect_stderr "listen"

# serve, then SIGTERM: exit 0 and the totals line
"$VMESH" "${base[@]}" --rv rv.json >serve.out 2>serve.err & pid=$!
cleanup_hooks+=("kill $pid 2>/dev/null")
for _ in $(seq 100); do grep -q "listening on" serve.err && break; sleep 0.1; done
grep -q "listening on 127.0.0.1:0 (port [0-9]*), SVIDs valid 3600s at most" serve.err && ok "serving, default max-ttl 1h" || fail "start line: $(cat serve.err)"
kill -TERM "$pid"; rc=0; wait "$pid" || rc=$?
[ "$rc" = 0 ] && ok "SIGTERM: exit 0" || fail "exit $rc"
grep -q "0 SVIDs issued" serve.err && ok "totals at exit" || fail "no totals: $(tail -2 serve.err)"
grep -qE "LeakSanitizer|AddressSanitizer|runtime error" serve.err && fail "sanitizer report" || ok "no sanitizer report"
finish
