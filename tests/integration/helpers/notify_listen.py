#!/usr/bin/env python3
"""A service manager's NOTIFY_SOCKET, as systemd binds it: a Unix datagram
socket (a path, or @name for the abstract namespace). Prints every datagram
received as one JSON line ({"pid": sender, "state": {KEY: VALUE}}), flushed,
until killed. Usage: notify_listen.py SOCKET"""
import json
import socket
import struct
import sys

path = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
s.bind("\0" + path[1:] if path.startswith("@") else path)
print(json.dumps({"listening": path}), flush=True)
while True:
    data, anc, _, _ = s.recvmsg(4096, socket.CMSG_SPACE(12))
    pid = None
    for level, kind, cd in anc:
        if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
            pid = struct.unpack("iII", cd[:12])[0]
    state = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        if "=" in line:
            k, v = line.split("=", 1)
            state[k] = v
    print(json.dumps({"pid": pid, "state": state}), flush=True)
