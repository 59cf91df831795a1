#!/usr/bin/env bash
# The dashboards of a running demo in a real browser (issue 16, docs/DASHBOARD.md):
# `vmesh demo sase --clients 2 --keep` runs the whole SASE scenario (RVP,
# central verifier, PoP sidecar, two client sidecars, `vmesh dashboard`) and
# stays up; Debian's chromium, headless, driven over the DevTools protocol
# (tests/integration/cdp.py), loads the PoP's node page and the mesh page.
# A connection is held open through client c001. Then the demo is asked to
# revoke (SIGUSR1: its RVP publishes an epoch whose reference values no longer
# approve the PoP's workload, as `vmesh rvp publish` would). The mesh page's
# first draw that fetched after /mesh/state carried the clients' re-appraisal
# shows the held connection's edge revoked; the time from the signal is
# printed next to the demo's poll interval (not judged: no timing thresholds
# here). No console error on either page. SIGTERM stops the demo, which
# must exit 0 with nothing left running. Screenshots go to $VMESH_ARTIFACTS.
. "$(dirname "$0")/lib.bash"
command -v chromium >/dev/null || { echo "SKIP: chromium not installed (apt-get install chromium)"; exit 77; }
ART=${VMESH_ARTIFACTS:-$PWD/test-artifacts}/dashboard.demo
mkdir -p "$ART" || { echo "cannot make $ART"; exit 1; }
cd "$T"
"$VMESH" demo sase --clients 2 --requests 1 --keep >demo.out 2>demo.err &
DEMO=$!
# the demo removes its own processes at SIGTERM; its kept directory is ours to remove
cleanup_hooks+=("kill -TERM $DEMO 2>/dev/null; wait $DEMO 2>/dev/null; d=\$(awk '/^kept: /{print \$2}' $T/demo.out); case \$d in /tmp/vmesh-demo.*) rm -rf \"\$d\";; esac")
for _ in $(seq 600); do grep -q '^== Left up' demo.out && break; kill -0 $DEMO 2>/dev/null || break; sleep 0.5; done
grep -q '^== Left up' demo.out && ok "demo sase --keep is up (scenario done, left up)" \
    || { fail "demo did not reach --keep: $(tail -5 demo.out; tail -5 demo.err)"; finish; }
grep -q '\[FAIL\]' demo.out && fail "the demo itself failed a check: $(grep '\[FAIL\]' demo.out)"
MESH=$(grep -o 'mesh http://127.0.0.1:[0-9]*/' demo.out | head -1 | cut -d' ' -f2)
POPNODE=$(grep -o 'PoP node http://[0-9.]*:[0-9]*/' demo.out | head -1 | cut -d' ' -f3)
OUT1=$(grep -o 'c001 outbound http://127.0.0.1:[0-9]*/' demo.out | head -1 | cut -d' ' -f3)
[ -n "$MESH" ] && [ -n "$POPNODE" ] && [ -n "$OUT1" ] && ok "the demo prints the mesh page $MESH, the PoP's node page $POPNODE, c001's outbound $OUT1" \
    || { fail "URLs not printed: $(grep -A4 '^== Left up' demo.out)"; finish; }
# hold one connection open through c001's sidecar to the PoP
python3 - "${OUT1#http://}" "$T/hold" <<'PY' &
import socket, sys
host, port = sys.argv[1].rstrip("/").split(":")
s = socket.create_connection((host, int(port)))
open(sys.argv[2], "w").write("open\n")
s.settimeout(300)
try: s.recv(100)
except Exception: pass
PY
HOLD=$!
cleanup_hooks+=("kill $HOLD 2>/dev/null")
for _ in $(seq 100); do [ -s hold ] && break; sleep 0.1; done

PYTHONPATH="$(dirname "$0")" python3 - "$T" "$ART" "$MESH" "$POPNODE" "$DEMO" <<'PY'
import json, os, signal, sys, time, urllib.request
from cdp import Browser
T, ART, MESH, POPNODE, DEMO = sys.argv[1:]
POP = "spiffe://sase.example/pop/tenant-web"
C1 = "spiffe://sase.example/clients/c001"
fails = 0
def ok(m): print("ok: " + m)
def fail(m):
    global fails; fails += 1; print("FAIL: " + m)
