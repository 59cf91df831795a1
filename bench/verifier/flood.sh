#!/usr/bin/env bash
# bench/verifier/flood.sh: a central-mode PoP while its verifier is silent or
# flooded (issue 12, "Must show"). Real processes on 127.0.0.0/8:
#   two replicas of `vmesh verifier serve` (V1, V2; default limits: 1,024
#   connections, 64 per client address, 10 s request deadline);
#   the PoP: `vmesh proxy` inbound in front of a TCP echo app, appraising its
#   peers at the verifier (verifier.central: url V1, replicas [V2], cache 1s);
#   a client sidecar (`vmesh proxy` outbound) attesting in `fresh` mode, so
#   that every new connection through it is one verification at the verifier.
# Load during every phase: PROBES established connections through both
# sidecars, each echoing a line every 50 ms (latency of every echo kept), and
# one legitimate client opening new connections one after another (each a new
# attested handshake: one verification; its latency is connect -> first echo).
# Phases (PHASE_S seconds each; env PHASES picks some):
#   baseline     nothing wrong
#   slow-one     V1 SIGSTOPped: accepts (the kernel completes the TCP
#                handshake) and never answers; the PoP fails over to V2
#   slow-all     V1 and V2 SIGSTOPped: new peers fail closed
#   flood        at each replica, 1,100 idle sockets from 55 addresses and
#                1,100 slow-header sockets (a request line, then a header
#                byte a second) from 55 other addresses, both reopened as the
#                verifier closes them (tests/integration/helpers/verifier_attack.py)
#   after        nothing wrong again
#   reappraise-silent  V1 and V2 SIGSTOPped, then the PoP reloaded (SIGHUP),
#                which re-appraises every open connection (bench only)
# Prints per phase: echo p50/p99/max and failures, legitimate verifications
# completed and their latency, each verifier's RSS (start/peak/end, sampled
# every 0.5 s); JSON lines in $OUT (default: bench/verifier/flood-results.json);
# env FLOOD_LOGS=DIR keeps every sample and log.
# Usage: bench/verifier/flood.sh BUILD_DIR [PHASE_S]
#   env FLOOD_CHECK=1: also judges the functional properties with ok/fail
#   (tests/integration/verifier.flood.sh; no timing threshold).
set -u
if [ -n "${1:-}" ]; then VMESH_BIN=$(cd "$1" && pwd)/src/cli/vmesh; export VMESH_BIN; fi
[ -x "${VMESH_BIN:-}" ] || { echo "bench/verifier/flood.sh: build first (usage: flood.sh BUILD_DIR)" >&2; exit 1; }
PHASE_S=${2:-${PHASE_S:-20}}
PROBES=${PROBES:-4}
PHASES=${PHASES:-baseline slow-one slow-all flood after reappraise-silent}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
INTEG=$ROOT/tests/integration
OUT=${OUT:-$HERE/flood-results.json}
CHECK=${FLOOD_CHECK:-0}
. "$INTEG/lib.bash"
. "$INTEG/proxy_lib.bash"
ATTACK="python3 $INTEG/helpers/verifier_attack.py"
PROBE="python3 $HERE/flood_probe.py"
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
px_setup

# ---- the verifier replicas (default limits, as deployed)
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null || { echo "keygen failed"; exit 1; }
start_v() { # start_v NAME -> PORT_NAME, PID_NAME
    "$VMESH" verifier serve --key "$T/ear.pem" --listen 127.0.0.1:0 --rv "$T/client-rv.json" --threads 2 \
        ${VER_ARGS:-} >"$T/$1.out" 2>"$T/$1.log" &
    local pid=$! port="" i
    px_pids+=("$pid")
    for i in $(seq 1 300); do
        port=$(sed -n 's/.*listening on .* (port \([0-9]*\)).*/\1/p' "$T/$1.log")
        [ -n "$port" ] && break; sleep 0.1
    done
    [ -n "$port" ] || { echo "verifier $1 did not start"; cat "$T/$1.log"; exit 1; }
    eval "PORT_$1=$port PID_$1=$pid"
    cleanup_hooks+=("kill -CONT $pid 2>/dev/null")   # never leave one stopped
}
start_v V1
start_v V2

