#!/usr/bin/env python3
"""An on-path party between a relying party and an https central verifier
(issue 12.2, test verifier.attested). It terminates TLS with ITS OWN key
and forwards every request to the verifier over TLS. The mode is read from
MODEFILE at every request:
  relay   forward everything (the verifier's attestation reaches the relying
          party unchanged: it binds the verifier's TLS key, not ours)
  replay  answer every attestation request with CAPTURED (a genuine
          attestation the verifier gave another relying party, for another
          nonce); forward the rest
usage: verifier_mitm.py PORT UPSTREAM_PORT MODEFILE CERT KEY CAPTURED LOG
"""
import http.server, ssl, sys, urllib.request

port, up, modefile, cert, key, captured, logpath = sys.argv[1:8]
up_ctx = ssl.create_default_context()
up_ctx.check_hostname = False
up_ctx.verify_mode = ssl.CERT_NONE
log = open(logpath, "a", buffering=1)


class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, ctype, body):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def forward(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        hdrs = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection")}
        req = urllib.request.Request("https://127.0.0.1:%s%s" % (up, self.path), data=body,
                                     method=self.command, headers=hdrs)
        try:
            with urllib.request.urlopen(req, context=up_ctx, timeout=20) as r:
                data, status, ctype, loc = r.read(), r.status, r.headers.get("Content-Type"), r.headers.get("Location")
        except urllib.error.HTTPError as e:
            data, status, ctype, loc = e.read(), e.code, e.headers.get("Content-Type"), e.headers.get("Location")
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        if loc:
            self.send_header("Location", loc)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def handle_any(self):
        mode = open(modefile).read().strip()
        log.write("%s %s %s\n" % (mode, self.command, self.path.split("?")[0]))
        if mode == "replay" and self.path.startswith("/vmesh/v1/verifier-attestation"):
            data = open(captured, "rb").read()
            log.write("replay: answered with the captured attestation\n")
            return self.answer(200, "application/vnd.vmesh.verifier-attestation+json", data)
        return self.forward()

    do_GET = do_POST = do_DELETE = handle_any


srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(port)), H)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(cert, key)
srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
log.write("listening\n")
srv.serve_forever()
