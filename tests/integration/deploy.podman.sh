#!/usr/bin/env bash
# deploy/k8s on a real container engine: `podman kube play` runs the manifests
# (placeholders filled, the podman changes of deploy/podman/render.py, each
# printed) on a podman network inside 198.18.0.0/15, from images built out of
# this build tree (scripts/podman-image.sh, no registry):
#   - the RVP (nginx + epoch bell + publisher, on a PersistentVolumeClaim),
#   - the central verifier (2 replicas),
#   - shop-db, the PoP: an inbound sidecar in front of an app container,
#   - shop-web, 2 replicas: clients whose outbound sidecars call shop-db.
# It checks: /ready (the manifests' readinessProbe, polled the way the kubelet
# does) is 503 while no RVP snapshot exists and gates traffic; requests flow
# client -> PoP through attested sidecars; a valid SVID without attestation is
# refused; the app port is not reachable from outside its pod; withdrawing the
# PoP's workload at the RVP (ConfigMap edit + publish, as deploy/README.md
# says) cuts both clients off, open connection included.
# What podman cannot run (DaemonSet, TPM device plugin, Services, ...) is
# printed as "podman: ..." / "not under podman: ..." lines; deploy/README.md
# gives the Kubernetes equivalent. Everything it creates (pods, containers,
# volumes, secrets, network, images) is removed at exit, also on failure.
. "$(dirname "$0")/lib.bash"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
skip() { echo "SKIP: $*"; exit 77; }
command -v podman >/dev/null || skip "podman not installed (scripts/install-deps.sh installs podman and runc)"
command -v runc >/dev/null || skip "runc not installed (scripts/install-deps.sh installs it)"
[ "$(id -u)" -eq 0 ] || skip "needs root: a podman network with static pod IPs (rootless podman has no bridge networks here)"
for t in python3 curl nsenter nginx; do command -v $t >/dev/null || skip "$t missing"; done
python3 -c 'import yaml' 2>/dev/null || skip "python3 yaml missing (python3-yaml)"
export CONTAINERS_CONF=$SRC/deploy/podman/containers.conf
podman info >/dev/null 2>"$T/info.err" || { sed 's/^/  /' "$T/info.err" | head -5; skip "podman does not work here (see above)"; }

TAG=t$$
NET=vmesh-test-$$
NETPFX=198.19.200
RVP_IP=$NETPFX.10 VER_IP1=$NETPFX.20 VER_IP2=$NETPFX.21 DB_IP=$NETPFX.30 WEB_IP1=$NETPFX.40 WEB_IP2=$NETPFX.41
RENDER="python3 $SRC/deploy/podman/render.py"
PODS=(vmesh-rvp-0 vmesh-verifier-0 vmesh-verifier-1 shop-db-0 shop-web-0 shop-web-1)
# podman keeps ConfigMaps (the Secrets become ConfigMaps), PersistentVolumeClaims
# and emptyDirs (NAME-VOLUME after render.py) as volumes of those names
VOLS=(vmesh-rvp-key vmesh-verifier-keys shop-db-svid shop-web-svid shop-db-psa-sim shop-web-psa-sim
      vmesh-rvp-nginx vmesh-rvp-inputs vmesh-rvp-www vmesh-verifier shop-db-vmesh shop-web-vmesh)

for p in "${PODS[@]}"; do podman pod exists "$p" && skip "a pod named $p exists already: not ours to remove (podman pod rm -f $p)"; done
for v in "${VOLS[@]}"; do podman volume exists "$v" && skip "a podman volume $v exists already (podman volume rm $v)"; done
pause_before=$(podman images -q localhost/podman-pause)
podman network ls --format '{{.Name}}' | while read -r n; do
    podman network inspect "$n" 2>/dev/null | grep -q "\"$NETPFX.0/24\"" && echo "$n"; done > "$T/netclash"
[ -s "$T/netclash" ] && skip "subnet $NETPFX.0/24 is used by podman network $(cat "$T/netclash")"

