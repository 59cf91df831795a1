#!/usr/bin/env bash
# Starts the minimal SASE scenario on 127.0.0.1, everything in a new
# temporary directory: a CA (vmesh ca), an RVP (vmesh rvp publish + serve +
# tick --every), an HTTP app (python3 -m http.server), an inbound sidecar on
# 127.0.0.1:8443 in front of it and a client sidecar whose outbound listener
# is 127.0.0.1:8080. Then: curl http://127.0.0.1:8080/   Stop with ./down.sh.
# Ports can be changed with IN_PORT, OUT_PORT, APP_PORT, RVP_PORT,
# ADMIN_PORT, CADMIN_PORT; VMESH names the vmesh binary (default: on PATH).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VMESH=${VMESH:-$(command -v vmesh || true)}
[ -x "$VMESH" ] || { echo "up.sh: set VMESH=/path/to/vmesh (not on PATH)"; exit 1; }
STATE=${VMESH_EXAMPLE_STATE:-${TMPDIR:-/tmp}/vmesh-sase-minimal.state}
[ -e "$STATE" ] && { echo "up.sh: already up (state $STATE); run ./down.sh first"; exit 1; }
IN_PORT=${IN_PORT:-8443} OUT_PORT=${OUT_PORT:-8080} APP_PORT=${APP_PORT:-8000}
RVP_PORT=${RVP_PORT:-8600} ADMIN_PORT=${ADMIN_PORT:-9901} CADMIN_PORT=${CADMIN_PORT:-9902}
D=$(mktemp -d "${TMPDIR:-/tmp}/vmesh-sase.XXXXXX")
echo "DIR=$D" > "$STATE"
cd "$D"

echo "== certificates (vmesh ca)"
"$VMESH" ca init --trust-domain sase.example --out ca >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://sase.example/pop/tenant-web --out server >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://sase.example/clients/alice --out client >/dev/null

echo "== platforms (psa-sim) and their reference values"
mkdir -p rv www
for who in server client; do
    "$VMESH" keygen --type ec-p256 -o "$who-iak.pem" --pub "$who-iak.pub" >/dev/null
    printf 'firmware of %s\n' "$who" > "$who-fw"
    printf '%s workload v1\n' "$who" > "$who-workload"
    impl=$(printf 'sase-minimal-%-19s' "$who" | head -c 32 | base64 -w0)
    zero=$(head -c 32 /dev/zero | base64 -w0)
    cat > "$who-claims.json" <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$impl", "psa-boot-seed": "$zero", "psa-nonce": "$zero",
  "psa-software-components": [ { "measurement-type": "BL", "measurement-value": "$zero", "signer-id": "$zero" } ] }
JSON
    cat > "rv/$who.json" <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$impl",
    "measurements": [
      { "name": "BL", "digest": { "alg": "sha-256", "value": "$(sha256sum "$who-fw" | cut -d' ' -f1)" } },
      { "name": "workload", "digest": { "alg": "sha-256", "value": "$(sha256sum "$who-workload" | cut -d' ' -f1)" } } ],
    "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$who-iak.pub") ] } ] }
JSON
done
echo "hello from the tenant app behind an attested sidecar" > www/index.html

echo "== RVP: bundle (epoch 1), epoch bell every 30 s, served on 127.0.0.1:$RVP_PORT"
"$VMESH" keygen --type ec-p256 -o rvp.key --pub rvp.pub >/dev/null
"$VMESH" rvp publish --key rvp.key --in rv --out rvpweb --name acme >/dev/null
"$VMESH" rvp tick --key rvp.key --out rvpweb >/dev/null
start() { # start NAME CMD...: background, pid and logs in $D
    local name=$1; shift
    "$@" >"$D/$name.out" 2>"$D/$name.err" &
    echo "PID_$name=$!" >> "$STATE"
}
start rvp-serve "$VMESH" rvp serve --root rvpweb --listen "127.0.0.1:$RVP_PORT"
start rvp-tick "$VMESH" rvp tick --key rvp.key --out rvpweb --every 30
(cd www && exec python3 -m http.server --bind 127.0.0.1 "$APP_PORT") >"$D/app.out" 2>"$D/app.err" &
echo "PID_app=$!" >> "$STATE"
# wait_for WHAT URL CODE: until URL answers CODE (at most 60 s: a loaded
# machine starts python slowly), else say which part did not come up.
wait_for() {
    for _ in $(seq 1 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$2" || true)" = "$3" ] && return 0
        sleep 0.1
    done
    echo "up.sh: $1 did not answer $3 at $2 within 60 s (logs in $D)" >&2
    exit 1
}
wait_for "the app (python3 -m http.server)" "http://127.0.0.1:$APP_PORT/" 200
wait_for "the RVP (vmesh rvp serve)" "http://127.0.0.1:$RVP_PORT/bell.cwt" 200

for role in server client; do
    sed -e "s|@DIR@|$D|g" -e "s|@APP_PORT@|$APP_PORT|g" -e "s|@IN_PORT@|$IN_PORT|g" -e "s|@OUT_PORT@|$OUT_PORT|g" \
        -e "s|@RVP_PORT@|$RVP_PORT|g" -e "s|@ADMIN_PORT@|$ADMIN_PORT|g" -e "s|@CADMIN_PORT@|$CADMIN_PORT|g" \
        "$HERE/$role.yaml" > "$D/$role.yaml"
done
echo "== sidecars"
start server "$VMESH" proxy -c "$D/server.yaml"
start client "$VMESH" proxy -c "$D/client.yaml"
wait_for "the PoP sidecar" "http://127.0.0.1:$ADMIN_PORT/ready" 200
wait_for "the client sidecar" "http://127.0.0.1:$CADMIN_PORT/ready" 200
echo
echo "up: $D"
echo "  curl http://127.0.0.1:$OUT_PORT/                 (through both sidecars)"
echo "  curl http://127.0.0.1:$CADMIN_PORT/peers            (client sidecar: open connections)"
echo "  curl http://127.0.0.1:$ADMIN_PORT/metrics          (PoP sidecar metrics)"
echo "  ./down.sh                                      (stop everything, remove $D)"
