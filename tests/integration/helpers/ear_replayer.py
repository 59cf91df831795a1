#!/usr/bin/env python3
"""An on-path attacker between a relying party and a central verifier (test
helper for verifier.bound). It forwards every request to the verifier; what
it does with the answer to an evidence POST depends on the first word of
MODE_FILE, read at each request:

  forward  pass the answer through and keep it in STATE_DIR/captured.json
           (a genuine, affirming EAR for one client's question);
  replay   do not ask the verifier at all: answer with the captured session
           (a genuine EAR, signed by the verifier, for another nonce);
  submod   forward, then rename the EAR's submodule to another scheme and
           re-sign it with the verifier's own key (EAR_KEY) -- a verifier
           that answers about the wrong scheme, nonce and signature intact.

usage: ear_replayer.py LISTEN_PORT VERIFIER_PORT MODE_FILE STATE_DIR VMESH EAR_KEY
Prints "listening <port>" when ready. Every decision is appended to
STATE_DIR/replayer.log.
"""
import base64
import http.client
import http.server
import json
import os
import subprocess
import sys

LISTEN, UPSTREAM, MODE_FILE, STATE, VMESH, EAR_KEY = sys.argv[1:7]
SESSION_MT = "application/vnd.veraison.challenge-response-session+json"


def log(msg):
    with open(os.path.join(STATE, "replayer.log"), "a") as f:
        f.write(msg + "\n")


def mode():
    try:
        with open(MODE_FILE) as f:
            return (f.read().split() or ["forward"])[0]
    except OSError:
        return "forward"


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def resign_other_scheme(jwt):
    claims = json.loads(b64d(jwt.split(".")[1]))
    subs = claims["submods"]
    name = next(iter(subs))
    claims["submods"] = {("tpm2" if name != "tpm2" else "psa"): subs[name]}
    path = os.path.join(STATE, "resign.json")
    with open(path, "w") as f:
        json.dump(claims, f)
    out = subprocess.run([VMESH, "ear", "sign", "--key", EAR_KEY, "--raw", path], check=True,
                         capture_output=True, text=True).stdout.strip()
    return out


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, headers, body):
        self.send_response(status)
        for k, v in headers:
            if k.lower() not in ("content-length", "connection", "transfer-encoding", "date", "server"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self, body):
        c = http.client.HTTPConnection("127.0.0.1", int(UPSTREAM), timeout=10)
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        c.request(self.command, self.path, body=body, headers=hdrs)
        r = c.getresponse()
        data = r.read()
        out = (r.status, r.getheaders(), data)
        c.close()
        return out

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        is_evidence = self.command == "POST" and "/session/" in self.path
        m = mode()
        if is_evidence and m == "replay":
            try:
                with open(os.path.join(STATE, "captured.json"), "rb") as f:
                    data = f.read()
            except OSError:
                self.reply(503, [], b"nothing captured yet")
                return
            log("replay: answered an evidence POST with the captured EAR")
            self.reply(200, [("Content-Type", SESSION_MT)], data)
            return
        status, headers, data = self.forward(body)
        if is_evidence and status == 200:
            if m == "forward":
                with open(os.path.join(STATE, "captured.json"), "wb") as f:
                    f.write(data)
                log("forward: captured an EAR")
            elif m == "submod":
                doc = json.loads(data)
                doc["result"] = resign_other_scheme(doc["result"])
                data = json.dumps(doc).encode()
                log("submod: re-signed the EAR for another scheme")
        self.reply(status, headers, data)

    do_GET = do_POST = do_DELETE = handle_any


s = http.server.ThreadingHTTPServer(("127.0.0.1", int(LISTEN)), H)
print("listening", s.server_address[1], flush=True)
s.serve_forever()
