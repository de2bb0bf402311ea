"""A real browser for tests: Debian's chromium, headless, driven over the DevTools protocol.

One browser serves a whole test module: it loads pages, is resized, clicks as a mouse does
(``Input.dispatchMouseEvent``, so the page's own handlers run), reads the DOM and its layout
through ``Runtime.evaluate`` and takes screenshots.  The protocol runs over a WebSocket on
the browser's loopback port; this module speaks the little of WebSocket it needs, with the
standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import socket
import struct
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
MISSING = "chromium is not installed (apt-get install chromium; scripts/host-packages.sh installs it)"

# A quiet browser that talks to loopback only: no name but the test server's resolves.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-extensions",
         "--disable-domain-reliability", "--disable-client-side-phishing-detection",
         "--no-pings", "--metrics-recording-only", "--hide-scrollbars",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1")
_WEBSOCKET_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def run_chromium(*args, user_dir: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """One run of the browser from its command line (``--dump-dom``, ``--screenshot``)."""
    return subprocess.run([CHROMIUM, *FLAGS, "--user-data-dir=%s" % user_dir, *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


class BrowserError(RuntimeError):
    """The browser refused a command, or a page's script threw."""


class _WebSocket:
    """A client WebSocket: text messages out (masked, as a client must), whole messages in."""

    def __init__(self, url: str, timeout: float):
        parts = urlsplit(url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=timeout)
        key = base64.b64encode(os.urandom(16)).decode("ascii")
        self.sock.sendall((
            "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
            % (parts.path, parts.hostname, parts.port, key)).encode("ascii"))
        self.stream = self.sock.makefile("rb")
        status = self.stream.readline()
        head = {}
        while True:
            line = self.stream.readline().decode("latin-1").strip()
            if not line:
                break
            name, _colon, value = line.partition(":")
            head[name.strip().lower()] = value.strip()
        accept = base64.b64encode(hashlib.sha1((key + _WEBSOCKET_GUID).encode()).digest()).decode()
        if b" 101 " not in status or head.get("sec-websocket-accept") != accept:
            raise BrowserError("the browser refused the DevTools connection: %r" % status)

    def send(self, text: str) -> None:
        payload = text.encode("utf-8")
        header = bytearray([0x81])
        if len(payload) < 126:
            header.append(0x80 | len(payload))
        elif len(payload) < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack(">H", len(payload))
        else:
            header += bytes([0x80 | 127]) + struct.pack(">Q", len(payload))
        mask = os.urandom(4)
        header += mask
        self.sock.sendall(bytes(header) + bytes(byte ^ mask[index % 4]
                                                for index, byte in enumerate(payload)))

    def _read(self, size: int) -> bytes:
        data = self.stream.read(size)
        if data is None or len(data) < size:
            raise BrowserError("the browser closed the DevTools connection")
        return data

    def receive(self) -> str:
        message = b""
        while True:
            first, second = self._read(2)
            length = second & 0x7F
            if length == 126:
                length = struct.unpack(">H", self._read(2))[0]
            elif length == 127:
                length = struct.unpack(">Q", self._read(8))[0]
            payload = self._read(length)
            opcode = first & 0x0F
            if opcode == 0x8:
                raise BrowserError("the browser closed the DevTools connection")
            if opcode in (0x9, 0xA):  # ping, pong: no data of ours
                continue
            message += payload
            if first & 0x80:
                return message.decode("utf-8")

    def close(self) -> None:
        self.stream.close()
        self.sock.close()


class Browser:
    """A headless chromium with one page, driven over the DevTools protocol."""

    def __init__(self, width: int = 1920, height: int = 1080, timeout: float = 60):
        self.timeout = timeout
        self.user_dir = tempfile.mkdtemp(prefix="whotouched-chromium-")
        self.process = subprocess.Popen(  # pylint: disable=consider-using-with
            [CHROMIUM, *FLAGS, "--user-data-dir=%s" % self.user_dir,
             "--remote-debugging-port=0", "--remote-debugging-address=127.0.0.1",
             "--window-size=%d,%d" % (width, height), "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._id = 0
        try:
            port = self._devtools_port()
            with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                        timeout=timeout) as answer:
                pages = [target for target in json.load(answer) if target["type"] == "page"]
            self.socket = _WebSocket(pages[0]["webSocketDebuggerUrl"], timeout)
            self.resize(width, height)
        except BaseException:
            self.close()
            raise

    def _devtools_port(self) -> int:
        marker = Path(self.user_dir) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BrowserError("chromium stopped: %s" % self.process.stderr.read()[-2000:])
            if marker.exists():
                lines = marker.read_text().split()
                if lines:
                    return int(lines[0])
            time.sleep(0.1)
        raise BrowserError("chromium did not open its DevTools port in %d s" % self.timeout)

    def call(self, method: str, **params):
        """One DevTools command; its result."""
        self._id += 1
        self.socket.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.receive())
            if message.get("id") == self._id:
                if "error" in message:
                    raise BrowserError("%s: %s" % (method, message["error"]))
                return message.get("result", {})

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (a promise is awaited)."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in result:
            raise BrowserError("the page threw: %s" % json.dumps(result["exceptionDetails"])[:2000])
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 30):
        """The first truthy value of ``expression``, polled; an error after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError("waited %d s for %s" % (timeout, expression))
            time.sleep(0.1)

    def open(self, url: str) -> None:
        """Load ``url`` and wait until its document is loaded."""
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete' && location.href !== 'about:blank'")

    def reload(self) -> None:
        self.evaluate("window.__before_reload = 1")
        self.call("Page.reload", ignoreCache=True)
        self.wait_for("document.readyState === 'complete' && !window.__before_reload")

    def resize(self, width: int, height: int) -> None:
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                  deviceScaleFactor=1, mobile=False)

    def click(self, selector: str) -> None:
        """A left click at the middle of the first element ``selector`` finds."""
        box = self.evaluate(
            "(function () { var node = document.querySelector(%s); if (!node) { return null; }"
            " node.scrollIntoView({block: 'center'}); var box = node.getBoundingClientRect();"
            " return [box.left + box.width / 2, box.top + box.height / 2]; })()"
            % json.dumps(selector))
        if box is None:
            raise AssertionError("nothing on the page matches %s" % selector)
        for kind in ("mouseMoved", "mousePressed", "mouseReleased"):
            self.call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left",
                      clickCount=0 if kind == "mouseMoved" else 1)

    def type_text(self, selector: str, text: str) -> None:
        """Focus the field ``selector`` finds, empty it and type ``text`` into it."""
        self.evaluate("(function () { var node = document.querySelector(%s); node.focus();"
                      " node.select(); })()" % json.dumps(selector))
        self.call("Input.insertText", text=text)

    def screenshot(self, path: Path) -> bytes:
        data = base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return data

    def close(self) -> None:
        if getattr(self, "socket", None) is not None:
            try:
                self.call("Browser.close")
            except (BrowserError, OSError):
                pass
            self.socket.close()
            self.socket = None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process.stderr.close()
        shutil.rmtree(self.user_dir, ignore_errors=True)
