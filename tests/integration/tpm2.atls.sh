#!/usr/bin/env bash
# tpm2.atls: the attested channel with TPM quotes on both sides: `vmesh
# server --platform tpm2` on swtpm A and `vmesh client --platform tpm2` on
# swtpm B, each appraising the other against reference values endorsing
# both AKs; fresh mode (a quote per session over the binder) and
# epoch-fresh mode (a quote per epoch tick). A client whose TPM is not
# endorsed is refused by the server.
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/tpm2.bash"
start_swtpm A
start_swtpm B
start_swtpm C
cd "$T"
"$VMESH" ca init --trust-domain example.org --out ca >/dev/null || { echo "ca init failed"; exit 1; }
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/server --out srv >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://example.org/client --out cli >/dev/null
"$VMESH" keygen -o bell.pem --pub bell.pub >/dev/null
expect_exit 0 "reference values of TPM A" -- "$VMESH" attest tpm2 --tcti "$TCTI_A" --reference-values rvA.json
expect_exit 0 "reference values of TPM B" -- "$VMESH" attest tpm2 --tcti "$TCTI_B" --reference-values rvB.json
mkdir www && "$VMESH" rvp tick --key bell.pem --out www
COMMON=(--bundle ca/bundle.pem --rv rvA.json --rv rvB.json --bell www/bell.cwt --bell-key bell.pub --platform tpm2)
PORT=$(free_port)
"$VMESH" server --listen 127.0.0.1:$PORT --cert srv-chain.pem --key srv.key --tcti "$TCTI_A" "${COMMON[@]}" 2>server.log &
SERVER=$!
cleanup_hooks+=("kill $SERVER 2>/dev/null")
for i in $(seq 100); do grep -q listening server.log 2>/dev/null && break; sleep 0.1; done
client() { "$VMESH" client --connect 127.0.0.1:$PORT --cert cli-chain.pem --key cli.key "${COMMON[@]}" "$@"; }

for mode in fresh epoch-fresh; do
    expect_exit 0 "TPM quotes both ways, client in $mode mode" -- client --tcti "$TCTI_B" --attest-mode $mode --message "hello $mode"
    [ "$(cat "$T/out")" = "hello $mode" ] && ok "$mode: echo intact" || fail "$mode: echo was '$(cat "$T/out")'"
    grep -q "peer spiffe://example.org/server mode=.* tier=affirming" "$T/err" && ok "$mode: client affirmed the server's TPM" \
        || { fail "$mode: server not affirmed"; head -5 "$T/err"; }
    grep -q "peer spiffe://example.org/client mode=$mode tier=affirming" server.log && ok "server affirmed the client's TPM in $mode" \
        || { fail "server did not affirm $mode"; tail -5 server.log; }
done

expect_exit 2 "a client on an unendorsed TPM is refused" -- client --tcti "$TCTI_C" --attest-mode fresh --message x
expect_stderr "refused"
grep -q "no attestation key endorsed for this TPM" server.log && ok "server names the unknown AK" || { fail "server reason"; tail -5 server.log; }
finish