volumes_before=$(podman volume ls -q | sort)
teardown() {
    local f p s v
    for f in "$T"/play-*.yaml; do [ -e "$f" ] && podman kube down "$f" >/dev/null 2>&1; done
    for p in "${PODS[@]}"; do podman pod exists "$p" && podman pod rm -f "$p" >/dev/null 2>&1; done
    for v in "${VOLS[@]}"; do podman volume rm -f "$v" >/dev/null 2>&1; done
    for v in $(comm -13 <(echo "$volumes_before") <(podman volume ls -q | sort)); do echo "also removing volume $v"; podman volume rm -f "$v" >/dev/null 2>&1; done
    podman network rm -f "$NET" >/dev/null 2>&1
    podman rmi -f "localhost/vmesh-rvp-nginx:$TAG" "localhost/vmesh:$TAG" >/dev/null 2>&1
    # podman builds its pod infra image on first use: ours if it was not there before
    [ -z "$pause_before" ] && podman rmi -f $(podman images -q localhost/podman-pause) >/dev/null 2>&1
    return 0
}
cleanup_hooks+=("teardown")

# ---- images and network
echo "-- t=${SECONDS}s: images and network"
t0=$(date +%s)
if "$SRC/scripts/podman-image.sh" --vmesh "$VMESH" --tag "$TAG" > "$T/image.out" 2> "$T/image.err"; then
    ok "images built from the build tree: $(tr '\n' ' ' < "$T/image.out")($(podman image inspect "localhost/vmesh:$TAG" --format '{{.Size}}') bytes)"
else fail "podman-image.sh"; sed 's/^/  /' "$T/image.err"; finish; fi
podman network create --subnet "$NETPFX.0/24" "$NET" >/dev/null || { fail "network $NETPFX.0/24"; finish; }
ok "network $NET: $NETPFX.0/24"

# ---- what a user fills in: keys, SVIDs, reference values
echo "-- t=${SECONDS}s: what a user fills in: keys, SVIDs, reference values"
mkdir -p "$T"/d/{rvp-key,rvp-pub,inputs,verifier-keys,web-svid,db-svid,web-psa,db-psa}
cd "$T" || exit 1
"$VMESH" keygen --type ec-p256 -o d/rvp-key/rvp.key --pub d/rvp-pub/rvp.pub >/dev/null
"$VMESH" keygen --type ec-p256 -o d/verifier-keys/ear.pem --pub ear.pub >/dev/null
head -c 48 /dev/urandom | base64 -w0 > d/verifier-keys/session.key   # 64 bytes of text
"$VMESH" ca init --trust-domain corp.example --out ca >/dev/null
for w in web db; do
    "$VMESH" ca issue --ca ca --spiffe-id "spiffe://corp.example/ns/shop/sa/$w" --out "$w" >/dev/null
    cp "$w-chain.pem" "d/$w-svid/tls.crt"; cp "$w.key" "d/$w-svid/tls.key"; cp ca/bundle.pem "d/$w-svid/ca.crt"
    "$VMESH" keygen --type ec-p256 -o "d/$w-psa/iak.pem" --pub "$w-iak.pub" >/dev/null
    printf 'registry.example/shop/%s:1.0\n' "$w" > "d/$w-psa/workload"
    impl=$(printf 'vmesh-podman-impl-%-14s' "$w" | head -c 32 | base64 -w0)
    bl=$(printf 'firmware of %s' "$w" | sha256sum | cut -d' ' -f1)
    bl64=$(python3 -c 'import base64,sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$bl")
    zero=$(head -c 32 /dev/zero | base64 -w0)
    cat > "d/$w-psa/claims.json" <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1,
  "psa-security-lifecycle": 12288, "psa-implementation-id": "$impl",
  "psa-boot-seed": "$zero", "psa-nonce": "$zero",
  "psa-software-components": [ { "measurement-type": "BL", "measurement-value": "$bl64", "signer-id": "$zero" } ] }
