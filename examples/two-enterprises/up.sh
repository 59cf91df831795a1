#!/usr/bin/env bash
# Two enterprises on 127.0.0.1 (docs/FEDERATION.md), everything in a new
# temporary directory. Each enterprise has its own SPIFFE trust domain and CA
# (vmesh ca), its own RVP (vmesh rvp publish + serve) for its own platforms,
# and a bundle endpoint: real nginx over HTTPS (a web CA of the example)
# serving its SPIFFE bundle. X (x.example) runs the client sidecar of a
# federated-learning collaborator; Y (y.example) runs the service sidecar in
# front of the aggregator. Each sidecar federates with the other domain
# (bundle fetched from the other's endpoint and refreshed), attests its own
# psa-sim platform, and appraises the other with its local verifier fed by
# the other enterprise's RVP (fresh mode: no shared epoch bell needed).
#   curl http://127.0.0.1:$OUT_PORT/     Stop with ./down.sh.
# Ports: OUT_PORT IN_PORT APP_PORT XRVP_PORT YRVP_PORT XB_PORT YB_PORT
# XADMIN_PORT YADMIN_PORT; VMESH names the vmesh binary (default: on PATH).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
VMESH=${VMESH:-$(command -v vmesh || true)}
[ -x "$VMESH" ] || { echo "up.sh: set VMESH=/path/to/vmesh (not on PATH)"; exit 1; }
command -v nginx >/dev/null || { echo "up.sh: nginx is needed (scripts/install-deps.sh installs it)"; exit 1; }
STATE=${VMESH_EXAMPLE_STATE:-${TMPDIR:-/tmp}/vmesh-two-enterprises.state}
[ -e "$STATE" ] && { echo "up.sh: already up (state $STATE); run ./down.sh first"; exit 1; }
OUT_PORT=${OUT_PORT:-8080} IN_PORT=${IN_PORT:-8443} APP_PORT=${APP_PORT:-8000}
XRVP_PORT=${XRVP_PORT:-8601} YRVP_PORT=${YRVP_PORT:-8602} XB_PORT=${XB_PORT:-8711} YB_PORT=${YB_PORT:-8712}
XADMIN_PORT=${XADMIN_PORT:-9911} YADMIN_PORT=${YADMIN_PORT:-9912}
D=$(mktemp -d "${TMPDIR:-/tmp}/vmesh-two-ent.XXXXXX")
echo "DIR=$D" > "$STATE"
cd "$D"
chmod 755 "$D"
start() { # start NAME CMD...: background, pid and logs in $D
    local name=$1; shift
    "$@" >"$D/$name.out" 2>"$D/$name.err" &
    echo "PID_$name=$!" >> "$STATE"
}
wait_for() { # wait_for WHAT URL CODE [curl options]
    local what=$1 url=$2 code=$3; shift 3
    for _ in $(seq 1 600); do
        [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$@" "$url" || true)" = "$code" ] && return 0
        sleep 0.1
    done
    echo "up.sh: $what did not answer $code at $url within 60 s (logs in $D)" >&2
    exit 1
}

echo "== two trust domains, two CAs (vmesh ca)"
mkdir -p x y
"$VMESH" ca init --trust-domain x.example --out x/ca >/dev/null
"$VMESH" ca init --trust-domain y.example --out y/ca >/dev/null
"$VMESH" ca issue --ca x/ca --spiffe-id spiffe://x.example/ns/fl/sa/collaborator --out x/svid >/dev/null
"$VMESH" ca issue --ca y/ca --spiffe-id spiffe://y.example/ns/fl/sa/aggregator --out y/svid >/dev/null

echo "== platforms (psa-sim); each enterprise's RVP publishes its own"
for e in x y; do
    mkdir -p "$e/rv"
    "$VMESH" keygen --type ec-p256 -o "$e/iak.pem" --pub "$e/iak.pub" >/dev/null
    printf 'firmware of enterprise %s\n' "$e" > "$e/fw"
    printf 'federated learning workload of %s v1\n' "$e" > "$e/workload"
    impl=$(printf 'two-enterprises-%-16s' "$e" | head -c 32 | base64 -w0)
    zero=$(head -c 32 /dev/zero | base64 -w0)
    cat > "$e/claims.json" <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$impl", "psa-boot-seed": "$zero", "psa-nonce": "$zero",
  "psa-software-components": [ { "measurement-type": "BL", "measurement-value": "$zero", "signer-id": "$zero" } ] }
JSON
    cat > "$e/rv/platform.json" <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$impl",
    "measurements": [
      { "name": "BL", "digest": { "alg": "sha-256", "value": "$(sha256sum "$e/fw" | cut -d' ' -f1)" } },
      { "name": "workload", "digest": { "alg": "sha-256", "value": "$(sha256sum "$e/workload" | cut -d' ' -f1)" } } ],
    "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$e/iak.pub") ] } ] }
JSON
    "$VMESH" keygen --type ec-p256 -o "$e/rvp.key" --pub "$e/rvp.pub" >/dev/null
    "$VMESH" rvp publish --key "$e/rvp.key" --in "$e/rv" --out "$e/rvpweb" --name "rvp-$e" >/dev/null
