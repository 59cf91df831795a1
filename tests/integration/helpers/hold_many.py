#!/usr/bin/env python3
# hold_many.py PORT N OUT STOPFILE: N idle connections to 127.0.0.1:PORT,
# held until each ends or STOPFILE exists. OUT (rewritten on every change
# and every 0.2 s) holds {"open": connected so far, "eof": ended so far,
# "first_eof", "last_eof": wall-clock seconds or null}.
import json, os, select, socket, sys, time
port, n, out, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
socks, ended, first, last = [], 0, None, None
def dump():
    tmp = out + ".tmp"
    json.dump({"open": len(socks), "eof": ended, "first_eof": first, "last_eof": last}, open(tmp, "w"))
    os.replace(tmp, out)
for _ in range(n):
    socks.append(socket.create_connection(("127.0.0.1", port), timeout=10))
    socks[-1].setblocking(False)
dump()
live = set(socks)
while live and not os.path.exists(stop):
    r, _, _ = select.select(list(live), [], [], 0.2)
    for s in r:
        try:
            d = s.recv(100)
        except OSError:
            d = b""
        if not d:
            live.discard(s); ended += 1; t = time.time()
            first = first or t; last = t
    dump()
for s in socks:
    s.close()