JSON
    rv_json() { # rv_json WORKLOAD_DIGEST
        cat <<JSON
{ "format": "vmesh-rv/1", "reference-values": [ { "scheme": "psa", "class-id": "$impl",
    "measurements": [ { "name": "BL", "digest": { "alg": "sha-256", "value": "$bl" } },
                      { "name": "workload", "digest": { "alg": "sha-256", "value": "$1" } } ],
    "keys": [ $(python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$w-iak.pub") ] } ] }
JSON
    }
    rv_json "$(sha256sum "d/$w-psa/workload" | cut -d' ' -f1)" > "d/inputs/shop-$w.json"
    [ "$w" = db ] && rv_json "$(printf 'some other workload' | sha256sum | cut -d' ' -f1)" > "$T/shop-db.revoked.json"
done

# ---- render one file per workload (each podman kube play gets its own --ip)
echo "-- t=${SECONDS}s: render one file per workload (each podman kube play gets its own --ip)"
M=$SRC/deploy/k8s
common=(--image-tag "$TAG" --ip "vmesh-rvp.vmesh-system=$RVP_IP" --ip "db.shop=$DB_IP"
        --ip "vmesh-verifier.vmesh-system=$VER_IP1" --ip "shop-web.shop=$WEB_IP1")
render() { # render OUT ARGS... (notes to $T/render.log)
    local out=$1; shift
    $RENDER "${common[@]}" "$@" "$M/rvp.yaml" "$M/verifier.yaml" "$M/sidecar.yaml" > "$out" 2>> "$T/render.log"
}
render play-rvp.yaml --only Deployment/vmesh-rvp --data vmesh-rvp-key=d/rvp-key \
    --replace-data vmesh-rvp-inputs=d/inputs || fail "render rvp"
render play-verifier.yaml --only Deployment/vmesh-verifier --data vmesh-verifier-keys=d/verifier-keys \
    --data vmesh-verifier=d/rvp-pub || fail "render verifier"
render play-db.yaml --only Deployment/shop-db --data shop-db-vmesh=d/rvp-pub --data shop-db-svid=d/db-svid \
    --psa-sim shop-db=d/db-psa || fail "render db"
render play-web.yaml --only Deployment/shop-web --data shop-web-vmesh=d/rvp-pub --data shop-web-svid=d/web-svid \
    --psa-sim shop-web=d/web-psa || fail "render web"
sort -u "$T/render.log" | sed 's/^/  /'
[ "$fails" -eq 0 ] || finish

play() { # play FILE IP... : podman kube play on our network with static IPs
    local f=$1; shift
    local ips=() ip
    for ip in "$@"; do ips+=(--ip "$ip"); done
    if podman kube play --network "$NET" "${ips[@]}" "$f" > "$T/$f.out" 2> "$T/$f.err"; then
        ok "podman kube play $f ($(grep -c '^Pod:' "$T/$f.out" 2>/dev/null || true) pod(s))"
    else fail "podman kube play $f"; grep -v systemd "$T/$f.err" | sed 's/^/  /' | head -20; fi
}
# probe URL: HTTP status, as the kubelet's httpGet probe sees it (000: no answer)
probe() { curl -s -o /dev/null -m 3 -w '%{http_code}' "$1"; }
wait_code() { # wait_code URL CODE SECONDS
    local end=$((SECONDS + $3))
    while [ $SECONDS -lt $end ]; do [ "$(probe "$1")" = "$2" ] && return 0; sleep 0.5; done
    return 1
}
# The manifest's readinessProbe of a container: "PATH PORT".
ready_probe() { # ready_probe FILE CONTAINER
    python3 - "$1" "$2" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "Pod":
        for c in d["spec"]["containers"]:
            if c["name"] == sys.argv[2] and "readinessProbe" in c:
                p = c["readinessProbe"]["httpGet"]
                print(p["path"], p["port"])
        break
PY
}
logs_tail() { local c; for c in "$@"; do echo "  last log lines of $c:"; podman logs --tail 8 "$c" 2>&1 | sed 's/^/    /'; done; }
pod_pid() { podman inspect "$(podman pod inspect "$1" --format '{{.InfraContainerID}}')" --format '{{.State.Pid}}'; }
in_pod() { local pod=$1; shift; nsenter -t "$(pod_pid "$pod")" -n "$@"; }

# ---- 1. the sidecars first, before any RVP: /ready must keep them out of traffic
echo "-- t=${SECONDS}s: 1. the sidecars first, before any RVP: /ready must keep them out of traffic"
play play-db.yaml "$DB_IP"
play play-web.yaml "$WEB_IP1" "$WEB_IP2"
read -r RPATH RPORT <<< "$(ready_probe play-web.yaml vmesh)"
[ "$RPATH" = /ready ] && ok "the sidecar's readinessProbe is GET $RPATH on port $RPORT" || fail "readinessProbe: '$RPATH'"
for ip in "$DB_IP" "$WEB_IP1" "$WEB_IP2"; do
    wait_code "http://$ip:$RPORT/metrics" 200 30 || { fail "sidecar at $ip: admin endpoint not up"; continue; }
    c=$(probe "http://$ip:$RPORT$RPATH")
    [ "$c" = 503 ] && ok "$ip$RPATH: 503 while the RVP is unreachable (not ready, no traffic)" || fail "$ip$RPATH: $c before any snapshot"
done
out=$(in_pod shop-web-0 curl -s -m 5 http://127.0.0.1:15001/hello.txt 2>&1)
[ -z "$out" ] && ok "a request while not ready gets nothing from shop-db" || fail "request before any snapshot answered: $out"

# ---- 2. RVP and verifier
echo "-- t=${SECONDS}s: 2. RVP and verifier"
play play-rvp.yaml "$RVP_IP"
read -r RVPATH RVPORT <<< "$(ready_probe play-rvp.yaml nginx)"
wait_code "http://$RVP_IP:$RVPORT$RVPATH" 200 30 && ok "RVP ready: GET $RVPATH on $RVPORT is 200 (first publish done)" \
    || { fail "RVP not ready"; podman logs vmesh-rvp-0-publisher 2>&1 | tail -5; podman logs vmesh-rvp-0-nginx 2>&1 | tail -5; }
wait_code "http://$RVP_IP:$RVPORT/bell.cwt" 200 30 && ok "RVP serves the epoch bell (its tick container rings independently of the publisher)" \
    || fail "bell.cwt: $(probe "http://$RVP_IP:$RVPORT/bell.cwt") after 30 s"
c=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://$RVP_IP:$RVPORT/manifest.jws"); [ "$c" = 403 ] && ok "RVP: POST refused ($c)" || fail "RVP POST: $c"
play play-verifier.yaml "$VER_IP1" "$VER_IP2"
read -r VPATH VPORT <<< "$(ready_probe play-verifier.yaml verifier)"
for ip in "$VER_IP1" "$VER_IP2"; do
    if wait_code "http://$ip:$VPORT$VPATH" 200 30; then
        rep=$(curl -s -D - -o "$T/disc.json" "http://$ip:$VPORT$VPATH" | tr -d '\r' | sed -n 's/^Vmesh-Replica: //ip')
        ok "verifier $ip ready ($VPATH 200)"
        case $rep in vmesh-verifier-[01]) ok "verifier $ip: replica id $rep, the pod name (fieldRef, --id \$(POD_NAME))" ;;
            *) fail "verifier $ip: replica id '$rep'" ;; esac
    else fail "verifier $ip not ready"; fi
done

# ---- 3. /ready turns 200 once the first snapshot arrives (poll-interval 30s)
echo "-- t=${SECONDS}s: 3. /ready turns 200 once the first snapshot arrives (poll-interval 30s)"
ts=$(date +%s)
for ip in "$DB_IP" "$WEB_IP1" "$WEB_IP2"; do
    wait_code "http://$ip:$RPORT$RPATH" 200 80 && ok "$ip$RPATH: 200 after the RVP came up ($(($(date +%s) - ts)) s)" \
        || fail "$ip$RPATH stays $(probe "http://$ip:$RPORT$RPATH")"
done

# The verifier logs nothing on a good sync: its state directory shows it.
for v in vmesh-verifier-0 vmesh-verifier-1; do
    end=$((SECONDS + 40)); l=
    while [ $SECONDS -lt $end ]; do
        l=$(podman exec "$v-verifier" /bin/sh -c 'cd /var/lib/vmesh && for f in * */*; do [ -f "$f" ] && echo "$f"; done' 2>/dev/null | tr '\n' ' ')
        [ -n "$l" ] && break; sleep 1
    done
    [ -n "$l" ] && ok "$v synced the RVP into its state-dir: $l" || { fail "$v: nothing synced into /var/lib/vmesh"; logs_tail "$v-verifier"; }
done

# ---- 4. requests: client -> its outbound sidecar -> attested mTLS -> PoP sidecar -> app
echo "-- t=${SECONDS}s: 4. requests: client -> its outbound sidecar -> attested mTLS -> PoP sidecar -> app"
for pod in shop-web-0 shop-web-1; do
    out=$(in_pod "$pod" curl -s -m 15 http://127.0.0.1:15001/hello.txt)
    if [ "$out" = "registry.example/shop/db:1.0 in shop-db-0" ]; then ok "$pod -> shop-db through the sidecars: '$out'"
    else fail "$pod -> shop-db: '$out'"; logs_tail "$pod-vmesh" shop-db-0-vmesh; fi
done
# Attacks from the pod network: the host stands in for another pod.
c=$(curl -s -o /dev/null -m 5 -w '%{http_code}' "http://$DB_IP:8080/hello.txt")
[ "$c" = 000 ] && ok "the app port $DB_IP:8080 is not reachable from outside the pod" || fail "app port answered $c"
c=$(curl -sk -o /dev/null -m 5 -w '%{http_code}' "https://$DB_IP:8443/hello.txt")
[ "$c" = 000 ] && ok "no client certificate: refused" || fail "no client certificate: HTTP $c"
c=$(curl -sk -o /dev/null -m 5 -w '%{http_code}' --cert "$T/web-chain.pem" --key "$T/web.key" "https://$DB_IP:8443/hello.txt")
[ "$c" = 000 ] && ok "shop-web's valid SVID without attestation (plain mTLS): refused" || fail "plain mTLS with a valid SVID: HTTP $c"

# ---- 5. revocation: the RVP withdraws shop-db's workload
echo "-- t=${SECONDS}s: 5. revocation: the RVP withdraws shop-db's workload"
# An idle long-lived connection from shop-web-0 through its sidecar: it
# sends nothing, so only the sidecars can end it.
in_pod shop-web-0 python3 - "$T/hold" <<'PY' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", 15001))
open(sys.argv[1], "w").write("open\n")
s.settimeout(150)
try:
    d = s.recv(4096)
except Exception as e:
    d = repr(e).encode()
open(sys.argv[1], "a").write("eof %.3f %r\n" % (time.time(), d))
PY
HOLD=$!
cleanup_hooks+=("kill $HOLD 2>/dev/null")
# /peers on both ends: the attested session, its peer, tier and epochs.
peers() { # peers IP WANT_PEER -> "N session(s) ..." or fails
    curl -s -m 5 "http://$1:$RPORT/peers" | python3 -c '
import json, sys
ps = [p for p in json.load(sys.stdin) if p.get("state") == "proxy"]
assert ps, "no open session"
assert all(p["peer"] == sys.argv[1] for p in ps), [p["peer"] for p in ps]
print("%d session(s) with %s, mode %s, tier %s, rv_epochs %s" % (len(ps), sys.argv[1], ps[0]["mode"], ps[0]["tier"], json.dumps(ps[0]["rv_epochs"])))
assert all(p["tier"] == "affirming" for p in ps), [p["tier"] for p in ps]' "$2"
}
for ((i = 0; i < 40; i++)); do peers "$DB_IP" spiffe://corp.example/ns/shop/sa/web > "$T/p.txt" 2>&1 && break; sleep 0.25; done
grep -q open "$T/hold" 2>/dev/null && ok "a long-lived connection through shop-web-0 is open" || fail "long-lived connection"
peers "$DB_IP" spiffe://corp.example/ns/shop/sa/web > "$T/p.txt" 2>&1 && ok "shop-db /peers: $(cat "$T/p.txt")" || { fail "shop-db /peers"; tail -3 "$T/p.txt"; }
peers "$WEB_IP1" spiffe://corp.example/ns/shop/sa/db > "$T/p.txt" 2>&1 && ok "shop-web-0 /peers: $(cat "$T/p.txt")" || { fail "shop-web-0 /peers"; tail -3 "$T/p.txt"; }
epoch() { curl -s "http://$1:$RPORT/metrics" | awk '$1 == "vmesh_rv_epoch{rvp=\"platform\"}" { print $2 }'; }
e0=$(epoch "$WEB_IP1")
# `kubectl edit configmap vmesh-rvp-inputs` + `kubectl exec ... vmesh rvp publish` (deploy/README.md)
mp=$(podman volume inspect vmesh-rvp-inputs --format '{{.Mountpoint}}' 2>/dev/null)
if [ -n "$mp" ] && [ -f "$mp/shop-db.json" ]; then
    cp "$T/shop-db.revoked.json" "$mp/shop-db.json"
else
    fail "ConfigMap vmesh-rvp-inputs: no podman volume with shop-db.json"; podman volume ls
fi
tr0=$(date +%s.%N)
if podman exec vmesh-rvp-0-publisher vmesh rvp publish --key /keys/rvp.key --in /inputs --out /srv/rvp/www > "$T/pub.out" 2>&1; then
    ok "publish at the RVP (podman exec, as kubectl exec): $(head -1 "$T/pub.out")"
else fail "publish"; cat "$T/pub.out"; fi
for ((i = 0; i < 90; i++)); do e=$(epoch "$WEB_IP1"); [ -n "$e" ] && [ -n "$e0" ] && [ "$e" -gt "$e0" ] && break; sleep 0.5; done
ok "shop-web-0 synced epoch $e0 -> $(epoch "$WEB_IP1") after $(python3 -c "print(round($(date +%s.%N) - $tr0, 1))") s (poll-interval 30s)"
for ((i = 0; i < 40; i++)); do grep -q eof "$T/hold" 2>/dev/null && break; sleep 0.25; done
if grep -q eof "$T/hold"; then
    te=$(awk '/^eof/ { print $2 }' "$T/hold")
    python3 -c "import sys; sys.exit(0 if $te > $tr0 else 1)" && ok "the open connection was closed $(python3 -c "print(round($te - $tr0, 1))") s after the publish: $(sed -n 's/^eof [0-9.]* //p' "$T/hold")" \
        || fail "the open connection ended before the revocation: $(cat "$T/hold")"
else fail "open connection survived the revocation"; fi
for pod in shop-web-0 shop-web-1; do
    ip=$WEB_IP1; [ "$pod" = shop-web-1 ] && ip=$WEB_IP2
    for ((i = 0; i < 90; i++)); do e=$(epoch "$ip"); [ -n "$e" ] && [ "$e" -gt "$e0" ] && break; sleep 0.5; done
    out=$(in_pod "$pod" curl -s -m 10 http://127.0.0.1:15001/hello.txt)
    [ -z "$out" ] && ok "$pod: cut off from shop-db after the revocation" || fail "$pod still reaches shop-db: '$out'"
done
r=$(curl -s "http://$WEB_IP1:$RPORT/metrics" | awk '$1 ~ /^vmesh_attestation_failures_total\{reason="not-affirming"/ { s += $2 } END { print s + 0 }')
[ "$r" -ge 1 ] && ok "shop-web counts the refusals as not-affirming ($r)" || fail "not-affirming count $r"
c=$(probe "http://$DB_IP:$RPORT$RPATH"); [ "$c" = 200 ] && ok "shop-db itself stays ready (revocation is the peers' judgement)" || fail "shop-db /ready $c"

# ---- 6. what podman does not run
echo "-- t=${SECONDS}s: 6. what podman does not run"
echo "not under podman: DaemonSet (deploy/k8s/daemonset.yaml): podman kube play has no DaemonSet, hostNetwork node proxy,"
echo "  TPM device plugin (smarter-devices/tpmrm0) and configfs-tsm hostPath; Kubernetes: kubectl apply -f deploy/k8s/daemonset.yaml"
echo "not under podman: Services, NetworkPolicy, PodDisruptionBudget, startup/liveness probes (no kubelet); readiness probed by this test"
# The DaemonSet's init containers run in the image: render + --check.
python3 - "$M/daemonset.yaml" > "$T/ds-render.sh" <<'PY'
import sys, yaml
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "DaemonSet" and d["metadata"]["name"] == "vmesh-node-tpm2":
        c = next(c for c in d["spec"]["template"]["spec"]["initContainers"] if c["name"] == "render")
        print(c["command"][2])
PY
python3 - "$M/daemonset.yaml" "$T/ds-tpl" <<'PY'
import os, sys, yaml
os.makedirs(sys.argv[2], exist_ok=True)
for d in yaml.safe_load_all(open(sys.argv[1])):
    if d and d["kind"] == "ConfigMap":
        for k, v in d["data"].items():
            open(os.path.join(sys.argv[2], k), "w").write(v)
PY
if podman run --rm --network none --read-only -e HOST_IP=$NETPFX.99 -v "$T/ds-tpl:/etc/vmesh-template:ro,Z" \
        --tmpfs /run/vmesh/config --user 10001:10001 --entrypoint /bin/sh "localhost/vmesh:$TAG" -c "$(cat "$T/ds-render.sh")" \
        > "$T/ds.out" 2>&1; then
    ok "DaemonSet init container 'render' runs in the image: $(head -1 "$T/ds.out")"
else fail "DaemonSet render init container"; sed 's/^/  /' "$T/ds.out" | head; fi

# ---- 7. shutdown: SIGTERM drains, no sanitizer report
echo "-- t=${SECONDS}s: 7. shutdown: SIGTERM drains, no sanitizer report"
for f in play-web.yaml play-db.yaml play-verifier.yaml play-rvp.yaml; do
    for c in $(podman ps -a --format '{{.Names}}' | grep -E "^(shop-web|shop-db|vmesh-verifier|vmesh-rvp)-[0-9]-"); do
        podman logs "$c" > "$T/log-$c.txt" 2>&1
    done
    podman kube down "$f" > /dev/null 2>&1 || fail "podman kube down $f"
done
if grep -lE "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/log-*.txt > "$T/san.txt" 2>/dev/null; then
    fail "sanitizer reports in: $(tr '\n' ' ' < "$T/san.txt")"
else ok "no sanitizer report in $(ls "$T"/log-*.txt | wc -l) container logs"; fi
echo "elapsed: $(($(date +%s) - t0)) s"
finish
