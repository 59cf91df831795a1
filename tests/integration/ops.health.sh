#!/usr/bin/env bash
# Health you can alert on (issue 15.3). A client sidecar follows an RVP
# (`vmesh rvp serve`, polled every second) and a bell rung every second:
# - /metrics of both sidecars passes `promtool check metrics`, and has per
#   RVP polls, failures, up, consecutive failures, last success, manifest
#   expiry, the bell's validity and vmesh_ready;
# - the RVP goes down: vmesh_rvp_up 0, failures counted, ONE log line for
#   the loss (not one per poll), /ready stays 200 (the snapshot is kept);
#   it comes back: vmesh_rvp_up 1, one "recovered" line;
# - the bell stops ringing: once its tick expires /ready says 503 with the
#   cause, vmesh_bell_valid 0, vmesh_ready 0;
# - a sidecar with a wrong RVP key: /ready 503 names the root cause (the
#   manifest's signature), the refusal is counted;
# - the alerting rules (deploy/prometheus) pass `promtool check rules` and
#   their unit tests (`promtool test rules`).
. "$(dirname "$0")/lib.bash"
. "$(dirname "$0")/proxy_lib.bash"
command -v promtool >/dev/null || { echo "SKIP: promtool missing (Debian package prometheus)"; exit 77; }
SRC=${VMESH_SRC:-$(dirname "$0")/../..}

# ---- the rules first (no processes)
promtool check rules "$SRC/deploy/prometheus/vmesh-alerts.yml" >"$T/rules.out" 2>&1 \
    && ok "promtool check rules: $(grep -o '[0-9]* rules found' "$T/rules.out")" || { fail "promtool check rules"; cat "$T/rules.out"; }
promtool test rules "$SRC/tests/data/prometheus/vmesh-alerts.test.yml" >"$T/rtest.out" 2>&1 \
    && ok "promtool test rules: every alert fires on its series, not on healthy ones" || { fail "promtool test rules"; cat "$T/rtest.out"; }

px_setup
px_config server
px_config client
"$VMESH" keygen --type ec-p256 -o rvp.key --pub rvp.pub >/dev/null
"$VMESH" keygen --type ec-p256 -o other.key --pub other.pub >/dev/null
mkdir -p "$T/rvin" "$T/rvweb" "$T/tickweb"
cp "$T/server-rv.json" "$T/rvin/rv.json"
"$VMESH" rvp publish --key rvp.key --in "$T/rvin" --out "$T/rvweb" --name acme >/dev/null || fail "publish"
RVP_PORT=$(free_port)
start_rvp() {
    "$VMESH" rvp serve --root "$T/rvweb" --listen "127.0.0.1:$RVP_PORT" >>"$T/rvp.out" 2>>"$T/rvp.err" &
    RVP_PID=$!; px_pids+=("$RVP_PID")
    wait_port "$RVP_PORT" 30 || { echo "rvp serve did not start"; cat "$T/rvp.err"; exit 1; }
}
start_rvp
# every 3 s, each tick valid 6 s: long enough that a loaded machine does not see
# a gap between ticks while healthy, short enough to watch one expire below
"$VMESH" rvp tick --key bell.key --out "$T/tickweb" --every 3 >"$T/tick.log" 2>&1 &
TICK_PID=$!; px_pids+=("$TICK_PID")
for _ in $(seq 1 100); do [ -s "$T/tickweb/bell.cwt" ] && break; sleep 0.1; done
python3 - "$T/client.yaml" "$RVP_PORT" "$T" <<'PY'
import sys
p, port, t = sys.argv[1:]
s = open(p).read()
s = s.replace("  rv-files: [ %s/server-rv.active.json ]\n" % t,
  "  rvps: [ { name: acme, url: \"http://127.0.0.1:%s\", key: %s/rvp.pub, schemes: [ psa ] } ]\n"
  "  poll-interval: 1s\n  state-dir: %s/client-state\n" % (port, t, t))
