#!/usr/bin/env python3
"""bench/sase-scale revocation timeline of one run kept with KEEP_LOGS=DIR
(run.sh copies each run's files into DIR/MODE-N/).

Reads MODE-N/revoke-times (wall-clock start of each revocation command: the
RVP's revoking epoch, then its next epoch when connections were still open),
MODE-N/state-times (run.sh's watcher: "<seen> <dir> <mtime>" whenever the
manifest the verifier (vstate) or a PoP process (state-a, state-b) persists
when its sync client commits an RVP epoch changed: <mtime> is when that
process took the epoch)
and MODE-N/one.json (the load generator: closes after the first command).
Prints, relative to the first publication: when the verifier and each PoP
process took each epoch, how many connections were open at each command, and
when the last connection was closed; and whether every connection was closed
within one PoP poll interval (POLL s, default 2, plus its 10 % jitter) of the
verifier's own update.
Usage: revocation.py DIR/MODE-N [POLL]"""
import json
import os
import sys

d = sys.argv[1]
poll = float(sys.argv[2]) if len(sys.argv) > 2 else 2.0
pubs = [float(l) for l in open(os.path.join(d, "revoke-times")) if l.strip()]
r = json.load(open(os.path.join(d, "one.json")))
rv = r.get("revocation") or {}
upd = {"vstate": [], "state-a": [], "state-b": []}
st = os.path.join(d, "state-times")
if os.path.exists(st):
    for l in open(st):
        p = l.split()
        if len(p) == 3 and p[1] in upd and float(p[2]) >= pubs[0] - 0.5:
            upd[p[1]].append(float(p[2]))
t0 = pubs[0]
out = {"mode": r["mode"], "n": r["n"], "publications_s": [round(t - t0, 3) for t in pubs],
       "open_at_each_publication": [c["open_before"] for c in rv.get("commands", [])],
       "verifier_updates_s": [round(t - t0, 3) for t in sorted(set(upd["vstate"]))],
       "pop_updates_s": {k: [round(t - t0, 3) for t in sorted(set(v))] for k, v in upd.items() if k != "vstate"},
       "closed": rv.get("closed"), "still_open": rv.get("still_open"), "closes_p50_s": rv.get("p50_s"),
       "last_close_s": rv.get("max_s")}
vu = out["verifier_updates_s"]
if vu and rv.get("max_s") is not None and rv.get("still_open") == 0:
    after = rv["max_s"] - vu[0]
    out["last_close_after_verifier_update_s"] = round(after, 3)
    out["within_one_poll_of_verifier_update"] = after <= poll * 1.1 and len(pubs) == 1
print(json.dumps(out))
