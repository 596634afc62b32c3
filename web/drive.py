#!/usr/bin/env python3
"""Serves the repository on 127.0.0.1 and drives headless Chromium through the DevTools
protocol over a pipe (no WebDriver, no websocket library): opens web/index.html, waits for the
page's verdict and prints it, or takes a screenshot of the demo after training.

    drive.py --test REPORT.json [--fingerprint FILE]   the browser test; exits 1 on a failure
    drive.py --screenshot FILE.png [--query Q]          the demo after training, as a PNG

Only the standard library: http.server for the files, os.pipe for the protocol. The browser is
started in a process group of its own and only that group is killed.
"""

import argparse
import base64
import functools
import http.server
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = "/usr/lib/chromium/chromium-headless-shell"


class Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {
        **http.server.SimpleHTTPRequestHandler.extensions_map,
        ".wasm": "application/wasm",
        ".js": "text/javascript",
    }

    def log_message(self, *args):
        pass

    def do_POST(self):
        """The page's verdict (`?post`), for a browser driven without the DevTools protocol."""
        if self.path != "/octet-result":
            self.send_error(404)
            return
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(204)
        self.end_headers()
        self.server.result = body
        self.server.posted.set()


def serve():
    handler = functools.partial(Quiet, directory=ROOT)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.result, server.posted = None, threading.Event()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# Firefox runs WebGPU on Linux only with these set (it uses wgpu itself, here on lavapipe).
FIREFOX_PREFS = {
    "dom.webgpu.enabled": True,
    "gfx.webgpu.ignore-blocklist": True,
    "gfx.webgpu.force-enabled": True,
}


class Launched:
    """A browser started in a process group of its own on a profile directory of its own: closing
    kills that group only and removes the profile."""

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class Firefox(Launched):
    """Headless Firefox on a fresh profile; the page posts its verdict back (`?post`)."""

    def __init__(self, binary, url):
        tmp = os.environ.get("TMPDIR", "/tmp")
        self.profile = os.path.join(tmp, f"octet-web-firefox-{os.getpid()}")
        os.makedirs(self.profile, exist_ok=True)
        with open(os.path.join(self.profile, "user.js"), "w") as f:
            for k, v in FIREFOX_PREFS.items():
                f.write(f'user_pref("{k}", {json.dumps(v)});\n')
        with open(os.path.join(tmp, "octet-web-firefox.log"), "w") as log:
            self.proc = subprocess.Popen(
                [binary, "--headless", "--no-remote", "--profile", self.profile, url],
                start_new_session=True,
                stdout=log,
                stderr=log,
            )



