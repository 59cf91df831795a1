#!/usr/bin/env bash
# sd_notify (issue 15.6): a NOTIFY_SOCKET listener as systemd binds it (a
# Unix datagram socket: a path, then an abstract @name) receives from
# `vmesh proxy` READY=1 (sent by the sidecar's own pid, and its listener
# accepts a connection at that moment), WATCHDOG=1 pings when WATCHDOG_USEC
# asks, RELOADING=1 with MONOTONIC_USEC and then READY=1 at SIGHUP,
# STOPPING=1 at SIGTERM; `vmesh verifier serve` and `vmesh rvp serve` send
# READY=1 once they listen and STOPPING=1. Without NOTIFY_SOCKET nothing
# changes. Runs in its own network namespace (the fixed ports of vmesh init).
if [ -z "${VMESH_IN_NETNS:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "SKIP: needs root (a network namespace)"; exit 77; }
    command -v unshare >/dev/null || { echo "SKIP: unshare missing"; exit 77; }
    exec env VMESH_IN_NETNS=1 unshare -n bash "$0" "$@"
fi
ip link set lo up
. "$(dirname "$0")/lib.bash"
HELP=$(cd "$(dirname "$0")/helpers" && pwd)
cd "$T"
"$VMESH" init mesh >/dev/null || { fail "vmesh init"; finish; }
"$VMESH" keygen --type ec-p256 -o ear.pem --pub ear.pub >/dev/null

listen() { # listen SOCKET LOG: starts the listener, waits until it is bound
    python3 "$HELP/notify_listen.py" "$1" >"$2" 2>"$2.err" &
    LPID=$!
    cleanup_hooks+=("kill $LPID 2>/dev/null")
    for _ in $(seq 600); do grep -q '"listening"' "$2" && return 0; sleep 0.1; done
    fail "notify listener on $1 did not start: $(cat "$2.err")"
}
# until_msg LOG KEY[=VALUE] [N]: until the N-th (default 1) message with KEY (=VALUE) arrived (60 s at most)
until_msg() {
    local n=${3:-1}
    for _ in $(seq 600); do
        [ "$(python3 - "$1" "$2" <<'PY'
import json, sys
k, _, v = sys.argv[2].partition("=")
n = 0
for l in open(sys.argv[1]):
    st = json.loads(l).get("state", {})
    if k in st and (not v or st[k] == v):
        n += 1
print(n)
PY
)" -ge "$n" ] && return 0
        sleep 0.1
    done
    return 1
}

# ---- the proxy, path socket, watchdog on
listen "$T/notify.sock" n1.log
NOTIFY_SOCKET=$T/notify.sock WATCHDOG_USEC=400000 "$VMESH" proxy -c mesh/service.yaml 2>proxy.err &
PPID_=$!
cleanup_hooks+=("kill $PPID_ 2>/dev/null")
if until_msg n1.log READY=1; then
    # the very moment READY=1 is read, the listener must accept
    python3 -c 'import socket; socket.create_connection(("127.0.0.1", 8443), 5).close()' &&
        ok "READY=1 received and the inbound listener accepts" || fail "READY=1 but 127.0.0.1:8443 refuses"
else fail "no READY=1 from the proxy"; tail -5 proxy.err; fi
python3 - n1.log "$PPID_" >chk.txt <<'PY'
import json, sys
msgs = [json.loads(l) for l in open(sys.argv[1]) if '"state"' in l]
first = msgs[0]["state"] if msgs else {}
print("ok" if first.get("READY") == "1" and "serving 1 inbound" in first.get("STATUS", "") else "bad", json.dumps(first))
print("ok" if msgs and all(m["pid"] == int(sys.argv[2]) for m in msgs) else "bad", "senders", {m["pid"] for m in msgs})
PY
while read -r verdict rest; do [ "$verdict" = ok ] && ok "proxy first message / sender: $rest" || fail "proxy: $rest"; done <chk.txt
until_msg n1.log WATCHDOG=1 2 && ok "WATCHDOG=1 pings with WATCHDOG_USEC=400000" || fail "no WATCHDOG=1 pings"
kill -HUP "$PPID_"
if until_msg n1.log RELOADING=1 && until_msg n1.log READY=1 2; then
    python3 - n1.log >chk.txt <<'PY'
import json, sys
msgs = [json.loads(l)["state"] for l in open(sys.argv[1]) if '"state"' in l]
i = next(i for i, m in enumerate(msgs) if "RELOADING" in m)
after = [m for m in msgs[i + 1:] if "READY" in m]
ok = msgs[i].get("MONOTONIC_USEC", "").isdigit() and after and "reloaded" in after[0].get("STATUS", "")
print("ok" if ok else "bad", json.dumps(msgs[i]), json.dumps(after[0] if after else {}))
PY
    read -r verdict rest <chk.txt; [ "$verdict" = ok ] && ok "SIGHUP: RELOADING=1 then READY=1: $rest" || fail "reload messages: $rest"
else fail "no RELOADING=1 / READY=1 after SIGHUP"; fi
kill -TERM "$PPID_"; rc=0; wait "$PPID_" || rc=$?
[ "$rc" = 0 ] && ok "proxy exits 0 after the drain" || fail "proxy exit $rc"
until_msg n1.log STOPPING=1 && ok "STOPPING=1 at SIGTERM" || fail "no STOPPING=1"
grep -q 'drained, exiting' proxy.err && ok "drained" || fail "no drain line"

# ---- the verifier, abstract socket
ABS=@vmesh-notify-test-$$
listen "$ABS" n2.log
NOTIFY_SOCKET=$ABS "$VMESH" verifier serve --key ear.pem --listen 127.0.0.1:8700 --rv mesh/rv/service.json 2>verifier.err &
VPID=$!
cleanup_hooks+=("kill $VPID 2>/dev/null")
if until_msg n2.log READY=1; then
    [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8700/.well-known/veraison/verification)" = 200 ] &&
        ok "verifier: READY=1 (abstract socket) and it answers" || fail "verifier READY=1 but no answer"
else fail "no READY=1 from the verifier"; tail -3 verifier.err; fi
kill -TERM "$VPID"; wait "$VPID"
until_msg n2.log STOPPING=1 && ok "verifier: STOPPING=1" || fail "verifier: no STOPPING=1"

# ---- the RVP server
listen "$T/n3.sock" n3.log
NOTIFY_SOCKET=$T/n3.sock "$VMESH" rvp serve --root mesh/rvp --listen 127.0.0.1:8600 >rvp.out 2>rvp.err &
RPID=$!
cleanup_hooks+=("kill $RPID 2>/dev/null")
if until_msg n3.log READY=1; then
    [ "$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8600/manifest.jws)" = 200 ] &&
        ok "rvp serve: READY=1 and it serves the manifest" || fail "rvp serve READY=1 but no manifest"
else fail "no READY=1 from rvp serve"; tail -3 rvp.err; fi
kill -TERM "$RPID"; wait "$RPID"
until_msg n3.log STOPPING=1 && ok "rvp serve: STOPPING=1" || fail "rvp serve: no STOPPING=1"

# ---- a NOTIFY_SOCKET nobody listens on: the proxy serves anyway, one warning
NOTIFY_SOCKET=$T/nobody.sock "$VMESH" proxy -c mesh/service.yaml 2>p2.err &
P2=$!
cleanup_hooks+=("kill $P2 2>/dev/null")
for _ in $(seq 600); do grep -q 'serving 1 inbound' p2.err && break; sleep 0.1; done
grep -q 'serving 1 inbound' p2.err && ok "a dead NOTIFY_SOCKET does not stop the proxy" || fail "proxy did not serve"
kill -TERM "$P2"; wait "$P2"
[ "$(grep -c 'notifying the service manager' p2.err)" = 1 ] && ok "one warning for the dead socket" || fail "warnings: $(grep -c 'notifying the service manager' p2.err)"
grep -qE "LeakSanitizer|AddressSanitizer|runtime error" proxy.err p2.err verifier.err rvp.err && fail "sanitizer report" || ok "no sanitizer report"
finish
