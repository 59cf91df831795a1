#!/usr/bin/env bash
# bench/sase-scale: N simultaneous clients connecting to one SASE PoP (a
# `vmesh proxy` inbound in front of nginx) in three modes:
#   central  - the PoP sends each client's evidence to the central verifier
#              (`vmesh verifier serve`, verifier.central in the PoP's config);
#   local    - the PoP appraises with its own bundle-fed local verifier;
#   passport - clients present EARs obtained beforehand from the central
#              verifier; the PoP checks them locally.
# For each N and mode: p50/p99/max connection-establishment latency (connect()
# to the first byte of the HTTP response through the tunnel), admitted
# connections per second, CPU seconds per connection of the PoP and of the
# verifier, and the revocation convergence time: with all N connections open,
# the RVP publishes a bundle withdrawing the clients' measurement; the time
# until the PoP (polling every 2 s) has closed every connection.
# Writes bench/sase-scale/results.json, docs/sase-scale.png and the
# "sase-scale" section of docs/BENCHMARKS.md. Builds nothing.
# Usage: bench/sase-scale/run.sh BUILD_DIR ["N1 N2 ..."] ["MODES"] [EXTRA]
#   EXTRA=1 (default) adds central runs with the verifier limited to the
#   share one PoP gets of a verifier shared by many (labelled).
# The verifier link (env VER_LINK; each result row names it in
# "verifier_link"):
#   attested (default) - the secure deployment of DECISIONS D31: `vmesh
#       verifier serve --tls-cert --tls-key --attest psa-sim --attest-opt ...`
#       serves https (TLS 1.3) and attests its own psa-sim platform (its own
#       IAK, claims and workload file); the PoP's verifier.central is
#       `url: https://...` with `key:` the EAR public key and `verifier-rv:`
#       the reference values of the verifier's platform: the PoP attests the
#       verifier before sending evidence (again every attest-recheck, 30 s),
#       pins its TLS key and accepts only the attested EAR key. The load
#       generator fetches passports over the same kind of link
#       (`--central-rv`: it attests the verifier once, then pins).
#   plain - the PoP's opt-in `insecure-plain-http: true` to a verifier on
#       plain http:// (the figures measured before 2026-12-05), for
#       comparison: VER_LINK=plain bench/sase-scale/run.sh ...
# The verifier's /metrics are read with curl -sk over either.
set -eu
BUILD=$(cd "${1:-build}" && pwd)
NS=${2:-1000 10000}
MODES=${3:-central local passport}
EXTRA=${4:-1}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VMESH=$BUILD/src/cli/vmesh
LOADGEN=${LOADGEN:-$BUILD/bench/bench_sase_loadgen}   # env LOADGEN: e.g. a sanitizer build
POOL=100          # distinct IAKs and SVIDs; every client has its own AK
INFLIGHT=256      # handshakes in flight
POLL=2            # the PoP's RVP poll interval (s)
MAXSECS=${MAXSECS:-100}   # time bound of one establishment phase (s; env MAXSECS on a loaded machine)
VER_LINK=${VER_LINK:-attested}
case $VER_LINK in attested|plain) ;; *) echo "bench/sase-scale: VER_LINK=$VER_LINK: attested or plain" >&2; exit 2 ;; esac
# env VER_ARGS: more `vmesh verifier serve` options, e.g. --no-one-shot for the
# relying party's three-request Veraison flow (DECISIONS D42) as a baseline
[ -x "$VMESH" ] && [ -x "$LOADGEN" ] || { echo "bench/sase-scale: build first (make build)" >&2; exit 1; }
command -v nginx >/dev/null || { echo "bench/sase-scale: nginx is needed (the PoP's app)" >&2; exit 1; }
W=$(mktemp -d /tmp/vmesh-sase-scale.XXXXXX)
PIDS=()
stop_all() { local p; for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
             for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'stop_all; rm -rf "$W"' EXIT
cd "$W"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() { local i; for ((i = 0; i < 200; i++)); do (exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.05; done; return 1; }
wait_ready() { local i; for ((i = 0; i < 300; i++)); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$1/ready")" = 200 ] && return 0; sleep 0.1; done; return 1; }
pem() { python3 -c 'import json,sys; print(json.dumps(open(sys.argv[1]).read()))' "$1"; }
ulimit -n "$(ulimit -Hn)"

echo "bench/sase-scale: set-up in $W (pool of $POOL IAKs/SVIDs)"
"$VMESH" ca init --trust-domain sase.example --out ca >/dev/null
"$VMESH" ca issue --ca ca --spiffe-id spiffe://sase.example/pop --out pop >/dev/null
for k in bell rvp ear pop-iak; do "$VMESH" keygen --type ec-p256 -o $k.pem --pub $k.pub >/dev/null; done
seq 0 $((POOL - 1)) | xargs -P 2 -I{} sh -c '"$0" ca issue --ca ca --spiffe-id spiffe://sase.example/client/{} --out cli-{} >/dev/null &&
    "$0" keygen --type ec-p256 -o iak-{}.pem --pub iak-{}.pub >/dev/null' "$VMESH"
Z=$(head -c 32 /dev/zero | base64 -w0)
claims() { # claims IMPL_TEXT
    cat <<JSON
{ "eat-profile": "tag:psacertified.org,2023:psa#tfm", "psa-client-id": 1, "psa-security-lifecycle": 12288,
  "psa-implementation-id": "$(printf '%-32s' "$1" | head -c 32 | base64 -w0)", "psa-boot-seed": "$Z", "psa-nonce": "$Z",
  "psa-software-components": [ { "measurement-type": "workload", "measurement-value": "$Z", "signer-id": "$Z" } ] }
JSON
}
claims sase-client-laptop > claims.json
claims sase-pop-tenant-a > pop-claims.json
printf 'sase client agent v1\n' > workload
printf 'sase pop gateway v1\n' > pop-workload
rvjson() { # rvjson IMPL_TEXT WORKLOAD_DIGEST KEYFILE...: one class entry with the
    # measurement, one key entry per IAK naming its instance id (0x01 ||
    # SHA-256(SPKI), RFC 9783 §4.2.1), so that the verifier looks keys up by
    # instance instead of trying every key of the class.
    python3 - "$@" <<'PY'
import base64, hashlib, json, sys
impl, dig, keys = sys.argv[1], sys.argv[2], sys.argv[3:]
cls = base64.b64encode(("%-32s" % impl)[:32].encode()).decode()
rv = [{"scheme": "psa", "class-id": cls,
       "measurements": [{"name": "workload", "digest": {"alg": "sha-256", "value": dig}}]}]
for k in keys:
    pem = open(k).read()
    der = base64.b64decode("".join(l for l in pem.splitlines() if not l.startswith("-----")))
    rv.append({"scheme": "psa", "class-id": cls, "instance-id": {"hex": "01" + hashlib.sha256(der).hexdigest()},
               "keys": [pem]})
print(json.dumps({"format": "vmesh-rv/1", "reference-values": rv}, indent=1))
PY
}
mkdir -p rv-good rv-revoked www bell
rvjson sase-client-laptop "$(sha256sum workload | cut -d' ' -f1)" $(seq -f 'iak-%g.pub' 0 $((POOL - 1))) > rv-good/clients.json
rvjson sase-client-laptop "$(printf 'a withdrawn build' | sha256sum | cut -d' ' -f1)" $(seq -f 'iak-%g.pub' 0 $((POOL - 1))) > rv-revoked/clients.json
rvjson sase-pop-tenant-a "$(sha256sum pop-workload | cut -d' ' -f1)" pop-iak.pub > pop-rv.json
if [ "$VER_LINK" = attested ]; then
    # The central verifier's own platform (psa-sim: its IAK, claims and
    # workload) and TLS key, and the reference values the relying parties
    # (the PoP, the clients fetching passports) judge it by.
    "$VMESH" keygen --type ec-p256 -o verifier-iak.pem --pub verifier-iak.pub >/dev/null
    "$VMESH" ca issue --ca ca --spiffe-id spiffe://sase.example/verifier --out vtls >/dev/null
    claims sase-central-verifier > verifier-claims.json
    printf 'sase central verifier v1\n' > verifier-workload
    rvjson sase-central-verifier "$(sha256sum verifier-workload | cut -d' ' -f1)" verifier-iak.pub > verifier-rv.json
fi
echo '{"format": "vmesh-policy/1", "id": "policy:sase/client", "modes": ["epoch-fresh"]}' > client-policy.json
printf 'hello from the PoP app\n' > www/index.html
# The epoch bell: one tick valid for two hours (timeout stops the loop).
timeout 1 "$VMESH" rvp tick --key bell.pem --out bell --every 3600 || true
[ -s bell/bell.cwt ] || { echo "bench/sase-scale: no bell"; exit 1; }
publish() { "$VMESH" rvp publish --key rvp.pem --in "$1" --out rvweb --name fleet >/dev/null; }
publish rv-good

# RVP and central verifier: one of each for the whole benchmark.
RVP_PORT=$(free_port)
"$VMESH" rvp serve --root rvweb --listen "127.0.0.1:$RVP_PORT" >rvp.log 2>&1 &
PIDS+=($!)
wait_port "$RVP_PORT" || { echo "bench/sase-scale: rvp serve did not start"; exit 1; }
VER_PID=
VER_TLS=(); LG_LINK=()
if [ "$VER_LINK" = attested ]; then
    VER_TLS=(--tls-cert vtls-chain.pem --tls-key vtls.key --attest psa-sim --attest-opt iak=verifier-iak.pem
             --attest-opt claims=verifier-claims.json --attest-opt measure=workload=verifier-workload)
    LG_LINK=(--central-rv "$W/verifier-rv.json")
fi
start_verifier() { # start_verifier [taskset prefix...]
    VER_PORT=$(free_port)
    VER_URL=$([ "$VER_LINK" = attested ] && echo https || echo http)://127.0.0.1:$VER_PORT
    rm -rf vstate
    "$@" "$VMESH" verifier serve --listen "127.0.0.1:$VER_PORT" --key ear.pem "${VER_TLS[@]}" \
        --rvp "fleet,http://127.0.0.1:$RVP_PORT,rvp.pub" --state-dir vstate --poll 1 ${VER_BELL:+--bell-key bell.pub} \
        --threads "${VER_THREADS:-2}" --max-connections 4096 \
        --client-connections off --client-rate off --client-bytes off ${VER_ARGS:-} >verifier.log 2>&1 &
    VER_PID=$!
    PIDS+=("$VER_PID")
    wait_port "$VER_PORT" || { echo "bench/sase-scale: verifier did not start"; cat verifier.log; exit 1; }
    if [ "$VER_LINK" = attested ]; then
        local i   # (the line follows the listen by a moment)
        for ((i = 0; i < 50; i++)); do grep -q 'https (TLS 1.3), attesting its platform as psa-sim' verifier.log && break; sleep 0.1; done
        [ "$i" -lt 50 ] || { echo "bench/sase-scale: the verifier does not serve attested https"; cat verifier.log; exit 1; }
    fi
}
stop_verifier() { kill "$VER_PID" 2>/dev/null || true; wait "$VER_PID" 2>/dev/null || true; }
start_verifier

# One PoP per run: nginx (the tenant's app) behind two `vmesh proxy`
# processes of one worker each sharing the inbound port (SO_REUSEPORT): one
# process would need 2 fds per connection, 20,000+ for 10,000 clients, and
# this machine's hard RLIMIT_NOFILE is 20,000. Two one-worker processes are
# what the sidecar's own design does inside one process (a worker per core,
# each with its own SO_REUSEPORT socket); their CPU is summed.
start_pop() { # start_pop MODE
    local m=$1 i
    APP_PORT=$(free_port); POP_PORT=$(free_port)
    rm -rf nginx state-* ; mkdir -p nginx
    cat > nginx/nginx.conf <<NGX
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $W/nginx/nginx.pid;
error_log $W/nginx/error.log;
events { worker_connections 16000; }
http {
    access_log off;
    client_body_temp_path $W/nginx/body; proxy_temp_path $W/nginx/proxy;
    fastcgi_temp_path $W/nginx/fcgi; uwsgi_temp_path $W/nginx/uwsgi; scgi_temp_path $W/nginx/scgi;
    keepalive_timeout 900s; keepalive_requests 1000000;
    server { listen 127.0.0.1:$APP_PORT backlog=4096; root $W/www; }
}
NGX
    nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" 2>nginx/start.err &
    APP_PID=$!; PIDS+=("$APP_PID")
    wait_port "$APP_PORT" || { echo "bench/sase-scale: nginx did not start"; cat nginx/start.err; exit 1; }
    local modes=epoch-fresh extra= bellfile=$W/bell/bell.cwt rt= lag=
    case $m in
        central*) if [ "$VER_LINK" = attested ]; then
                      extra="  central: { url: \"$VER_URL\", key: $W/ear.pub, cache: 60s, verifier-rv: $W/verifier-rv.json${SIGNED_ANSWERS:+, signed-answers: true} }"
                  else
                      extra="  central: { url: \"$VER_URL\", key: $W/ear.pub, cache: 60s, insecure-plain-http: true }"
                  fi ;;
        passport) modes=passport; extra="  trusted-verifiers: [ $W/ear.pub ]" ;;
        passport-reattest) modes=passport; extra="  trusted-verifiers: [ $W/ear.pub ]"; bellfile=$W/rvweb/bell.cwt
            rt="reattestation: { on-tick: true, jitter: ${RT_JITTER}s, deadline: 60s }"; lag=", passport-epoch-lag: 0" ;;
    esac
    POP_PIDS=(); POP_ADMINS=()
    for i in a b; do
        local admin; admin=$(free_port)
        cat > pop-$i.yaml <<YAML
