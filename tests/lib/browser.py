"""browser: headless Chromium driven over the DevTools protocol, stdlib only.

    b = Browser(env)                  # Debian's chromium, --remote-debugging-pipe
    b.open(url, width=1280, height=900)
    b.eval("document.title")          # a JS expression's value (awaits a promise)
    b.key("ArrowLeft"); b.mouse_move(x, y)
    png = b.screenshot()              # bytes
    b.close()

The protocol runs over two FIFOs in the test dir (Chromium reads commands on its fd 3 and
writes answers on fd 4, each a JSON text ended by a NUL), so Chromium is an ordinary harness
Proc: its output goes to the test's log dir and it dies with the test. Console errors and
uncaught exceptions of the page are collected in .problems (a Content-Security-Policy
violation is one).

png_pixels(data) decodes a PNG (8-bit RGB/RGBA, not interlaced: what Chromium writes) with
zlib: (width, height, rows of (r, g, b) tuples).
"""
import base64
import json
import os
import select
import shutil
import struct
import time
import zlib

CHROMIUM = os.environ.get("STATUSD_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"


class Browser:
    def __init__(self, env, name="chromium", timeout=15.0):
        self.timeout = timeout
        self.problems = []
        self._id = 0
        self._buf = b""
        self._session = None
        inp, out = env.path(name + ".in"), env.path(name + ".out")
        os.mkfifo(inp)
        os.mkfifo(out)
        argv = [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
                "--disable-dev-shm-usage", "--no-first-run", "--no-default-browser-check",
                "--disable-extensions", "--disable-background-networking", "--mute-audio",
                "--hide-scrollbars", "--user-data-dir=" + env.path(name + "-profile"),
                "--remote-debugging-pipe", "about:blank"]
        # fd 3: our commands, fd 4: its answers (bash opens the FIFOs, then execs chromium)
        self.proc = env.proc(name, ["/bin/bash", "-c", 'exec "$@" 3<"%s" 4>"%s"' % (inp, out),
                                    "chromium"] + argv).start()
        self._rfd = os.open(out, os.O_RDONLY | os.O_NONBLOCK)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self._wfd = os.open(inp, os.O_WRONLY | os.O_NONBLOCK)
                break
            except OSError:
                if time.monotonic() > deadline or not self.proc.alive():
                    raise AssertionError("chromium did not open its DevTools pipe:\n" +
                                         self.proc.tail())
                time.sleep(0.02)
        os.set_blocking(self._wfd, True)
        t = self.send("Target.createTarget", {"url": "about:blank"})
        s = self.send("Target.attachToTarget", {"targetId": t["targetId"], "flatten": True})
        self._session = s["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(domain + ".enable")

    # --- the protocol ----------------------------------------------------------------------
    def _event(self, msg):
        m, p = msg.get("method"), msg.get("params", {})
        if m == "Runtime.exceptionThrown":
            d = p.get("exceptionDetails", {})
            self.problems.append("exception: %s %s" % (d.get("text"),
                                                       d.get("exception", {}).get("description")))
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            self.problems.append("console: %s (%s)" % (p["entry"].get("text", ""),
                                                       p["entry"].get("url", "")))
        elif m == "Runtime.consoleAPICalled" and p.get("type") == "error":
            self.problems.append("console.error: %r" % (p.get("args"),))

    def _read(self, deadline):
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0 or not self.proc.alive():
                raise AssertionError("no answer from chromium" +
                                     ("" if self.proc.alive() else " (it exited)"))
            r, _, _ = select.select([self._rfd], [], [], min(left, 0.5))
            if r:
                chunk = os.read(self._rfd, 1 << 20)
                if not chunk and not self.proc.alive():
                    raise AssertionError("chromium closed its DevTools pipe")
                self._buf += chunk
        msg, self._buf = self._buf.split(b"\0", 1)
        return json.loads(msg)

    def send(self, method, params=None, session=True):
        """One command; returns its result or raises AssertionError with its error."""
        self._id += 1
        msg = {"id": self._id, "method": method, "params": params or {}}
        if session and self._session:
            msg["sessionId"] = self._session
        os.write(self._wfd, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + self.timeout
        while True:
            m = self._read(deadline)
            if m.get("id") == self._id:
                if "error" in m:
                    raise AssertionError("%s: %s" % (method, m["error"]))
                return m.get("result", {})
            self._event(m)

    # --- what a test does ------------------------------------------------------------------
    def viewport(self, width, height, mobile=False):
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})

    def open(self, url, width=1280, height=900, mobile=False):
        self.viewport(width, height, mobile)
        self.send("Page.navigate", {"url": url})

    def eval(self, expr):
        """The value of a JS expression in the page (a promise is awaited)."""
        r = self.send("Runtime.evaluate", {"expression": expr, "returnByValue": True,
                                           "awaitPromise": True})
        if "exceptionDetails" in r:
            raise AssertionError("JS %r: %s" % (expr, r["exceptionDetails"]))
        return r.get("result", {}).get("value")

    def key(self, key, code=None, vk=0):
        """Presses and releases one key (key: "Tab", "ArrowLeft", ...)."""
        vks = {"Tab": 9, "Enter": 13, "Escape": 27, "End": 35, "Home": 36, "ArrowLeft": 37,
               "ArrowUp": 38, "ArrowRight": 39, "ArrowDown": 40}
        p = {"key": key, "code": code or key, "windowsVirtualKeyCode": vk or vks.get(key, 0)}
        # a key that types (Enter: "\r") goes down with its text, as a keyboard's does
        text = {"Enter": "\r"}.get(key)
        self.send("Input.dispatchKeyEvent", dict(p, type="keyDown", text=text) if text
                  else dict(p, type="rawKeyDown"))
        self.send("Input.dispatchKeyEvent", dict(p, type="keyUp"))

    def mouse_move(self, x, y):
        self.send("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": x, "y": y})

    def screenshot(self, full_page=True):
        return self.capture(captureBeyondViewport=full_page)

    def capture(self, **params):
        """Page.captureScreenshot as PNG bytes (params: clip, captureBeyondViewport...)."""
        r = self.send("Page.captureScreenshot", dict(params, format="png"))
        return base64.b64decode(r["data"])

    def close(self):
        try:
            self.send("Browser.close", session=False)
        except AssertionError:
            pass
        self.proc.wait_exit(10) if self.proc.alive() else None
        self.proc.stop()
        for fd in (self._rfd, self._wfd):
            try:
                os.close(fd)
            except OSError:
                pass


def png_pixels(data):
    """(width, height, rows): rows a list of lists of (r, g, b)."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG")
    pos, idat, hdr = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        pos += 12 + n
        if kind == b"IHDR":
            hdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
    w, h, depth, ctype, _, _, interlace = hdr
    if depth != 8 or ctype not in (2, 6) or interlace:
        raise ValueError("unsupported PNG: depth %d colour type %d interlace %d"
                         % (depth, ctype, interlace))
    bpp = 3 if ctype == 2 else 4
    raw, stride, prev, rows = zlib.decompress(idat), w * bpp, bytearray(w * bpp), []
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                pa, pb, pc = abs(b - c), abs(a - c), abs(a + b - 2 * c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append([tuple(line[x * bpp:x * bpp + 3]) for x in range(w)])
        prev = line
    return w, h, rows
