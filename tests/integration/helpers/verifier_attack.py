#!/usr/bin/env python3
"""Hostile clients for the verifier.hostile test (issue 12.6), python3 stdlib.

  hold  --port P --src A[,B...] --n N [--trickle] [--max-seconds S] [--reopen]
        opens N sockets from each source address and holds them; with
        --trickle each sends the start of a request and then one header byte
        a second, never finishing it (slowloris). Ends when the server has
        closed every socket or after S seconds; with --reopen, every second
        it opens again as many as the server closed, and runs S seconds.
        Prints JSON: opened, refused (connect failed), closed_at_accept
        (closed by the server before the first trickle byte), closed_later
        (seconds after open, each), still_open, bytes_max, cpu_s (its own
        CPU time).
  flood --port P --src A --n N [--path PATH] [--method M]
        N requests (GET, or M with an empty body) back to back, each on a new connection, from A. Prints
        JSON: status counts, retry_after values seen on 429, errors.
  big   --port P --src A --declare BYTES [--path PATH]
        sends POST headers (to a session, or PATH) declaring a body of BYTES and no body; prints the
        status line the server answers with (before any body byte is sent).
"""
import argparse
import json
import resource
import selectors
import socket
import sys
import time


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def hold(a):
    raise_nofile()
    sel = selectors.DefaultSelector()
    socks = {}
    stats = {"opened": 0, "refused": 0, "closed_at_accept": 0, "bytes_max": 0}
    closed_later = []
    srcs = a.src.split(",")
    t0 = time.monotonic()

    def open_one(src):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((src, 0))
            s.settimeout(5)
            s.connect(("127.0.0.1", a.port))
        except OSError:
            stats["refused"] += 1
            s.close()
            return
        s.setblocking(False)
        if a.trickle:
            try:
                s.send(b"POST /challenge-response/v1/newSession HTTP/1.1\r\nHost: v\r\nX-Slow: ")
            except OSError:
                pass
        stats["opened"] += 1
        socks[s] = {"opened": time.monotonic(), "sent": 0, "src": src}
        sel.register(s, selectors.EVENT_READ)

    for src in srcs:
        for _ in range(a.n):
            open_one(src)
    lost = []  # sources of sockets the server closed, to reopen
    next_tick = time.monotonic() + 1.0
    deadline = t0 + a.max_seconds

    def close(s, now):
        info = socks.pop(s)
        sel.unregister(s)
        s.close()
        age = now - info["opened"]
        if info["sent"] == 0 and age < 1.0:
            stats["closed_at_accept"] += 1
        else:
            closed_later.append(round(age, 2))
        lost.append(info["src"])

    while (socks or a.reopen) and time.monotonic() < deadline:
        for key, _ in sel.select(timeout=0.2):
            s = key.fileobj
            try:
                data = s.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                data = b""
            if not data:  # the server closed it (an answer would end it too)
                close(s, time.monotonic())
        now = time.monotonic()
        if now >= next_tick:
            next_tick = now + 1.0
            if a.trickle:
                for s in list(socks):
                    try:
                        s.send(b"x")
                        socks[s]["sent"] += 1
                        stats["bytes_max"] = max(stats["bytes_max"], socks[s]["sent"])
                    except OSError:
                        close(s, now)
            if a.reopen:
                again, lost[:] = lost[:], []
                for src in again:
                    open_one(src)
    stats["still_open"] = len(socks)
    for s in list(socks):
        s.close()
    closed_later.sort()
    stats["closed_later"] = closed_later
    stats["seconds"] = round(time.monotonic() - t0, 2)
    ru = resource.getrusage(resource.RUSAGE_SELF)
    stats["cpu_s"] = round(ru.ru_utime + ru.ru_stime, 2)
    print(json.dumps(stats))


def read_status(s):
    buf = b""
    while b"\r\n\r\n" not in buf and len(buf) < 65536:
        d = s.recv(4096)
        if not d:
            break
        buf += d
    head = buf.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    lines = head.split("\r\n")
    status = int(lines[0].split()[1]) if lines and len(lines[0].split()) > 1 else 0
    hdrs = {}
    for ln in lines[1:]:
        if ":" in ln:
            k, v = ln.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    return status, hdrs, lines[0] if lines else ""


def flood(a):
    counts = {}
    retry = set()
    errors = 0
    for _ in range(a.n):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((a.src, 0))
            s.settimeout(10)
            s.connect(("127.0.0.1", a.port))
            body = "" if a.method == "GET" else "Content-Length: 0\r\n"
            s.sendall(("%s %s HTTP/1.1\r\nHost: v\r\nConnection: close\r\n%s\r\n" % (a.method, a.path, body)).encode())
            st, h, _ = read_status(s)
            counts[str(st)] = counts.get(str(st), 0) + 1
            if st == 429:
                retry.add(h.get("retry-after", "missing"))
        except OSError:
            errors += 1
        finally:
            s.close()
    print(json.dumps({"status": counts, "retry_after": sorted(retry), "errors": errors}))


def big(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((a.src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", a.port))
    s.sendall(("POST %s HTTP/1.1\r\nHost: v\r\nContent-Type: application/eat+cwt\r\n"
               "Content-Length: %d\r\n\r\n" % (a.path, a.declare)).encode())
    try:
        st, _, line = read_status(s)
    except OSError as e:
        st, line = 0, str(e)
    print(json.dumps({"status": st, "line": line}))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    h = sub.add_parser("hold")
    h.add_argument("--port", type=int, required=True)
    h.add_argument("--src", required=True)
    h.add_argument("--n", type=int, required=True)
    h.add_argument("--trickle", action="store_true")
    h.add_argument("--max-seconds", type=float, default=60)
    h.add_argument("--reopen", action="store_true")
    f = sub.add_parser("flood")
    f.add_argument("--port", type=int, required=True)
    f.add_argument("--src", required=True)
    f.add_argument("--n", type=int, required=True)
    f.add_argument("--path", default="/.well-known/veraison/verification")
    f.add_argument("--method", default="GET")
    b = sub.add_parser("big")
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--src", required=True)
    b.add_argument("--declare", type=int, required=True)
    b.add_argument("--path", default="/challenge-response/v1/session/x")
    a = p.parse_args()
    {"hold": hold, "flood": flood, "big": big}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