identity: { cert: $W/pop-chain.pem, key: $W/pop.key, bundle: $W/ca/bundle.pem }
attester:
  platform: psa
  modes: [ epoch-fresh ]
  options: { iak: $W/pop-iak.pem, claims: $W/pop-claims.json, measure: [ "workload=$W/pop-workload" ] }
verifier:
  rvps: [ { name: fleet, url: "http://127.0.0.1:$RVP_PORT", key: $W/rvp.pub, schemes: [ psa ] } ]
  poll-interval: ${POLL}s
  state-dir: $W/state-$i
  bell: { file: $bellfile, key: $W/bell.pub, refresh: $([ -n "$rt" ] && echo 1s || echo 5s) }
  ar-cache-slots: 16384
$extra
policy:
  inline: { id: "policy:sase/pop", modes: [ $modes ]$lag }
$rt
inbound:
  - { name: pop, listen: "127.0.0.1:$POP_PORT", app: "127.0.0.1:$APP_PORT", peer: "spiffe://sase.example/client/*" }
admin: { listen: "127.0.0.1:$admin" }
access-log: { stderr: false }
log-level: warn
limits: { workers: 1, max-connections: 19000, handshake-timeout: 60s, idle-timeout: 15m, drain-timeout: 1s${HS_THREADS:+, handshake-threads: $HS_THREADS} }
YAML
        "$VMESH" proxy -c pop-$i.yaml >pop-$i.log 2>&1 &
        POP_PIDS+=($!); POP_ADMINS+=("$admin"); PIDS+=($!)
    done
    for i in 0 1; do
        wait_ready "${POP_ADMINS[$i]}" || { echo "bench/sase-scale: PoP not ready"; tail -20 pop-*.log; exit 1; }
    done
}
stop_pop() {
    local p
    for p in "${POP_PIDS[@]}" "$APP_PID"; do kill "$p" 2>/dev/null || true; done
    for p in "${POP_PIDS[@]}" "$APP_PID"; do wait "$p" 2>/dev/null || true; done
}

