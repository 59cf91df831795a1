#!/usr/bin/env bash
# demo.ipsec: `vmesh demo ipsec --json` end to end (issue 17): a request
# from host-b to host-m fails before attestation, works once the routers
# attested each other (real charon in each router namespace), the underlay
# carries only ESP, an epoch change re-keys, the RVP's revocation of the
# branch workload cuts the tunnel within one poll interval and the restore
# brings it back; exactly one JSON object on stdout; afterwards no process
# of the demo, no namespace and no temporary directory is left.
. "$(dirname "$0")/lib.bash"
[ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (network namespaces, charon)"; exit 77; }
[ -x /usr/lib/ipsec/charon ] || { echo "SKIP: strongSwan's charon not installed"; exit 77; }
for t in tcpdump unshare curl python3; do command -v $t >/dev/null || { echo "SKIP: $t missing"; exit 77; }; done
POLL=2
mkdir -p "$T/tmp"
TMPDIR="$T/tmp" "$VMESH" demo ipsec --poll $POLL --json >"$T/demo.json" 2>"$T/demo.err"
rc=$?
[ "$rc" = 0 ] && ok "demo exits 0" || { fail "demo exit $rc"; tail -40 "$T/demo.err"; }
[ "$(wc -l < "$T/demo.json")" = 1 ] && ok "stdout is one line" || fail "stdout has $(wc -l < "$T/demo.json") lines"
python3 - "$T/demo.json" $POLL > "$T/checks.txt" 2>&1 <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); poll = int(sys.argv[2])
def out(ok, what): print(("ok: " if ok else "FAIL: ") + what)
out(d["success"] is True, "success is true")
out(d["demo"] == "ipsec", "demo: ipsec")
out(0 < d["setup_ms"] < 30000, "tunnel up %s ms after starting the branch gateway" % d["setup_ms"])
out(0 <= d["revocation_ms"] <= poll * 1100 + 1000, "revocation cut the tunnel in %s ms (poll %d s)" % (d["revocation_ms"], poll))
out(d["restore_ms"] > 0, "restored after %s ms" % d["restore_ms"])
out(d["esp_packets"] > 0 and d["clear_packets"] == 0, "underlay: %d ESP packets, %d in clear" % (d["esp_packets"], d["clear_packets"]))
names = " | ".join(c["check"] for c in d["checks"])
out(all(c["ok"] for c in d["checks"]) and len(d["checks"]) >= 8, "%d checks ok" % len(d["checks"]))
out("before attestation" in names and "after the revocation" in names and "after the restore" in names,
    "the checks cover before / after attestation, revocation and restore")
PY
while read -r line; do case $line in ok:*) ok "${line#ok: }";; *) fail "${line#FAIL: }";; esac; done < "$T/checks.txt"
grep -q "SUCCESS" "$T/demo.err" && ok "account ends in SUCCESS" || fail "no SUCCESS in the account"
[ -z "$(ls -A "$T/tmp")" ] && ok "temporary directory removed" || fail "left in TMPDIR: $(ls "$T/tmp")"
pid=$(grep -o 'vmdi[0-9]*' "$T/demo.err" | head -1)
[ -n "$pid" ] && ! ip netns list | grep -q "$pid" && ok "namespaces $pid-* removed" || fail "namespaces left: $(ip netns list | grep vmdi)"
! pgrep -f "$T/tmp" >/dev/null && ok "no process of the demo left" || fail "processes left: $(pgrep -af "$T/tmp")"

# --- SIGINT in the middle (tunnel up, charons and gateways running) stops everything
TMPDIR="$T/tmp" "$VMESH" demo ipsec --poll $POLL >"$T/int.out" 2>&1 &
DEMO=$!
for _ in $(seq 300); do grep -q "reaches host-m through the tunnel" "$T/int.out" && break; sleep 0.1; done
grep -q "reaches host-m through the tunnel" "$T/int.out" && ok "second run: tunnel up" || fail "second run did not get the tunnel up"
pid=$(grep -o 'vmdi[0-9]*' "$T/int.out" | head -1)
kill -INT $DEMO; wait $DEMO; rc=$?
[ "$rc" != 0 ] && ok "interrupted demo exits $rc" || fail "interrupted demo exits 0"
[ -n "$pid" ] && ! ip netns list | grep -q "$pid" && ok "after SIGINT: namespaces removed" || fail "after SIGINT: namespaces left"
! pgrep -f "$T/tmp" >/dev/null && ok "after SIGINT: no process left" || fail "after SIGINT: processes left: $(pgrep -af "$T/tmp")"
[ -z "$(ls -A "$T/tmp")" ] && ok "after SIGINT: temporary directory removed" || fail "after SIGINT: left $(ls "$T/tmp")"
finish