s = s.replace("bell: { file: %s/bellweb/bell.cwt" % t, "bell: { file: %s/tickweb/bell.cwt" % t)
open(p, "w").write(s)
PY
grep -q "tickweb" "$T/client.yaml" && grep -q "rvps:" "$T/client.yaml" || fail "config rewrite"
start_app
start_proxy server
start_proxy client
curl -s -o /dev/null "http://127.0.0.1:$OUT_PORT/s1.txt"
# a failed scrape is no value at all (proxy_lib's metric() reads it as 0,
# which would pass a wait for "= 0" by accident)
M() { local m; m=$(curl -sf "http://127.0.0.1:$CADMIN/metrics") || return 0
      awk -v k="$1" '$1 == k { print $2; f=1 } END { if (!f) print 0 }' <<< "$m"; }
until_metric() { # until_metric NAME OP VALUE [TRIES of 0.2 s]
    local i; for ((i = 0; i < ${4:-150}; i++)); do [ "$(M "$1")" "$2" "$3" ] && return 0; sleep 0.2; done; return 1
}

# ---- healthy
for who in client:$CADMIN server:$SADMIN; do
    curl -s "http://127.0.0.1:${who#*:}/metrics" > "$T/${who%%:*}.metrics"
    if promtool check metrics < "$T/${who%%:*}.metrics" > "$T/${who%%:*}.promtool" 2>&1; then
        ok "promtool check metrics: ${who%%:*} sidecar's /metrics"
    else fail "promtool check metrics (${who%%:*})"; head -20 "$T/${who%%:*}.promtool"; fi
done
[ "$(M 'vmesh_rvp_up{rvp="acme"}')" = 1 ] && ok "vmesh_rvp_up{acme} 1" || fail "rvp_up: $(M 'vmesh_rvp_up{rvp="acme"}')"
ls0=$(M 'vmesh_rvp_last_success_timestamp_seconds{rvp="acme"}')
now=$(date +%s)
[ "$ls0" -gt $((now - 120)) ] && [ "$ls0" -le "$((now + 1))" ] && ok "last success is recent ($((now - ls0)) s ago)" || fail "last success $ls0 (now $now)"
e=$(M 'vmesh_rvp_manifest_expiry_seconds{rvp="acme"}')
[ "$e" -gt 0 ] && ok "manifest expiry in $e s" || fail "manifest expiry $e"
until_metric vmesh_bell_valid = 1 && until_metric vmesh_ready = 1 && ok "bell valid, ready" || fail "bell_valid $(M vmesh_bell_valid), ready $(M vmesh_ready)"
grep -q '^vmesh_bell_valid ' "$T/server.metrics" && ok "server reports its bell too" || fail "server lacks vmesh_bell_valid"
grep -q '^vmesh_rvp_up' "$T/server.metrics" && fail "server (rv-files) reports an RVP" || ok "server (rv-files only) reports no RVP"

# ---- the RVP goes down and comes back
kill "$RVP_PID"; wait "$RVP_PID" 2>/dev/null
until_metric 'vmesh_rvp_consecutive_failures{rvp="acme"}' -ge 4 && ok "failures counted while the RVP is down" || fail "consecutive failures: $(M 'vmesh_rvp_consecutive_failures{rvp="acme"}')"
[ "$(M 'vmesh_rvp_up{rvp="acme"}')" = 0 ] && ok "vmesh_rvp_up{acme} 0" || fail "rvp_up while down"
[ "$(M 'vmesh_rvp_poll_failures_total{rvp="acme",kind="unreachable"}')" -ge 4 ] && ok "poll failures: unreachable counted" || fail "unreachable count"
[ "$(M 'vmesh_rvp_last_success_timestamp_seconds{rvp="acme"}')" -lt "$(date +%s)" ] && ok "last success kept" || fail "last success moved while down"
n=$(grep -c 'rvp acme: unreachable or failing' "$T/client.err")
[ "$n" = 1 ] && ok "one log line for the loss over $(M 'vmesh_rvp_consecutive_failures{rvp="acme"}') failed polls" || fail "$n loss lines"
code=$(curl -s -o "$T/ready" -w '%{http_code}' "http://127.0.0.1:$CADMIN/ready")
[ "$code" = 200 ] && ok "/ready 200 with the RVP down (snapshot kept)" || fail "/ready $code: $(cat "$T/ready")"
start_rvp
until_metric 'vmesh_rvp_up{rvp="acme"}' = 1 && ok "vmesh_rvp_up{acme} 1 again" || fail "rvp_up after recovery"
grep -q 'rvp acme: recovered after [0-9]* failed polls' "$T/client.err" && ok "one line says it recovered" || fail "no recovery line"
[ "$(M 'vmesh_rvp_last_success_timestamp_seconds{rvp="acme"}')" -gt "$ls0" ] && ok "last success advanced" || fail "last success"