out=$W/results.jsonl
revoked=0
run_one() { # run_one MODE N
    local m=$1 n=$2 rv=() lg_mode=${1%%-*}
    if [ "$revoked" = 1 ]; then
        publish rv-good; revoked=0
        sleep 2.5   # the central verifier polls every second
    fi
    start_pop "$m"
    # The revoking epoch, then (only if connections are still open 3 polls
    # later) the RVP's next epoch: a passport appraised under epoch e stays
    # valid while the relying party is at e+1 (DESIGN §3.3: one epoch of lag
    # tolerated), and in central mode a re-appraisal that reaches the
    # verifier before the verifier has polled the revoking bundle affirms.
    # (each command's wall-clock start is appended to revoke-times: KEEP_LOGS)
    rv=(--revoke "date +%s.%N >>$W/revoke-times; $VMESH rvp publish --key $W/rvp.pem --in $W/rv-revoked --out $W/rvweb >/dev/null")
    rv+=("${rv[@]}")
    echo "== $m, N=$n"
    rm -f vm-mid.txt
    curl -sk "$VER_URL/metrics" >vm0.txt || true
    local watch=
    if [ -n "${KEEP_LOGS:-}" ]; then
        # When the verifier (vstate) and each PoP process (state-a, state-b)
        # accepted an RVP epoch: the mtime of the manifest its sync client
        # persists when it commits an epoch (STATE_DIR/rvp/*.jws).
        ( declare -A last; while :; do for d in vstate state-a state-b; do
              t=$(find "$d/rvp" -name '*.jws' -printf '%T@\n' 2>/dev/null | sort -n | tail -1)
              [ -n "$t" ] && [ "${last[$d]:-}" != "$t" ] && { echo "$(date +%s.%N) $d $t"; last[$d]=$t; }
          done; sleep 0.2; done ) >state-times 2>/dev/null &
        watch=$!; PIDS+=($watch)
    fi
    # env PERF_DIR=DIR: a perf profile (perf record; options PERF_OPTS, default
    # "-F 499 -g"; e.g. "-F 199 --call-graph dwarf") of the PoP processes
    # and the verifier during the establishment phase only, DIR/MODE-N.data
    local perf= after="curl -sk $VER_URL/metrics >$W/vm-mid.txt"
    if [ -n "${PERF_DIR:-}" ]; then
        mkdir -p "$PERF_DIR"
        perf record -q ${PERF_OPTS:--F 499 -g} -p "${POP_PIDS[0]},${POP_PIDS[1]},$VER_PID" -o "$PERF_DIR/$m-$n.data" 2>"$PERF_DIR/$m-$n.err" &
        perf=$!; after="kill -INT $perf; $after"
    fi
    "$LOADGEN" --dir "$W" --host 127.0.0.1 --port "$POP_PORT" --peer spiffe://sase.example/pop --mode "$lg_mode" \
        -n "$n" --pool "$POOL" --threads 2 --inflight "$INFLIGHT" --prep-threads 4 \
        --central "$VER_URL" "${LG_LINK[@]}" --max-seconds "$MAXSECS" --conn-timeout 60 \
        --pid "pop=${POP_PIDS[0]}" --pid "pop=${POP_PIDS[1]}" --pid "verifier=$VER_PID" --pid "app=$APP_PID" \
        --after-establish "$after" \
        "${rv[@]}" --revoke-gap $((3 * POLL)) --revoke-timeout 60 --out "$W/one.json" 2>"$W/loadgen.err" \
        || { echo "bench/sase-scale: load generator failed"; cat "$W/loadgen.err"; exit 1; }
    revoked=1
    [ -n "$perf" ] && { wait "$perf" 2>/dev/null || true; }
    if [ -n "${KEEP_LOGS:-}" ]; then   # env KEEP_LOGS=DIR: this run's files (bench/sase-scale/revocation.py reads them)
        kill "$watch" 2>/dev/null || true; wait "$watch" 2>/dev/null || true   # 143: set -e would end the run
        mkdir -p "$KEEP_LOGS/$m-$n"
        cp verifier.log pop-a.log pop-b.log revoke-times state-times one.json vm0.txt vm-mid.txt "$KEEP_LOGS/$m-$n/" 2>/dev/null || true
        python3 "$HERE/revocation.py" "$KEEP_LOGS/$m-$n" "$POLL" || true
    fi
    rm -f revoke-times state-times
    curl -sk "$VER_URL/metrics" >vm1.txt || true
    curl -s "http://127.0.0.1:${POP_ADMINS[0]}/metrics" >pm-a.txt || true
    curl -s "http://127.0.0.1:${POP_ADMINS[1]}/metrics" >pm-b.txt || true
    # The verifier's own counters over the run (establishment and revocation):
    # TCP connections it accepted against verifications (keep-alive reuse).
    # Each PoP process's re-appraisals: a re-appraisal that did not close its
    # connection and was not undecided affirmed a peer the RVP had just revoked
    # (in central mode before D41: the verifier was asked before it had the
    # revoking epoch, the race).
    [ -n "${KEEP_LOGS:-}" ] && cp vm1.txt "$KEEP_LOGS/$m-$n/" 2>/dev/null || true
    python3 - "$W/one.json" "$m" vm0.txt vm1.txt pm-a.txt pm-b.txt vm-mid.txt "$VER_LINK" <<'PY' | tee -a "$out"
import json, sys
r = json.load(open(sys.argv[1])); r["label"] = sys.argv[2]
# the link to the central verifier (central: the PoP's; passport: the clients')
r["verifier_link"] = {"attested": "attested-https", "plain": "plain-http"}[sys.argv[8]]
def metrics(p):
    m = {}
    for l in open(p):
        f = l.split()
        if len(f) == 2 and not l.startswith("#"):
            m[f[0]] = float(f[1])
    return m
a, b = metrics(sys.argv[3]), metrics(sys.argv[4])
r["verifier_http"] = {k: int(b.get("vmesh_verifier_" + k, 0) - a.get("vmesh_verifier_" + k, 0))
                      for k in ("connections_accepted_total", "requests_total", "verifications_total")}
# The same counters split at the end of the establishment phase (the load
# generator's --after-establish snapshot, taken right after its CPU sample):
# the verifier's CPU per admitted connection and per verification in each
# phase. The revocation phase is the PoP re-appraising every open connection
# at the verifier: one more verification per connection, not counted in
# establish_cpu.
try:
    mid = metrics(sys.argv[7])
except OSError:
    mid = None
if mid:
    keys = ("connections_accepted_total", "requests_total", "verifications_total")
    ph = {}
    for name, x, y, cpu in (("establish", a, mid, r["establish_cpu"].get("verifier", 0.0)),
                            ("revocation", mid, b, r.get("revocation", {}).get("cpu", {}).get("verifier", 0.0))):
        d = {k: int(y.get("vmesh_verifier_" + k, 0) - x.get("vmesh_verifier_" + k, 0)) for k in keys}
        d["cpu_s"] = cpu
        v = d["verifications_total"]
        d["cpu_ms_per_verification"] = round(1000 * cpu / v, 3) if v else None
        if name == "establish" and r.get("admitted"):
            d["cpu_ms_per_admitted"] = round(1000 * cpu / r["admitted"], 3)
        ph[name] = d
    r["verifier_phases"] = ph
r["pop_reappraisal"] = {}
for name, p in (("a", sys.argv[5]), ("b", sys.argv[6])):
    m = metrics(p)
    n, c = int(m.get("vmesh_reappraisals_total", 0)), int(m.get("vmesh_reappraisal_closed_total", 0))
    # D41: a round without a verdict (verifier behind or silent) neither
    # closes nor affirms; it is asked again (and counted again)
    u, bh = int(m.get("vmesh_reappraisal_undecided_total", 0)), int(m.get("vmesh_central_behind_total", 0))
    r["pop_reappraisal"][name] = {"reappraisals": n, "closed": c, "undecided": u, "behind_answers": bh,
                                  "affirmed_again": n - c - u,
                                  # D43: re-judged from the lookup journal (same / changed answers)
                                  # or appraised in full (local) / asked the verifier (central)
                                  "journal_same": int(m.get('vmesh_rv_journal_replays_total{result="same"}', 0)),
                                  "journal_changed": int(m.get('vmesh_rv_journal_replays_total{result="changed"}', 0)),
                                  "journal_foreign": int(m.get('vmesh_rv_journal_replays_total{result="foreign"}', 0)),
                                  "full_reappraisals": int(m.get("vmesh_reappraisal_full_total", 0))}
print(json.dumps(r))
PY
    stop_pop
}

