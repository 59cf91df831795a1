#!/usr/bin/env python3
"""A minimal Chrome DevTools Protocol client (python3 stdlib only): starts
Debian's chromium headless, opens pages, evaluates JavaScript, collects
console errors, takes screenshots. Used by the dashboard's browser test
and scripts/dashboard-screenshot.sh; not a test itself."""
import base64, json, os, socket, struct, subprocess, sys, time

class CdpError(Exception):
    pass

class WebSocket:
    """RFC 6455 client: text frames out (masked), text/continuation in."""
    def __init__(self, host, port, path, timeout=30):
        self.s = socket.create_connection((host, port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n" % (path, host, port, key))
        self.s.sendall(req.encode())
        head = b""
        while b"\r\n\r\n" not in head:
            b = self.s.recv(1)
            if not b:
                raise CdpError("websocket handshake: connection closed")
            head += b
            if len(head) > 8192:
                raise CdpError("websocket handshake: header too long")
        if not head.startswith(b"HTTP/1.1 101"):
            raise CdpError("websocket handshake refused: %r" % head[:80])

    def send(self, text):
        data = text.encode()
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", 0x81, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x81, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x81, 0x80 | 127, n)
        self.s.sendall(hdr + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))

    def _exact(self, n):
        out = bytearray()
        while len(out) < n:
            b = self.s.recv(n - len(out))
            if not b:
                raise CdpError("websocket closed")
            out += b
        return bytes(out)

    def recv(self):
        msg = b""
        while True:
            b0, b1 = self._exact(2)
            op, n = b0 & 0x0F, b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._exact(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._exact(8))[0]
            if n > 256 * 1024 * 1024:
                raise CdpError("websocket frame too large")
            mask = self._exact(4) if b1 & 0x80 else None
            data = self._exact(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if op == 0x8:
                raise CdpError("websocket closed by chromium")
            if op == 0x9:  # ping: answer with pong
                self.s.sendall(struct.pack("!BB", 0x8A, 0x80 | len(data)) + b"\0\0\0\0" + data)
                continue
            if op in (0x1, 0x2, 0x0):
                msg += data
                if b0 & 0x80:
                    return msg.decode()

class Browser:
    def __init__(self, workdir, width=1400, height=1000):
        self.dir = os.path.join(workdir, "chromium-profile")
        os.makedirs(self.dir, exist_ok=True)
        self.log = open(os.path.join(workdir, "chromium.log"), "w")
        args = ["chromium", "--headless=new", "--disable-gpu", "--no-first-run",
                "--no-default-browser-check", "--disable-extensions", "--disable-sync",
                "--disable-background-networking", "--disable-component-update",
                "--disable-default-apps", "--disable-features=Translate,MediaRouter",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                "--user-data-dir=" + self.dir, "--window-size=%d,%d" % (width, height), "about:blank"]
        if os.geteuid() == 0:
            args.insert(1, "--no-sandbox")  # chromium refuses root without it
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=self.log, start_new_session=True)
        port_file = os.path.join(self.dir, "DevToolsActivePort")
        for _ in range(300):
            if os.path.exists(port_file) and len(open(port_file).read().split("\n")) >= 2:
                break
            if self.proc.poll() is not None:
                raise CdpError("chromium exited with %s (log %s)" % (self.proc.returncode, self.log.name))
            time.sleep(0.1)
        else:
            raise CdpError("chromium did not open its DevTools port in 30 s")
        port, path = open(port_file).read().split("\n")[:2]
        self.ws = WebSocket("127.0.0.1", int(port), path)
        self.next_id = 0
        self.events = []
        self.session = None

    def call(self, method, params=None, session=True, timeout=30):
        self.next_id += 1
        mid = self.next_id
        msg = {"id": mid, "method": method, "params": params or {}}
        if session and self.session:
            msg["sessionId"] = self.session
        self.ws.send(json.dumps(msg))
        deadline = time.time() + timeout
        while time.time() < deadline:
            m = json.loads(self.ws.recv())
            if m.get("id") == mid:
                if "error" in m:
                    raise CdpError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            if "method" in m:
                self.events.append(m)
        raise CdpError(method + ": no answer")

    def open(self, url):
        """A new tab on url, with console and log events on."""
        t = self.call("Target.createTarget", {"url": "about:blank"}, session=False)
        a = self.call("Target.attachToTarget", {"targetId": t["targetId"], "flatten": True}, session=False)
        self.session = a["sessionId"]
        for d in ("Runtime.enable", "Log.enable", "Page.enable"):
            self.call(d)
        self.call("Page.navigate", {"url": url})

    def eval(self, expr):
        r = self.call("Runtime.evaluate", {"expression": expr, "returnByValue": True, "awaitPromise": True})
        if "exceptionDetails" in r:
            raise CdpError("evaluate %s: %s" % (expr[:60], r["exceptionDetails"].get("text")))
        return r["result"].get("value")

    def wait(self, expr, timeout=30):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.eval(expr):
                return True
            time.sleep(0.1)
        return False

    def screenshot(self, path):
        r = self.call("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        with open(path, "wb") as f:
            f.write(base64.b64decode(r["data"]))

    def drain(self):
        """Collects pending events (a short evaluate round trip)."""
        self.eval("1")

    def errors(self):
        """Console errors, uncaught exceptions, failed loads and CSP reports seen so far."""
        out = []
        for e in self.events:
            m, p = e["method"], e.get("params", {})
            if m == "Runtime.exceptionThrown":
                out.append("exception: " + json.dumps(p.get("exceptionDetails", {}))[:300])
            elif m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                out.append("console.%s: %s" % (p["type"], json.dumps(p.get("args"))[:300]))
            elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                out.append("log: %s %s" % (p["entry"].get("text"), p["entry"].get("url", "")))
        return out

    def close(self):
        try:
            self.call("Browser.close", session=False, timeout=5)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, 9)
            self.proc.wait()
        self.log.close()
