#!/usr/bin/env python3
"""An on-path attacker between a relying party and a central verifier (test
helper for verifier.bound). It forwards every request to the verifier; what
it does with the answer to an evidence POST -- to a Veraison session, to
the one-request appraisal POST /vmesh/v1/appraise (DECISIONS D42), or to
the batch appraisal POST /vmesh/v1/appraise-batch (D53: a CBOR array of
items answered by an array of {1: status, 2: EAR or problem}) -- depends
on the first word of MODE_FILE, read at each request:

  forward  pass the answer through and keep it in STATE_DIR/captured.json
           (a genuine, affirming EAR for one client's question);
  replay   do not ask the verifier at all: answer with the captured session
           (a genuine EAR, signed by the verifier, for another nonce);
  submod   forward, then rename the EAR's submodule to another scheme and
           re-sign it with the verifier's own key (EAR_KEY) -- a verifier
           that answers about the wrong scheme, nonce and signature intact.

While STATE_DIR/hide exists it plays an older verifier: the discovery
document it forwards does not name the one-request appraisal, and that path
and the batch path answer 404. While STATE_DIR/hide-batch exists only the
batch path answers 404 (a verifier between D42 and D53). Every request is
logged as "req METHOD PATH".

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
EAR_MT = 'application/eat+jwt; eat_profile="tag:github.com,2023:veraison/ear"'
ONESHOT = "/vmesh/v1/appraise"
BATCH = "/vmesh/v1/appraise-batch"
BATCH_MT = "application/vnd.vmesh.appraise-batch+cbor"
WELL_KNOWN = "/.well-known/veraison/verification"


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


def cbor_head(b, i):
    ib = b[i]
    mt, ai, i = ib >> 5, ib & 31, i + 1
    if ai < 24:
        return mt, ai, i
    size = {24: 1, 25: 2, 26: 4, 27: 8}[ai]
    return mt, int.from_bytes(b[i:i + size], "big"), i + size


def cbor_put(mt, v):
    if v < 24:
        return bytes([mt << 5 | v])
    for ai, size in ((24, 1), (25, 2), (26, 4), (27, 8)):
        if v < 1 << (8 * size):
            return bytes([mt << 5 | ai]) + v.to_bytes(size, "big")


def batch_count(body):
    mt, n, _ = cbor_head(body, 0)
    assert mt == 4
    return n


def batch_answers(data):
    """[(status, text)] from a batch answer."""
    mt, n, i = cbor_head(data, 0)
    assert mt == 4
    out = []
    for _ in range(n):
        mt, pairs, i = cbor_head(data, i)
        assert mt == 5 and pairs == 2
        _, _, i = cbor_head(data, i)          # key 1
        _, status, i = cbor_head(data, i)
        _, _, i = cbor_head(data, i)          # key 2
        mt, ln, i = cbor_head(data, i)
        assert mt == 3
        out.append((status, data[i:i + ln].decode()))
        i += ln
    return out


def batch_encode(answers):
    out = cbor_put(4, len(answers))
    for status, text in answers:
        t = text.encode()
        out += cbor_put(5, 2) + cbor_put(0, 1) + cbor_put(0, status) + cbor_put(0, 2) + cbor_put(3, len(t)) + t
    return out


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
        path = self.path.split("?")[0]
        log("req %s %s" % (self.command, path))
        oneshot = self.command == "POST" and path == ONESHOT
        batch = self.command == "POST" and path == BATCH
        hide = os.path.exists(os.path.join(STATE, "hide"))
        if (hide and (oneshot or batch)) or (batch and os.path.exists(os.path.join(STATE, "hide-batch"))):
            log("hide: 404 for the %s appraisal" % ("batch" if batch else "one-request"))
            self.reply(404, [("Content-Type", "application/problem+json")],
                       b'{"type":"about:blank","title":"Not Found","status":404,"detail":"no such resource"}')
            return
        is_evidence = oneshot or batch or (self.command == "POST" and "/session/" in path)
        flow = "batch" if batch else "one-request" if oneshot else "session"
        m = mode()
        if is_evidence and m == "replay":
            try:
                with open(os.path.join(STATE, "captured.json"), "rb") as f:
                    doc = json.load(f)
            except (OSError, ValueError):
                self.reply(503, [], b"nothing captured yet")
                return
            log("replay: answered an evidence POST with the captured EAR (%s)" % flow)
            if batch:
                self.reply(200, [("Content-Type", BATCH_MT)],
                           batch_encode([(200, doc["result"])] * batch_count(body)))
            elif oneshot:
                self.reply(200, [("Content-Type", EAR_MT)], doc["result"].encode())
            else:
                self.reply(200, [("Content-Type", SESSION_MT)], json.dumps(doc).encode())
            return
        status, headers, data = self.forward(body)
        if hide and self.command == "GET" and path == WELL_KNOWN and status == 200:
            doc = json.loads(data)
            doc.get("api-endpoints", {}).pop("vmeshAppraise", None)
            data = json.dumps(doc).encode()
            log("hide: discovery without the one-request appraisal")
        if is_evidence and status == 200:
            if m == "forward":
                # a session-shaped capture serves a replay of any flow
                if batch:
                    ears = [t for st, t in batch_answers(data) if st == 200]
                    doc = {"status": "complete", "result": ears[0]} if ears else None
                else:
                    doc = {"status": "complete", "result": data.decode()} if oneshot else json.loads(data)
                if doc is not None:
                    with open(os.path.join(STATE, "captured.json"), "w") as f:
                        json.dump(doc, f)
                    log("forward: captured an EAR (%s)" % flow)
            elif m == "submod":
                if batch:
                    data = batch_encode([(st, resign_other_scheme(t) if st == 200 else t)
                                         for st, t in batch_answers(data)])
                elif oneshot:
                    data = resign_other_scheme(data.decode()).encode()
                else:
                    doc = json.loads(data)
                    doc["result"] = resign_other_scheme(doc["result"])
                    data = json.dumps(doc).encode()
                log("submod: re-signed the EAR for another scheme (%s)" % flow)
        self.reply(status, headers, data)

    do_GET = do_POST = do_DELETE = handle_any


s = http.server.ThreadingHTTPServer(("127.0.0.1", int(LISTEN)), H)
print("listening", s.server_address[1], flush=True)
s.serve_forever()