# passport-reattest (issue 19.5; not in the default MODES): passports with
# in-band re-attestation across epoch ticks. The bell rings every RT_PERIOD
# s (into the RVP's directory, continuing the set-up's tick); the verifier
# follows it (its EARs carry the tick's marker); the PoP asks every client
# at each tick (on-tick, spread over RT_JITTER s from half a period after
# the tick) and requires that epoch's passport (passport-epoch-lag 0); each
# client fetches one passport per tick from the verifier. The connections
# are held over RT_TICKS ticks while the PoP's re-attestation counters and
# the verifier's sessions and CPU are sampled every 0.5 s (each tick's
# storm: rounds, from first to last round, verifier fetches and CPU); then
# the RVP withdraws the clients' measurement: the verifier (polling every
# second) stops affirming them, and the PoP cuts each at its next round.
# Writes bench/sase-scale/reattest-results.json and prints a table.
RT_PERIOD=${RT_PERIOD:-20}; RT_JITTER=${RT_JITTER:-5}; RT_TICKS=${RT_TICKS:-3}
run_reattest() { # run_reattest N
    local n=$1 ring sp
    if [ "$revoked" = 1 ]; then publish rv-good; revoked=0; sleep 2.5; fi
    cp bell/bell.cwt rvweb/bell.cwt
    "$VMESH" rvp tick --key bell.pem --out rvweb --every "$RT_PERIOD" >ring.log 2>&1 & ring=$!; PIDS+=($ring)
    stop_verifier; VER_BELL=1 start_verifier
    sleep 2
    start_pop passport-reattest
    cpu1() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
    metric_sum() { local a s=0 v; for a in "${POP_ADMINS[@]}"; do
        v=$(curl -s "http://127.0.0.1:$a/metrics" | awk -v k="$1" 'index($0, k) == 1 {s += $NF} END {print s + 0}'); s=$((s + ${v%.*})); done; echo $s; }
    ( while :; do
        echo "$(date +%s.%N) $(metric_sum 'vmesh_reattestations_total{direction="inbound",result="passed"}') $(metric_sum 'vmesh_reattestation_failures_total') $(curl -sk "$VER_URL/metrics" | awk '$1 == "vmesh_verifier_sessions_total" || $1 == "vmesh_verifier_oneshot_total" || $1 == "vmesh_verifier_batch_items_total" {n += $2} END {print n + 0}') $(cpu1 "$VER_PID") $(cpu1 "${POP_PIDS[0]}") $(cpu1 "${POP_PIDS[1]}") $("$VMESH" rvp tick --show rvweb/bell.cwt | python3 -c 'import json,sys; print(json.load(sys.stdin)["tick"])')"
        sleep 0.5; done ) > samples.txt 2>/dev/null & sp=$!; PIDS+=($sp)
    echo "== passport-reattest, N=$n (tick every ${RT_PERIOD} s, jitter ${RT_JITTER} s, hold ${RT_TICKS} ticks)"
    "$LOADGEN" --dir "$W" --host 127.0.0.1 --port "$POP_PORT" --peer spiffe://sase.example/pop --mode passport \
        -n "$n" --pool "$POOL" --threads 2 --inflight "$INFLIGHT" --prep-threads 4 \
        --central "$VER_URL" "${LG_LINK[@]}" --max-seconds "$MAXSECS" --conn-timeout 60 --reattest on --bell "$W/rvweb/bell.cwt" \
        --pid "pop=${POP_PIDS[0]}" --pid "pop=${POP_PIDS[1]}" --pid "verifier=$VER_PID" --pid "app=$APP_PID" \
        --hold $((RT_TICKS * RT_PERIOD)) --revoke "$VMESH rvp publish --key $W/rvp.pem --in $W/rv-revoked --out $W/rvweb >/dev/null" \
        --revoke-timeout $((3 * RT_PERIOD)) --out "$W/one.json" 2>"$W/loadgen.err" \
        || { echo "bench/sase-scale: load generator failed"; cat "$W/loadgen.err"; exit 1; }
    revoked=1
    kill $sp $ring 2>/dev/null || true
    python3 - "$W/one.json" samples.txt "$RT_PERIOD" "$RT_JITTER" "$(getconf CLK_TCK)" "$HERE/reattest-results.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); period, jitter, hz = float(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5])
S = [list(map(float, l.split())) for l in open(sys.argv[2]) if len(l.split()) == 8]
# storms: runs of samples where the PoP's passed rounds grow, split at gaps > 2 s
storms, cur = [], None
for a, b in zip(S, S[1:]):
    if b[1] > a[1]:
        if cur is None or a[0] - cur["t1"] > 2:
            cur = {"t0": a[0], "t1": b[0], "rounds": 0, "fetch": 0, "vcpu": 0, "popcpu": 0, "tick": b[7]}
            storms.append(cur)
        cur["t1"] = b[0]; cur["rounds"] += b[1] - a[1]
    if cur is not None and a[0] <= cur["t1"] + 0.6:
        cur["fetch"] += b[3] - a[3]; cur["vcpu"] += (b[4] - a[4]) / hz; cur["popcpu"] += (b[5] + b[6] - a[5] - a[6]) / hz
rv = r.get("revocation", {})
out = {"n": r["n"], "admitted": r["admitted"], "period_s": period, "jitter_s": jitter, "storms": [
    {"tick": int(s["tick"]), "rounds": int(s["rounds"]), "window_s": round(s["t1"] - s["t0"], 2),
     "verifier_fetches": int(s["fetch"]), "verifier_cpu_s": round(s["vcpu"], 2), "pop_cpu_s": round(s["popcpu"], 2)}
    for s in storms], "failures_during_hold": int(S[-1][2] - S[0][2]) if S else -1,
    "revocation": {"closed": rv.get("closed"), "still_open": rv.get("still_open"), "p50_s": rv.get("p50_s"), "max_s": rv.get("max_s")},
    "prep_s": r.get("prep_s"), "establish_s": r.get("establish_s"), "loadgen_failures": r.get("failures")}
json.dump(out, open(sys.argv[6], "w"), indent=1)
print(json.dumps(out, indent=1))
PY
    stop_pop
}

