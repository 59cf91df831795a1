#!/usr/bin/env python3
# echo_holder.py PORT STOPFILE OUT: one connection to 127.0.0.1:PORT, a line
# every 20 ms (each echo awaited), until STOPFILE exists or the connection
# ends. Writes OUT.open once connected, then OUT: {"n", "gap_p50_ms",
# "gap_p99_ms", "max_gap_ms", "max_rtt_ms", "end", "t_end"} (end: "stopped",
# "eof", "wrong echo" or the socket error; t_end: wall-clock seconds).
import json, os, socket, sys, time
port, stop, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
s = socket.create_connection(("127.0.0.1", port), timeout=10)
n, gaps, max_rtt, last, end = 0, [], 0.0, None, "stopped"
open(out + ".open", "w").write("open\n")
while not os.path.exists(stop):
    msg = b"ping %06d\n" % n; t0 = time.monotonic()
    try:
        s.sendall(msg); got = b""
        while len(got) < len(msg):
            d = s.recv(len(msg) - len(got))
            if not d: raise EOFError("eof")
            got += d
    except EOFError: end = "eof"; break
    except OSError as e: end = str(e); break
    t1 = time.monotonic()
    if got != msg: end = "wrong echo"; break
    n += 1; max_rtt = max(max_rtt, t1 - t0)
    if last is not None: gaps.append(t1 - last)
    last = t1
    time.sleep(0.02)
gaps.sort(); q = lambda f: round(gaps[min(len(gaps) - 1, int(f * len(gaps)))] * 1000, 1) if gaps else 0
json.dump({"n": n, "gap_p50_ms": q(0.5), "gap_p99_ms": q(0.99), "max_gap_ms": q(1.0),
           "max_rtt_ms": round(max_rtt * 1000, 1), "end": end, "t_end": time.time()}, open(out, "w"))
