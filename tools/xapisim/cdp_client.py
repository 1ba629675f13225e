"""A small Chrome DevTools Protocol client for tests: a headless chromium started with a
debugging port, one page attached to (flattened session), commands and their answers.

Over tools/xapisim's WebSocket client (text frames: DevTools refuses binary ones).
"""

import json
import os
import shutil
import subprocess
import tempfile
import time

from .ws_client import WebSocket


class CDPError(Exception):
    pass


class Browser:
    """``chromium --headless`` on a free debugging port; ``extra`` arguments (e.g. a net log)."""

    def __init__(self, binary="chromium", extra=(), size=(1024, 768), timeout=30):
        self.profile = tempfile.mkdtemp(prefix="novaops-cdp-")
        # --no-sandbox: tests run as root, where chromium's sandbox refuses to start
        argv = [binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
                "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
                "--user-data-dir=" + self.profile, "--window-size=%d,%d" % size] + list(extra) + ["about:blank"]
        self.proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while not os.path.exists(port_file) or len(open(port_file).read().splitlines()) < 2:
            if self.proc.poll() is not None:
                raise CDPError("chromium exited %s: %s" % (self.proc.returncode, self.proc.stderr.read().decode()[-2000:]))
            if time.monotonic() > deadline:
                self.close()
                raise CDPError("chromium wrote no DevToolsActivePort in %ds" % timeout)
            time.sleep(0.1)
        port, path = open(port_file).read().splitlines()[:2]
        self.ws = WebSocket("127.0.0.1", int(port), path, protocols=(), timeout=timeout)
        self.next_id = 0
        self.session = None

    def call(self, method, session=True, **params):
        self.next_id += 1
        message = dict(id=self.next_id, method=method, params=params)
        if session and self.session:
            message["sessionId"] = self.session
        self.ws._frame(1, json.dumps(message).encode())     # pylint: disable=protected-access
        while True:
            data = self.ws.recv()
            if data is None:
                raise CDPError("DevTools closed the connection during %s" % method)
            answer = json.loads(data)
            if answer.get("id") == self.next_id:
                if "error" in answer:
                    raise CDPError("%s: %s" % (method, answer["error"]))
                return answer["result"]

    def open(self, url):
        target = self.call("Target.createTarget", session=False, url=url)["targetId"]
        self.session = self.call("Target.attachToTarget", session=False, targetId=target, flatten=True)["sessionId"]

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise CDPError("page script: %s" % result["exceptionDetails"])
        return result["result"].get("value")

    def wait_for(self, expression, timeout=30):
        """The expression's value once it is truthy (a script error while the page loads counts as
        not yet); the last value when ``timeout`` runs out."""
        deadline = time.monotonic() + timeout
        value = None
        while time.monotonic() < deadline:
            try:
                value = self.evaluate(expression)
            except CDPError:
                value = None
            if value:
                return value
            time.sleep(0.2)
        return value

    def screenshot(self, path):
        import base64  # pylint: disable=import-outside-toplevel
        with open(path, "wb") as handle:
            handle.write(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))

    def close(self):
        try:
            self.ws.close()
        except Exception:  # pylint: disable=broad-except
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)