for n in $NS; do
    for m in $MODES; do
        if [ "$m" = passport-reattest ]; then run_reattest "$n"; continue; fi
        run_one "$m" "$n"
    done
done
case " $MODES " in *" passport-reattest "*) [ "$MODES" = passport-reattest ] && { stop_all; exit 0; } ;; esac
# Extra, labelled: the central verifier given the share of a verifier that
# one PoP gets when many PoPs use it: a CPU quota of 0.1 core (cgroup v1 cpu
# controller, "one verifier core shared by 10 PoPs"); where cgroups cannot
# be written, one thread pinned to core 1 ("one core shared with the PoP").
CG=
cleanup_cg() { [ -n "$CG" ] && [ -d "$CG" ] && rmdir "$CG" 2>/dev/null; CG=; }
trap 'stop_all; cleanup_cg; rm -rf "$W"' EXIT
if [ "$EXTRA" = 1 ]; then
    stop_verifier
    if mkdir "/sys/fs/cgroup/cpu/vmesh-sase-scale-$$" 2>/dev/null; then
        CG=/sys/fs/cgroup/cpu/vmesh-sase-scale-$$
        echo 100000 > "$CG/cpu.cfs_period_us"; echo 10000 > "$CG/cpu.cfs_quota_us"
        VER_THREADS=2 start_verifier
        echo "$VER_PID" > "$CG/cgroup.procs"
        export EXTRA_DESC="0.1 CPU (cgroup quota; one verifier core shared by 10 PoPs)"
    else
        VER_THREADS=1 start_verifier taskset -c 1
        export EXTRA_DESC="one thread on one core (taskset)"
    fi
    sleep 2
    for n in $NS; do run_one central-limited "$n"; done
    stop_verifier
fi
stop_all

[ "${REPORT:-1}" = 1 ] || { cat "$out"; exit 0; }   # env REPORT=0: results on stdout, docs untouched
cp "$out" "$HERE/results.json"
python3 "$HERE/report.py" "$out" "$ROOT/docs" "$INFLIGHT" "$POLL" "$POOL" "$NS" \
    "$([ "$VER_LINK" = plain ] && echo 'VER_LINK=plain ')bench/sase-scale/run.sh build \"$NS\" \"$MODES\" $EXTRA"
