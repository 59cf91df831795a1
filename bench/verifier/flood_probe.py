#!/usr/bin/env python3
"""bench/verifier/flood.sh's clients and its summary (python3 stdlib only).

  probe PORT STOPFILE LOG    one established connection through the PoP; a
        line every 50 ms, each echo awaited (10 s at most); appends to LOG one
        line per echo: "<unix time> <latency ms>", or "<unix time> FAIL <ms> <why>"
        (then it connects again). Runs until STOPFILE exists.
  legit PORT STOPFILE LOG GAP  a new connection every GAP s (at most 8 waiting):
        each is a new attested handshake through the client sidecar, so the
        PoP (central mode) asks the verifier once; one line echoed (20 s at
        most); appends "<unix time of start> OK <ms>" or "... FAIL <ms> <why>".
  stats PHASES LOGDIR RSS    PHASES: lines "name t0 t1"; LOGDIR: probe-*.log
        and legit.log (an echo counts for the phase it started in, and for
        the one that began while it was in flight); RSS: lines "t rss_kB[ rss_kB...]" (one column per
        verifier). Prints one JSON object per phase.
"""
import glob
import json
import os
import socket
import sys
import threading
import time


def echo_once(s, msg, timeout):
    s.settimeout(timeout)
    s.sendall(msg)
    got = b""
    while len(got) < len(msg):
        d = s.recv(len(msg) - len(got))
        if not d:
            raise OSError("connection closed by the proxy")
        got += d
    if got != msg:
        raise OSError("wrong echo %r" % got[:40])


def probe(port, stop, log):
    out = open(log, "a", buffering=1)
    s, i = None, 0
    while not os.path.exists(stop):
        i += 1
        t, t0 = time.time(), time.monotonic()
        try:
            if s is None:
                s = socket.create_connection(("127.0.0.1", port), timeout=10)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                echo_once(s, b"hello\n", 20)  # the connection's own handshake: not a sample
                t = time.time()
            t0 = time.monotonic()
            echo_once(s, b"ping %d\n" % i, 10)
            out.write("%.3f %.3f\n" % (t, (time.monotonic() - t0) * 1000))
        except OSError as e:
            out.write("%.3f FAIL %.1f %s\n" % (t, (time.monotonic() - t0) * 1000, str(e).replace("\n", " ")[:100]))
            try:
                s.close()
            except (OSError, AttributeError):
                pass
            s = None
        time.sleep(0.05)


def legit(port, stop, log, gap, inflight=8):
    out = open(log, "a", buffering=1)
    lock = threading.Lock()
    slots = threading.Semaphore(inflight)

    def one():
        t, t0 = time.time(), time.monotonic()
        s = None
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=20)
            echo_once(s, b"legitimate\n", 20)
            line = "%.3f OK %.1f\n" % (t, (time.monotonic() - t0) * 1000)
        except OSError as e:
            line = "%.3f FAIL %.1f %s\n" % (t, (time.monotonic() - t0) * 1000, str(e).replace("\n", " ")[:100])
        finally:
            if s is not None:
                s.close()
            slots.release()
        with lock:
            out.write(line)

    while not os.path.exists(stop):
        slots.acquire()  # at most `inflight` attempts waiting (a silent verifier holds them)
        threading.Thread(target=one, daemon=True).start()
        time.sleep(gap)
    for _ in range(inflight):
        slots.acquire(timeout=25)


def pct(v, f):
    return round(v[min(len(v) - 1, int(f * len(v)))], 2) if v else None


def stats(phases, logdir, rssf):
    ph = [l.split() for l in open(phases) if len(l.split()) == 3]
    probes = []
    for f in sorted(glob.glob(os.path.join(logdir, "probe-*.log"))):
        probes.append([l.split(None, 3) for l in open(f) if l.strip()])
    lg = [l.split(None, 3) for l in open(os.path.join(logdir, "legit.log")) if l.strip()] \
        if os.path.exists(os.path.join(logdir, "legit.log")) else []
    rss = [list(map(float, l.split())) for l in open(rssf) if len(l.split()) >= 2] if os.path.exists(rssf) else []
    for name, t0, t1 in ph:
        t0, t1 = float(t0), float(t1)
        lat, fails, why, fail_wait = [], 0, None, 0.0
        for p in probes:
            for r in p:
                # an echo started in the phase, or in flight when it began
                st = float(r[0])
                ms = float(r[2] if r[1] == "FAIL" else r[1])
                if not (t0 <= st < t1 or st < t0 < st + ms / 1000):
                    continue
                if r[1] == "FAIL":
                    fails += 1
                    why = why or " ".join(r[3:]).strip()
                    fail_wait = max(fail_wait, ms)
                else:
                    lat.append(ms)
        lat.sort()
        ok = sorted(float(r[2]) for r in lg if t0 <= float(r[0]) < t1 and r[1] == "OK")
        # admitted before the phase ended (not after it, e.g. once a stopped verifier resumed)
        ok_inside = sum(1 for r in lg if t0 <= float(r[0]) < t1 and r[1] == "OK" and float(r[0]) + float(r[2]) / 1000 < t1)
        bad = [r for r in lg if t0 <= float(r[0]) < t1 and r[1] == "FAIL"]
        before = [r for r in rss if r[0] < t0]
        inside = [r for r in rss if t0 <= r[0] < t1]
        ncol = len(rss[0]) - 1 if rss else 0
        rs = []
        for c in range(1, ncol + 1):
            rs.append({"start_kB": int(before[-1][c]) if before else (int(inside[0][c]) if inside else None),
                       "peak_kB": int(max(r[c] for r in inside)) if inside else None,
                       "end_kB": int(inside[-1][c]) if inside else None})
        print(json.dumps({
            "phase": name, "seconds": round(t1 - t0, 1),
            "echo": {"n": len(lat) + fails, "failed": fails, "first_failure": why, "p50_ms": pct(lat, 0.5),
                     "p99_ms": pct(lat, 0.99), "max_ms": round(lat[-1], 2) if lat else None,
                     "over_50ms": sum(1 for x in lat if x > 50), "failed_after_ms_max": round(fail_wait, 1) if fails else None},
            "legit": {"attempts": len(ok) + len(bad), "ok": len(ok), "ok_within_phase": ok_inside, "p50_ms": pct(ok, 0.5),
                      "max_ms": round(ok[-1], 1) if ok else None,
                      "first_failure": " ".join(bad[0][3:]).strip() if bad else None},
            "verifier_rss": rs}))


def main():
    m = sys.argv[1]
    if m == "probe":
        probe(int(sys.argv[2]), sys.argv[3], sys.argv[4])
    elif m == "legit":
        legit(int(sys.argv[2]), sys.argv[3], sys.argv[4], float(sys.argv[5]))
    elif m == "stats":
        stats(sys.argv[2], sys.argv[3], sys.argv[4])
    else:
        sys.exit("usage: flood_probe.py probe|legit|stats ...")


if __name__ == "__main__":
    main()