done
start x-rvp "$VMESH" rvp serve --root x/rvpweb --listen "127.0.0.1:$XRVP_PORT"
start y-rvp "$VMESH" rvp serve --root y/rvpweb --listen "127.0.0.1:$YRVP_PORT"

echo "== bundle endpoints: nginx over HTTPS, one per enterprise"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout webca.key -out webca.pem -days 30 \
    -subj "/CN=two-enterprises web CA" -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
USER_LINE=""; [ "$(id -u)" = 0 ] && USER_LINE="user root;"
for e in x y; do
    port=$XB_PORT; [ $e = y ] && port=$YB_PORT
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$e/web.key" -subj "/CN=bundles.$e.example" \
        -out "$e/web.csr" 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$e/web.ext"
    openssl x509 -req -in "$e/web.csr" -CA webca.pem -CAkey webca.key -CAcreateserial -days 30 -extfile "$e/web.ext" \
        -out "$e/web.pem" 2>/dev/null
    mkdir -p "$e/www" "$e/nginx-tmp"
    "$VMESH" ca bundle --ca "$e/ca" --format spiffe --refresh-hint 30 --out "$e/www/bundle.json"
    cat > "$e/nginx.conf" <<EOF
$USER_LINE
worker_processes 1;
pid $D/$e/nginx.pid;
error_log $D/$e/nginx-error.log warn;
events { worker_connections 256; }
http {
    access_log $D/$e/nginx-access.log;
    client_body_temp_path $D/$e/nginx-tmp/body; proxy_temp_path $D/$e/nginx-tmp/proxy;
    fastcgi_temp_path $D/$e/nginx-tmp/fastcgi; uwsgi_temp_path $D/$e/nginx-tmp/uwsgi; scgi_temp_path $D/$e/nginx-tmp/scgi;
    server {
        listen 127.0.0.1:$port ssl;
        ssl_certificate $D/$e/web.pem;
        ssl_certificate_key $D/$e/web.key;
        root $D/$e/www;
        location = /bundle.json { default_type application/json; add_header Cache-Control "no-cache"; }
        location / { return 404; }
    }
}
EOF
    start "$e-nginx" nginx -p "$D/$e" -c "$D/$e/nginx.conf" -g 'daemon off;'
done
wait_for "X's bundle endpoint (nginx)" "https://127.0.0.1:$XB_PORT/bundle.json" 200 --cacert webca.pem
wait_for "Y's bundle endpoint (nginx)" "https://127.0.0.1:$YB_PORT/bundle.json" 200 --cacert webca.pem
# The first bundle of the other domain: fetched once, over the same endpoint
# (in real life: checked out of band, e.g. its digest read over the phone).
"$VMESH" ca fetch --url "https://127.0.0.1:$YB_PORT/bundle.json" --endpoint-ca webca.pem --out x/y.example.json >/dev/null
"$VMESH" ca fetch --url "https://127.0.0.1:$XB_PORT/bundle.json" --endpoint-ca webca.pem --out y/x.example.json >/dev/null

mkdir -p app
echo "aggregated model, round 1 (served by enterprise Y)" > app/index.html
(cd app && exec python3 -m http.server --bind 127.0.0.1 "$APP_PORT") >"$D/app.out" 2>"$D/app.err" &
echo "PID_app=$!" >> "$STATE"
wait_for "the aggregator app" "http://127.0.0.1:$APP_PORT/" 200
wait_for "X's RVP" "http://127.0.0.1:$XRVP_PORT/manifest.jws" 200
wait_for "Y's RVP" "http://127.0.0.1:$YRVP_PORT/manifest.jws" 200

for e in x y; do
    sed -e "s|@DIR@|$D|g" -e "s|@APP_PORT@|$APP_PORT|g" -e "s|@IN_PORT@|$IN_PORT|g" -e "s|@OUT_PORT@|$OUT_PORT|g" \
        -e "s|@XRVP_PORT@|$XRVP_PORT|g" -e "s|@YRVP_PORT@|$YRVP_PORT|g" -e "s|@XB_PORT@|$XB_PORT|g" \
        -e "s|@YB_PORT@|$YB_PORT|g" -e "s|@XADMIN_PORT@|$XADMIN_PORT|g" -e "s|@YADMIN_PORT@|$YADMIN_PORT|g" \
        "$HERE/$e.yaml" > "$D/$e.yaml"
done
echo "== sidecars"
start y-sidecar "$VMESH" proxy -c "$D/y.yaml"
start x-sidecar "$VMESH" proxy -c "$D/x.yaml"
wait_for "Y's service sidecar" "http://127.0.0.1:$YADMIN_PORT/ready" 200
wait_for "X's client sidecar" "http://127.0.0.1:$XADMIN_PORT/ready" 200
echo
echo "up: $D"
echo "  curl http://127.0.0.1:$OUT_PORT/                 (X's collaborator -> Y's aggregator)"
echo "  curl http://127.0.0.1:$XADMIN_PORT/peers            (X's view of Y)"
echo "  curl -s http://127.0.0.1:$XADMIN_PORT/metrics | grep federation"
echo "  ./down.sh                                      (stop everything, remove $D)"
