# Shared setup for the verifier.* integration tests (sourced after lib.bash,
# not a test itself): an EAR key, a PSA IAK endorsed by an RV JSON document
# with one measured component, and helpers to start `vmesh verifier serve`
# on a free port and to make PSA evidence for a given nonce.

API=/challenge-response/v1
SESSION_MT='application/vnd.veraison.challenge-response-session+json'
PSA_MT='application/eat+cwt; eat_profile="tag:psacertified.org,2023:psa#tfm"'

"$VMESH" keygen --type ec-p256 -o "$T/ear.pem" --pub "$T/ear.pub" >/dev/null || { echo "keygen failed"; exit 1; }
"$VMESH" keygen --type ec-p256 -o "$T/iak.pem" --pub "$T/iak.pub" >/dev/null || { echo "keygen failed"; exit 1; }
head -c 4096 /dev/urandom >"$T/bl.bin"
IMPL=$(printf 'verifier-test-implementation-id1' | base64 -w0)
Z=$(head -c 32 /dev/zero | base64 -w0)
cat >"$T/claims.json" <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$IMPL", "psa-boot-seed": "$Z",
  "psa-software-components": [ {"measurement-type": "PRoT", "measurement-value": "$Z", "signer-id": "$Z"} ] }
JSON
cat >"$T/rv.json" <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$IMPL",
  "measurements": [ {"name": "BL", "digest": {"alg": "sha-256", "value": "$(sha256sum "$T/bl.bin" | cut -c1-64)"}},
                    {"name": "PRoT", "digest": {"alg": "sha-256", "value": "$(printf '%064d' 0)"}} ],
  "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$T/iak.pub") ] } ] }
JSON

# start_verifier NAME [serve options...]: starts a replica in the background,
# waits for its "listening" line; sets PORT_<NAME> and PID_<NAME>.
start_verifier() {
    local name=$1 i port=""; shift
    "$VMESH" verifier serve --listen 127.0.0.1:0 --id "$name" "$@" >"$T/$name.out" 2>"$T/$name.log" &
    local pid=$!
    cleanup_hooks+=("kill $pid 2>/dev/null; wait $pid 2>/dev/null")
    for i in $(seq 100); do
        port=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$T/$name.log")
        [ -n "$port" ] && break
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if [ -z "$port" ]; then echo "verifier $name did not start:"; cat "$T/$name.log"; exit 1; fi
    eval "PORT_$name=$port PID_$name=$pid"
}

# stop_verifier NAME: SIGTERM, expects a clean exit 0 (sanitizers included).
stop_verifier() {
    local pid; eval "pid=\$PID_$1"
    kill -TERM "$pid"; wait "$pid"; local st=$?
    if [ "$st" -eq 0 ] && grep -q "SIGTERM received, stopping" "$T/$1.log"; then ok "replica $1 stopped cleanly on SIGTERM"
    else fail "replica $1 exit status $st on SIGTERM"; tail -20 "$T/$1.log" | sed 's/^/  log: /'; fi
}

# evidence NONCE_HEX OUT: PSA token from the endorsed IAK carrying the nonce.
evidence() {
    "$VMESH" attest psa --iak "$T/iak.pem" --claims "$T/claims.json" --measure "BL=$T/bl.bin" \
        --nonce "$1" -o "$2" 2>"$T/attest.err" || { echo "attest failed:"; cat "$T/attest.err"; exit 1; }
}

# b64url_hex B64URL: the hex of the decoded bytes.
b64url_hex() { python3 -c 'import base64,sys; s=sys.argv[1]; print(base64.urlsafe_b64decode(s+"="*(-len(s)%4)).hex())' "$1"; }

# req OUTPREFIX CURL-ARGS...: status in $T/OUTPREFIX.code, headers .hdr, body .body
req() {
    local p=$1; shift
    curl -s -o "$T/$p.body" -D "$T/$p.hdr" -w '%{http_code}' "$@" >"$T/$p.code" 2>"$T/$p.curlerr" || true
}
code() { cat "$T/$1.code"; }
hdr() { sed -n "s/^$2: *//Ip" "$T/$1.hdr" | tr -d '\r' | head -1; }
