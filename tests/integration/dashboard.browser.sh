#!/usr/bin/env bash
# The dashboards in a real browser (docs/DASHBOARD.md): Debian's chromium,
# headless, driven over the DevTools protocol by tests/integration/cdp.py
# (python3 stdlib only). Two sidecars with an open attested connection and
# `vmesh dashboard` over their admin endpoints. The node page must list the
# peer with its tier and claims; the mesh page must draw the two nodes and
# the open connection as an affirming edge. Then the server's workload is
# revoked (its measurement leaves the client's reference values, SIGHUP):
# the mesh page's first draw that fetched after /mesh/state carried the
# re-appraisal shows the edge revoked (the wall times are printed, not
# judged). No console error, no exception, no failed load on either page;
# a fetch to another origin is refused by the CSP. Screenshots go to
# $VMESH_ARTIFACTS (default: ./test-artifacts/dashboard.browser).
. "$(dirname "$0")/lib.bash"
command -v chromium >/dev/null || { echo "SKIP: chromium not installed (apt-get install chromium)"; exit 77; }
. "$(dirname "$0")/proxy_lib.bash"
ART=${VMESH_ARTIFACTS:-$PWD/test-artifacts}/dashboard.browser
mkdir -p "$ART" || { echo "cannot make $ART"; exit 1; }
px_setup
px_config server
px_config client
px_rv_json server "$(printf 'some other workload' | sha256sum | cut -d' ' -f1)" > "$T/server-rv.revoked.json"
start_app
start_proxy server
start_proxy client
"$VMESH" dashboard --node "127.0.0.1:$SADMIN" --node "127.0.0.1:$CADMIN" --listen 127.0.0.1:0 \
    --poll 500ms >"$T/dash.out" 2>"$T/dash.err" &
DPID=$!; px_pids+=("$DPID")
for ((i = 0; i < 100; i++)); do grep -q '^listening on' "$T/dash.out" && break; sleep 0.1; done
DPORT=$(awk '/^listening on/ {print $3}' "$T/dash.out")
[ -n "$DPORT" ] || { fail "dashboard did not start: $(cat "$T/dash.err")"; finish; }
python3 - "$OUT_PORT" "$T/hold" <<'PY' &
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
open(sys.argv[2], "w").write("open\n")
s.settimeout(120)
try: s.recv(100)
except Exception: pass
PY
px_pids+=($!)

PYTHONPATH="$(dirname "$0")" python3 - "$T" "$ART" "$CADMIN" "$DPORT" "$CLIENT_PID" "$SADMIN" <<'PY'
import json, os, shutil, signal, sys, time, urllib.request
from cdp import Browser, CdpError
T, ART, CADMIN, DPORT, CLIENT_PID, SADMIN = sys.argv[1:]
SERVER = "spiffe://example.org/ns/shop/sa/server"
CLIENT = "spiffe://example.org/ns/shop/sa/client"
fails = 0
def ok(m): print("ok: " + m)
def fail(m):
    global fails; fails += 1; print("FAIL: " + m)
def check(c, m): ok(m) if c else fail(m)