# ---- the bell stops ringing
kill "$TICK_PID"; wait "$TICK_PID" 2>/dev/null
until_metric vmesh_bell_valid = 0 && ok "vmesh_bell_valid 0 once the tick expired" || fail "bell_valid $(M vmesh_bell_valid)"
code=$(curl -s -o "$T/ready" -w '%{http_code}' "http://127.0.0.1:$CADMIN/ready")
[ "$code" = 503 ] && grep -q 'epoch bell rvp: tick [0-9]* expired [0-9]* s ago' "$T/ready" \
    && ok "/ready 503: $(cat "$T/ready")" || fail "/ready $code: $(cat "$T/ready")"
[ "$(M vmesh_ready)" = 0 ] && ok "vmesh_ready 0" || fail "vmesh_ready"
vf=$(M vmesh_bell_valid_for_seconds)
[ -n "$vf" ] && [ "$vf" -le 0 ] && ok "vmesh_bell_valid_for_seconds not positive ($vf)" || fail "valid_for: '$vf' with vmesh_bell_valid $(M vmesh_bell_valid)"
stop_proxy client

# ---- a wrong RVP key (and no bell yet): /ready names the root cause
WADMIN=$(free_port); WOUT=$(free_port)
sed -e "s#key: $T/rvp.pub#key: $T/other.pub#" -e "s#client-state#wrong-state#" -e "s#127.0.0.1:$CADMIN#127.0.0.1:$WADMIN#" \
    -e "s#127.0.0.1:$OUT_PORT#127.0.0.1:$WOUT#" -e "s#tickweb/bell.cwt#nowhere/bell.cwt#" -e "s#client-access.log#wrong-access.log#" \
    "$T/client.yaml" > "$T/wrong.yaml"
"$VMESH" proxy -c "$T/wrong.yaml" >"$T/wrong.out" 2>"$T/wrong.err" &
WPID=$!; px_pids+=("$WPID")
for _ in $(seq 1 150); do
    curl -s -o "$T/ready" "http://127.0.0.1:$WADMIN/ready" 2>/dev/null && grep -q 'manifest' "$T/ready" && break; sleep 0.2
done
code=$(curl -s -o "$T/ready" -w '%{http_code}' "http://127.0.0.1:$WADMIN/ready")
[ "$code" = 503 ] && grep -q '^no reference-value snapshot yet; rvp acme: manifest refused: .*signature' "$T/ready" \
    && ok "/ready 503 names the cause: $(cut -c1-150 "$T/ready")" || fail "/ready $code: $(cat "$T/ready")"
[ "$(metric "$WADMIN" 'vmesh_rvp_poll_failures_total{rvp="acme",kind="refused"}')" -ge 1 ] && ok "refused manifest counted" || fail "refused count"
[ "$(metric "$WADMIN" vmesh_bell_valid)" = 0 ] && ok "no bell yet: vmesh_bell_valid 0" || fail "bell_valid without a bell"
curl -s "http://127.0.0.1:$WADMIN/metrics" | promtool check metrics >/dev/null 2>&1 && ok "promtool check metrics: the failing sidecar" || fail "promtool (failing sidecar)"
kill -TERM "$WPID"; rc=0; wait "$WPID" || rc=$?
[ "$rc" = 0 ] && ok "failing sidecar exits 0 at SIGTERM" || fail "failing sidecar exit $rc"
grep -qE "Sanitizer|runtime error" "$T/wrong.err" && fail "sanitizer report" || ok "no sanitizer report"
stop_proxy server
finish