def check(c, m): ok(m) if c else fail(m)

b = Browser(T)
try:
    # ---- the PoP's node page: the held connection from c001, affirming
    b.open(POPNODE)
    row = 'document.querySelector(\'#open-peers tbody tr[data-peer="%s"][data-tier="affirming"]\')' % C1
    check(b.wait(row + " !== null", 60), "PoP node page: c001's open connection, tier affirming")
    check(b.eval("document.getElementById('self-id').textContent") == POP, "PoP node page: names the PoP")
    b.screenshot(os.path.join(ART, "demo-pop-node.png"))
    b.drain()
    errs = b.errors()
    check(errs == [], "PoP node page: no console error" + ("" if not errs else ": %s" % errs))

    # ---- the mesh page: the demo's nodes, c001 -> PoP open and affirming
    b.events.clear()
    b.open(MESH)
    edge = 'document.querySelector(\'#mesh-svg line.edge[data-a="%s"][data-b="%s"]\')' % (C1, POP)
    check(b.wait(edge + " !== null && " + edge + ".dataset.state === 'open' && " + edge + ".dataset.tier === 'affirming'", 60),
          "mesh page: c001 -> PoP is an open affirming edge")
    n = b.eval("document.querySelectorAll('#mesh-svg g.node:not(.external)').length")
    check(n == 3, "mesh page: the PoP and two clients drawn (%s)" % n)
    b.screenshot(os.path.join(ART, "demo-mesh-before.png"))

    # ---- the demo revokes the PoP's workload at its RVP
    t0 = time.time()
    os.kill(int(DEMO), signal.SIGUSR1)
    t_state = None
    for _ in range(1200):
        with urllib.request.urlopen(MESH + "mesh/state", timeout=5) as r:
            m = json.load(r)
        if any(p["result"] == "reappraisal" and p["peer"] == POP
               for nd in m["nodes"] if nd["state"] for p in nd["state"]["recent"]):
            t_state = time.time()
            break
        time.sleep(0.05)
    check(t_state is not None, "/mesh/state carries c001's re-appraisal of the PoP")
    if t_state:
        d0 = int(b.eval("document.body.dataset.draws"))
        check(b.wait("Number(document.body.dataset.draws) >= %d" % (d0 + 2), 30), "the mesh page drew twice more")
        state = b.eval(edge + ".dataset.state")
        t_page = time.time()
        check(state == "revoked", "mesh page: c001 -> PoP is revoked at the first draw that fetched after the revocation (state %s)" % state)
        print("timing: SIGUSR1 -> re-appraisal in /mesh/state %.0f ms -> page %.0f ms later (demo poll interval 2 s, dashboard 1 s, page 500 ms)"
              % ((t_state - t0) * 1000, (t_page - t_state) * 1000))
    b.screenshot(os.path.join(ART, "demo-mesh-revoked.png"))
    b.drain()
    errs = b.errors()
    check(errs == [], "mesh page: no console error" + ("" if not errs else ": %s" % errs))
finally:
    b.close()
sys.exit(1 if fails else 0)
PY
[ $? = 0 ] && ok "browser checks passed" || fail "browser checks"
for _ in $(seq 600); do grep -q 'the PoP .* after the publication; then\|NOT every client refuses' demo.out && break; sleep 0.5; done
grep -q 'every client refuses the PoP .* after the publication; then 2/2 refused' demo.out \
    && ok "demo: $(grep -o 'every client refuses the PoP [0-9]* ms after the publication; then 2/2 refused' demo.out | tail -1)" \
    || fail "demo's revocation: $(sed -n '/(--keep) Revocation/,$p' demo.out | head -3)"
ls "$ART"/demo-*.png >/dev/null 2>&1 && ok "screenshots in $ART" || fail "no screenshots"
kill $HOLD 2>/dev/null
kill -TERM $DEMO; wait $DEMO; rc=$?
[ $rc = 0 ] && ok "demo exits 0 at SIGTERM" || fail "demo exit $rc: $(tail -5 demo.out)"
grep -q '\[ ok \] no process left running' demo.out && ok "the demo left no process running" || fail "leftovers: $(tail -5 demo.out)"
finish