# ---- the PoP (central mode, both replicas) and the client sidecar (fresh evidence)
px_config server
sed -i "s|^verifier:|verifier:\n  central: { url: \"http://127.0.0.1:$PORT_V1\", replicas: [ \"http://127.0.0.1:$PORT_V2\" ], key: $T/ear.pub, cache: 1s, insecure-plain-http: true }|" "$T/server.yaml"
px_config client
sed -i 's|^  platform: psa$|  platform: psa\n  modes: [ fresh ]|' "$T/client.yaml"
start_echo_app
start_proxy server
start_proxy client

rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$1/status" 2>/dev/null || echo 0; }
( while :; do echo "$(date +%s.%N) $(rss "$PID_V1") $(rss "$PID_V2")"; sleep 0.5; done ) >"$T/rss.txt" 2>/dev/null &
SAMPLER=$!; px_pids+=("$SAMPLER")

mkdir -p "$T/logs"
for i in $(seq 1 "$PROBES"); do
    $PROBE probe "$OUT_PORT" "$T/stop" "$T/logs/probe-$i.log" & px_pids+=($!)
done
$PROBE legit "$OUT_PORT" "$T/stop" "$T/logs/legit.log" 0.2 & px_pids+=($!)
for _ in $(seq 1 300); do
    [ "$(cat "$T"/logs/probe-*.log 2>/dev/null | grep -vc FAIL)" -ge $((PROBES * 3)) ] && break; sleep 0.1
done
echo "bench/verifier/flood.sh: V1 pid $PID_V1 port $PORT_V1, V2 pid $PID_V2 port $PORT_V2, PoP pid $SERVER_PID;" \
     "$PROBES echo probes, phases of $PHASE_S s: $PHASES; load average $(cut -d' ' -f1-3 /proc/loadavg)"

window() { # window NAME: one phase of PHASE_S seconds from now
    local t0; t0=$(date +%s.%N); sleep "$PHASE_S"; echo "$1 $t0 $(date +%s.%N)" >>"$T/phases"
}
addrs() { seq -s, -f "127.0.$1.%g" 1 55; }
for ph in $PHASES; do
    case $ph in
        baseline|after) window "$ph" ;;
        slow-one) kill -STOP "$PID_V1"; window "$ph"; kill -CONT "$PID_V1"; sleep 2 ;;
        slow-all) kill -STOP "$PID_V1" "$PID_V2"; window "$ph"; kill -CONT "$PID_V1" "$PID_V2"; sleep 3 ;;
        flood)
            apids=()
            for v in V1 V2; do
                eval "port=\$PORT_$v"
                $ATTACK hold --port "$port" --src "$(addrs 1)" --n 20 --reopen --max-seconds "$PHASE_S" >"$T/idle-$v.json" &
                apids+=($!)
                $ATTACK hold --port "$port" --src "$(addrs 2)" --n 20 --trickle --reopen --max-seconds "$PHASE_S" \
                    >"$T/slowhdr-$v.json" & apids+=($!)
            done
            px_pids+=("${apids[@]}")
            window "$ph"
            wait "${apids[@]}"
            sleep 3 ;;
        reappraise-silent)
            kill -STOP "$PID_V1" "$PID_V2"; sleep 1.5   # the AR cache (1 s) has expired
            kill -HUP "$SERVER_PID"; window "$ph"; kill -CONT "$PID_V1" "$PID_V2"; sleep 3 ;;
        *) echo "unknown phase $ph"; exit 2 ;;
    esac