b = Browser(T)
try:
    # ---- the node page of the client sidecar
    b.open("http://127.0.0.1:%s/" % CADMIN)
    row = 'document.querySelector(\'#open-peers tbody tr[data-peer="%s"][data-tier="affirming"][data-state="proxy"]\')' % SERVER
    check(b.wait(row + " !== null", 30), "node page: the open connection to the server, tier affirming")
    check(b.eval("document.getElementById('self-id').textContent") == CLIENT, "node page: names this node")
    claims = b.eval(row + ".querySelectorAll('.claims .badge').length") or 0
    check(claims > 0, "node page: trust-vector claims by name (%d)" % claims)
    check(b.eval("document.querySelector('#bell .badge').textContent") == "fresh", "node page: bell fresh")
    b.screenshot(os.path.join(ART, "node-page.png"))
    b.drain()
    node_errors = b.errors()
    check(node_errors == [], "node page: no console error" + ("" if not node_errors else ": %s" % node_errors))

    # ---- the mesh page
    b.events.clear()
    b.open("http://127.0.0.1:%s/" % DPORT)
    edge = 'document.querySelector(\'#mesh-svg line.edge[data-a="%s"][data-b="%s"]\')' % (CLIENT, SERVER)
    check(b.wait(edge + " !== null && " + edge + ".dataset.state === 'open' && " + edge + ".dataset.tier === 'affirming'", 30),
          "mesh page: the attested connection is an open affirming edge")
    n = b.eval("document.querySelectorAll('#mesh-svg g.node:not(.external)').length")
    check(n == 2, "mesh page: two nodes drawn (%s)" % n)
    check(b.eval("document.querySelectorAll('#nodes tbody tr[data-ok=\"true\"]').length") == 2, "mesh page: both nodes answer")
    b.screenshot(os.path.join(ART, "mesh-before.png"))

    # ---- revoke the server's workload at the client
    shutil.copy(os.path.join(T, "server-rv.revoked.json"), os.path.join(T, "server-rv.active.json"))
    t0 = time.time()
    os.kill(int(CLIENT_PID), signal.SIGHUP)
    t_state = None
    for _ in range(600):
        with urllib.request.urlopen("http://127.0.0.1:%s/mesh/state" % DPORT, timeout=5) as r:
            m = json.load(r)
        if any(p["result"] == "reappraisal" and p["peer"] == SERVER
               for nd in m["nodes"] if nd["state"] for p in nd["state"]["recent"]):
            t_state = time.time()
            break
        time.sleep(0.05)
    check(t_state is not None, "/mesh/state carries the client's re-appraisal")
    if t_state:
        d0 = int(b.eval("document.body.dataset.draws"))
        # Draw d0+1 may have fetched before; draw d0+2 fetched after /mesh/state had it.
        check(b.wait("Number(document.body.dataset.draws) >= %d" % (d0 + 2), 30), "the mesh page drew twice more")
        state = b.eval(edge + ".dataset.state")
        t_page = time.time()
        check(state == "revoked", "mesh page: the edge is revoked at the first draw that fetched after the revocation (state %s)" % state)
        print("timing: re-appraisal in /mesh/state %.0f ms after SIGHUP; page showed it %.0f ms later (page and dashboard poll 500 ms)"
              % ((t_state - t0) * 1000, (t_page - t_state) * 1000))
        check(b.eval("document.querySelector('#mesh-svg text.edge-label') && document.querySelector('#mesh-svg text.edge-label').textContent") == "revoked",
              "mesh page: the edge is labelled revoked")
    b.screenshot(os.path.join(ART, "mesh-revoked.png"))
    b.drain()
    mesh_errors = b.errors()
    check(mesh_errors == [], "mesh page: no console error" + ("" if not mesh_errors else ": %s" % mesh_errors))

    # ---- JavaScript's network access is limited to the page's origin
    b.events.clear()
    r = b.eval("fetch('http://127.0.0.1:%s/peers').then(() => 'fetched', (e) => 'refused: ' + e)" % CADMIN)
    check(str(r).startswith("refused"), "a fetch to another origin (a node's admin endpoint) is refused: %s" % r)
    b.drain()
    csp = [e for e in b.errors() if "Content Security Policy" in e]
    check(csp != [], "the refusal is the CSP's (connect-src 'self')")
finally:
    b.close()
sys.exit(1 if fails else 0)
PY
[ $? = 0 ] && ok "browser checks passed" || fail "browser checks"
ls "$ART"/*.png >/dev/null 2>&1 && ok "screenshots in $ART" || fail "no screenshots"
kill -TERM "$DPID"; wait "$DPID" && ok "dashboard exits 0" || fail "dashboard exit"
stop_proxy client
stop_proxy server
finish