class Browser(Launched):
    """Chromium with --remote-debugging-pipe: it reads commands on fd 3, writes on fd 4,
    each message JSON ended by a NUL byte."""

    def __init__(self, binary, width, height, deadline):
        self.deadline = deadline
        to_child_r, self.to_child = os.pipe()
        self.from_child, from_child_w = os.pipe()
        # Out of the way of 3 and 4 before the child moves its ends there.
        hi_r = os.dup2(to_child_r, 100)
        hi_w = os.dup2(from_child_w, 101)
        for fd in (to_child_r, from_child_w):
            os.close(fd)

        def child_fds():
            os.dup2(hi_r, 3)
            os.dup2(hi_w, 4)

        tmp = os.environ.get("TMPDIR", "/tmp")
        self.profile = os.path.join(tmp, f"octet-web-{os.getpid()}")
        args = [
            binary,
            "--headless=new",
            "--no-sandbox",
            "--enable-unsafe-webgpu",
            "--remote-debugging-pipe",
            "--no-first-run",
            "--disable-gpu-sandbox",
            f"--window-size={width},{height}",
            f"--user-data-dir={self.profile}",
            "about:blank",
        ]
        # The browser's own messages, for a failure's post-mortem.
        with open(os.path.join(tmp, "octet-web-chromium.log"), "w") as log:
            self.proc = subprocess.Popen(
                args,
                preexec_fn=child_fds,
                pass_fds=(3, 4),
                start_new_session=True,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        os.close(hi_r)
        os.close(hi_w)
        self.next_id = 0
        self.buffer = b""
        self.events = []

    def send(self, method, params=None, page=None):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if page:
            msg["sessionId"] = page
        os.write(self.to_child, json.dumps(msg).encode() + b"\0")
        want = self.next_id
        while True:
            m = self.read()
            if m.get("id") == want:
                if "error" in m:
                    raise RuntimeError(f"{method}: {m['error']}")
                return m.get("result", {})
            self.events.append(m)

    def read(self):
        while b"\0" not in self.buffer:
            left = self.deadline - time.time()
            if left <= 0 or not select.select([self.from_child], [], [], left)[0]:
                raise TimeoutError("the browser did not answer in time")
            chunk = os.read(self.from_child, 1 << 20)
            if not chunk:
                raise RuntimeError("the browser closed the DevTools pipe (crashed?)")
            self.buffer += chunk
        msg, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(msg)

    def console(self):
        """The page's console lines and exceptions since the last call."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.consoleAPICalled":
                out.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"]))
            elif e.get("method") == "Runtime.exceptionThrown":
                d = p["exceptionDetails"]
                out.append("exception: " + d.get("exception", {}).get("description", d.get("text", "")))
        self.events = []
        return out



def open_page(browser, url):
    target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
    page = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
    browser.send("Runtime.enable", page=page)
    browser.send("Page.enable", page=page)
    browser.send("Page.navigate", {"url": url}, page=page)
    return page


def evaluate(browser, page, expression):
    r = browser.send("Runtime.evaluate", {"expression": expression, "returnByValue": True}, page=page)
    return r.get("result", {}).get("value")


def wait_for(browser, page, expression, deadline, what):
    while time.time() < deadline:
        value = evaluate(browser, page, expression)
        for line in browser.console():
            print("  page " + line, flush=True)
        if value:
            return value
        time.sleep(1)
    status = evaluate(browser, page, "document.getElementById('status').textContent")
    raise TimeoutError(f"{what} did not finish in time (page status: {status!r})")


def test_url(base, args, extra=""):
    return base + "/web/index.html?test" + (f"&suites={args.suites}" if args.suites else "") + extra


def chromium_result(browser, base, args, deadline):
    page = open_page(browser, test_url(base, args))
    return json.loads(wait_for(browser, page, "window.octetTest && window.octetTest.done && JSON.stringify(window.octetTest)", deadline, "the browser test"))


def firefox_result(server, base, args, deadline):
    firefox = Firefox(args.browser or "firefox-esr", test_url(base, args, "&post"))
    try:
        if not server.posted.wait(max(0.0, deadline - time.time())):
            raise TimeoutError("Firefox's page did not post its verdict in time")
        return json.loads(server.result)
    finally:
        firefox.close()


def run_test(result, args, started):
    result["engine"] = args.engine
    result["wall_seconds"] = round(time.time() - started, 1)
    checks = result.get("checks", [])
    if result.get("error"):
        checks.append({"name": "page", "passed": False, "detail": result["error"]})
    if args.fingerprint:
        with open(args.fingerprint) as f:
            native = f.read().split()[0]
        got = result.get("fingerprint")
        checks.append({
            "name": "initial weights equal the native build's",
            "passed": got == native,
            "detail": f"browser {got}, native {native} ({os.path.relpath(args.fingerprint, ROOT)})",
        })
    with open(args.test, "w") as f:
        json.dump(result, f, indent=1)
    failed = [c for c in checks if not c["passed"]]
    for c in failed:
        print(f"FAIL {c['name']}: {c['detail']}")
    a = result.get("adapter", {})
    b = a.get("browser", {})
    name = " ".join(str(b[k]) for k in ("vendor", "architecture", "description") if b.get(k))
    print(f"adapter: {name or a.get('name')} (fallback: {b.get('fallback')}); "
          f"LeNet-5 step at batch 64: DAI8 {result.get('ms_per_step_dai8_batch64', float('nan')):.1f} ms, "
          f"FP32 {result.get('ms_per_step_fp32_batch64', float('nan')):.1f} ms; "
          f"page ran {result['wall_seconds']} s")
    print(f"web: {len(checks) - len(failed)} passed, {len(failed)} failed")
    return 1 if failed or not checks else 0


def run_screenshot(browser, base, args, deadline):
    page = open_page(browser, base + "/web/index.html?autostart&" + args.query)
    wait_for(browser, page, "window.octetDemoDone === true", deadline, "the demo")
    shot = browser.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}, page=page)
    with open(args.screenshot, "wb") as f:
        f.write(base64.b64decode(shot["data"]))
    print(f"screenshot: {args.screenshot}")
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--test", metavar="REPORT", help="run the browser test, write its JSON report here")
    p.add_argument("--suites", help="only these conformance suites (comma-separated), nothing else")
    p.add_argument("--fingerprint", help="file whose first word is the native initial-weight fingerprint")
    p.add_argument("--screenshot", metavar="PNG", help="train the demo and take a screenshot")
    p.add_argument("--query", default="epochs=1&train=2000", help="demo URL parameters for --screenshot")
    p.add_argument("--timeout", type=float, default=600, help="hard limit in seconds")
    p.add_argument("--engine", choices=["chromium", "firefox"], default="chromium",
                   help="firefox: headless Firefox ESR with WebGPU forced on; the page posts its verdict")
    p.add_argument("--browser", help=f"the browser's binary (default: {CHROMIUM} or firefox-esr)")
    args = p.parse_args()
    if bool(args.test) == bool(args.screenshot):
        p.error("give one of --test and --screenshot")
    if args.engine == "firefox" and not args.test:
        p.error("--engine firefox runs --test only")
    deadline = time.time() + args.timeout
    started = time.time()
    # Chromium first: starting a child with preexec_fn is only safe before other threads run.
    browser = Browser(args.browser or CHROMIUM, 1280, 1000, deadline) if args.engine == "chromium" else None
    server = serve()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        if args.screenshot:
            return run_screenshot(browser, base, args, deadline)
        if browser:
            result = chromium_result(browser, base, args, deadline)
        else:
            result = firefox_result(server, base, args, deadline)
        return run_test(result, args, started)
    except (TimeoutError, RuntimeError) as e:
        print(f"error: {e}")
        if args.test:
            print("web: 0 passed, 1 failed")
        return 1
    finally:
        if browser:
            browser.close()
        server.shutdown()


if __name__ == "__main__":
    sys.exit(main())
