#!/usr/bin/env python3
# admit_hold.py PORT OUT: one connection to 127.0.0.1:PORT; sends "hello\n"
# and waits for its echo, then writes OUT: "admitted" or "refused <bytes>";
# then holds the connection silently and appends "closed <wall-clock s>"
# once the other side ends it (or after 600 s).
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=30)
s.sendall(b"hello\n"); got = b""
try:
    while len(got) < 6:
        d = s.recv(6 - len(got))
        if not d: break
        got += d
except OSError: pass
open(sys.argv[2], "w").write("admitted\n" if got == b"hello\n" else "refused %r\n" % got)
s.settimeout(600)
try:
    while s.recv(100): pass
except OSError: pass
open(sys.argv[2], "a").write("closed %.3f\n" % time.time())
