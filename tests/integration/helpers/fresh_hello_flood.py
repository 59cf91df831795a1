#!/usr/bin/env python3
"""Anonymous fresh-first ClientHellos at an attested TLS listener.

usage: fresh_hello_flood.py PORT COUNT [THREADS]

Each connection sends one hand-built TLS 1.3 ClientHello (no certificate
will ever follow) carrying the 0xff4d extension that asks for the modes
fresh, epoch-fresh, passport in that order and says will-attest, reads the
server's first flight until the server goes quiet or closes, and closes.
The server decides at that flight whether it makes fresh evidence for this
client alone (a token of inbound[].fresh-hello-rate) or defers it to the
client's SVID, which never comes. Prints "sent N answered M": M counts the
connections whose server sent at least a ServerHello record.
"""
import os
import socket
import struct
import sys
import threading

# 0xff4d: CBOR map {1: [1 (fresh), 0 (epoch-fresh), 2 (passport)], 2: [], 3: true}
ATLS_EXT = bytes([0xA3, 0x01, 0x83, 0x01, 0x00, 0x02, 0x02, 0x80, 0x03, 0xF5])


def ext(kind, body):
    return struct.pack("!HH", kind, len(body)) + body


def client_hello():
    key = os.urandom(32)  # an X25519 share; the server never needs our secret
    exts = b"".join([
        ext(0x002B, b"\x02\x03\x04"),                                   # supported_versions: TLS 1.3
        ext(0x000A, b"\x00\x02\x00\x1d"),                               # supported_groups: x25519
        ext(0x000D, b"\x00\x06\x04\x03\x08\x04\x08\x07"),               # signature_algorithms
        ext(0x0033, struct.pack("!HHH", 36, 0x001D, 32) + key),         # key_share
        ext(0xFF4D, ATLS_EXT),
    ])
    body = (b"\x03\x03" + os.urandom(32) + b"\x20" + os.urandom(32)
            + b"\x00\x06\x13\x01\x13\x02\x13\x03" + b"\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + struct.pack("!I", len(body))[1:] + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


def one(port):
    s = socket.create_connection(("127.0.0.1", port), timeout=60)
    try:
        s.sendall(client_hello())
        got = b""
        s.settimeout(60)  # the first byte may take long on a loaded machine
        while True:
            try:
                d = s.recv(65536)
            except socket.timeout:
                break
            if not d:
                break
            got += d
            s.settimeout(1.0)  # then: until the flight is complete
        return len(got) >= 5 and got[0] == 0x16
    except OSError:
        return False
    finally:
        s.close()


def main():
    port, count = int(sys.argv[1]), int(sys.argv[2])
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    lock = threading.Lock()
    state = {"next": 0, "answered": 0}

    def worker():
        while True:
            with lock:
                if state["next"] >= count:
                    return
                state["next"] += 1
            ok = one(port)
            with lock:
                state["answered"] += ok

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    print("sent %d answered %d" % (count, state["answered"]))


if __name__ == "__main__":
    main()