done
touch "$T/stop"
sleep 1
$PROBE stats "$T/phases" "$T/logs" "$T/rss.txt" >"$T/stats.jsonl" || { echo "stats failed"; exit 1; }
cp "$T/stats.jsonl" "$OUT"
if [ -n "${FLOOD_LOGS:-}" ]; then   # env FLOOD_LOGS=DIR: every echo and attempt, the RSS samples, the logs
    mkdir -p "$FLOOD_LOGS"; cp -r "$T/logs" "$T/phases" "$T/rss.txt" "$T"/*.log "$T"/*.err "$T"/*.json "$FLOOD_LOGS/" 2>/dev/null
fi
for v in V1 V2; do
    eval "port=\$PORT_$v"
    for a in idle slowhdr; do
        [ -s "$T/$a-$v.json" ] && python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); c=d.pop("closed_later")
print("  %s flood at %s: opened %d, refused at connect %d, closed at accept %d, closed later %d (median %s s), still open %d; attacker CPU %s s"
      % (sys.argv[2], sys.argv[3], d["opened"], d["refused"], d["closed_at_accept"], len(c), c[len(c)//2] if c else "-", d["still_open"], d.get("cpu_s")))' \
            "$T/$a-$v.json" "$a" "$v"
    done
    curl -s "http://127.0.0.1:$port/metrics" | grep -E '^vmesh_verifier_refused_total' | tr '\n' ' ' | sed "s/^/  $v: /; s/vmesh_verifier_refused_total//g"; echo
done
echo "  PoP: $(curl -s "http://127.0.0.1:$SADMIN/metrics" | grep -E '^vmesh_(connections_total\{direction="inbound"|reappraisal)' | tr '\n' ' ')"
python3 - "$T/stats.jsonl" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def f(x): return "-" if x is None else str(x)
print("| phase | echoes | failed (longest wait ms) | p50 ms | p99 ms | max ms | > 50 ms | legit ok / attempts (ok within the phase) | legit p50 ms | legit max ms | V1 RSS kB start/peak/end | V2 RSS kB start/peak/end |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|")
for r in rows:
    e, l = r["echo"], r["legit"]
    rs = ["%s/%s/%s" % (f(v["start_kB"]), f(v["peak_kB"]), f(v["end_kB"])) for v in r["verifier_rss"]]
    print("| %s | %d | %d%s | %s | %s | %s | %d | %d / %d (%d) | %s | %s | %s |" % (r["phase"], e["n"], e["failed"],
          " (%s)" % e["failed_after_ms_max"] if e["failed"] else "", f(e["p50_ms"]),
          f(e["p99_ms"]), f(e["max_ms"]), e["over_50ms"], l["ok"], l["attempts"], l["ok_within_phase"], f(l["p50_ms"]),
          f(l["max_ms"]), " | ".join(rs)))
for r in rows:
    if r["echo"]["first_failure"] or r["legit"]["first_failure"]:
        print("  %s: first echo failure: %s; first legitimate failure: %s" % (r["phase"], r["echo"]["first_failure"], r["legit"]["first_failure"]))
PY
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"

if [ "$CHECK" = 1 ]; then
    while read -r line; do
        read -r ph n failed lok latt rssgrow linside < <(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); e=r["echo"]; l=r["legit"]
g=max([(v["peak_kB"] or 0)-(v["start_kB"] or 0) for v in r["verifier_rss"]] or [0])
print(r["phase"], e["n"], e["failed"], l["ok"], l["attempts"], g, l["ok_within_phase"])' "$line")
        case $ph in
            baseline|slow-one|slow-all|flood|after)
                [ "$n" -ge 1 ] && [ "$failed" = 0 ] && ok "$ph: $n echoes over the established connections, none failed" \
                    || fail "$ph: $failed of $n echoes failed" ;;
        esac
        case $ph in
            baseline|slow-one|flood|after)
                [ "$lok" -ge 1 ] && ok "$ph: $lok of $latt legitimate verifications (new attested connections) completed" \
                    || fail "$ph: no legitimate verification completed ($latt attempts)" ;;
            slow-all)
                [ "$linside" = 0 ] && ok "slow-all: no new peer admitted while no replica answered ($latt attempts; $lok admitted once the replicas resumed)" \
                    || fail "slow-all: $linside new peers admitted while no replica answered" ;;
        esac
        [ "$ph" = flood ] && { [ "$rssgrow" -le 262144 ] && ok "flood: verifier RSS grew by $rssgrow kB at most (bound 256 MiB)" \
            || fail "flood: verifier RSS grew by $rssgrow kB"; }
    done <"$T/stats.jsonl"
    for v in V1 V2; do kill -0 "$(eval echo "\$PID_$v")" && ok "verifier $v still runs" || fail "verifier $v died"; done
    stop_proxy client
    stop_proxy server
    finish
fi
exit 0
