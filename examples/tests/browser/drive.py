#!/usr/bin/env python3
"""Drives a real headless Chromium through the DevTools protocol against the agent's UI.

Called by examples/tests/browser.rs, which runs the agent and changes the cluster when told:
this script prints `NEED <what>` on stdout and waits for a line on stdin. It prints
`OK <check> <detail>` for each check that passes and exits non-zero on the first failure.

    drive.py --url http://127.0.0.1:PORT --chromium /usr/bin/chromium --out DIR --token TOKEN
"""
import argparse
import base64
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import websocket  # websocket-client


class Browser:
    def __init__(self, chromium):
        self.profile = tempfile.mkdtemp(prefix="gitops-chromium-")
        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--disable-dev-shm-usage", f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             "--window-size=1280,900", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        port = None
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            raise SystemExit("FAIL chromium did not start")
        targets = json.load(urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], timeout=30)
        self.next_id = 0
        self.events = []
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Emulation.setDeviceMetricsOverride", width=1280, height=900, deviceScaleFactor=1, mobile=False)

    def call(self, method, **params):
        self.next_id += 1
        my = self.next_id
        self.ws.send(json.dumps({"id": my, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == my:
                if "error" in msg:
                    raise SystemExit(f"FAIL {method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_event(self, name, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            for i, e in enumerate(self.events):
                if e.get("method") == name:
                    del self.events[: i + 1]
                    return e
            self.ws.settimeout(max(0.05, deadline - time.time()))
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                break
        raise SystemExit(f"FAIL no {name} within {timeout}s")

    def goto(self, url):
        self.events.clear()
        self.call("Page.navigate", url=url)
        self.wait_event("Page.loadEventFired")

    def js(self, expr):
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in r:
            raise SystemExit(f"FAIL script error in {expr!r}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def wait_for(self, expr, timeout=10, step=0.02):
        start = time.time()
        while time.time() - start < timeout:
            if self.js(expr):
                return time.time() - start
            time.sleep(step)
        raise SystemExit(f"FAIL not true within {timeout}s: {expr}")

    def screenshot(self, path):
        data = self.call("Page.captureScreenshot", format="png")["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))

    def close(self):
        try:
            self.ws.close()
        finally:
            self.proc.kill()
            self.proc.wait()


def need(what):
    print(f"NEED {what}", flush=True)
    reply = sys.stdin.readline().strip()
    if reply != "DONE":
        raise SystemExit(f"FAIL the test runner answered {reply!r} to {what}")


def ok(check, detail=""):
    print(f"OK {check} {detail}".rstrip(), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", required=True)
    p.add_argument("--chromium", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--secret", action="append", default=[])
    p.add_argument("--timing-only", type=int, default=0, help="only load the list of N applications and report timings")
    a = p.parse_args()
    b = Browser(a.chromium)
    if a.timing_only:
        try:
            b.goto(a.url + "/")
            b.wait_for("document.getElementById('live').textContent.startsWith('live')")
            rows = b.js("document.querySelectorAll('#apps tbody tr').length")
            assert rows == a.timing_only, f"{rows} rows"
            timing = b.js("JSON.stringify({fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null,"
                          " load: performance.timing.loadEventEnd - performance.timing.navigationStart})")
            # Filtering 500 rows must not freeze the page: time one keystroke's filter.
            took = b.js("(() => { const t = performance.now(); const f = document.getElementById('filter-name');"
                        " f.value = 'app-42'; f.dispatchEvent(new Event('input')); return performance.now() - t; })()")
            shown = b.js("[...document.querySelectorAll('#apps tbody tr')].filter(r => !r.hidden).length")
            assert shown >= 1, "the filter hid everything"
            ok("timing", timing)
            ok("filter", f"{took:.1f}ms {shown} shown")
            assert took < 200, f"filtering took {took:.1f} ms"
        finally:
            b.close()
        print("DONE", flush=True)
        return
    try:
        row = "document.querySelector('#apps tr[data-name=\"payments\"]')"
        b.goto(a.url + "/")
        b.wait_for("document.getElementById('live').textContent.startsWith('live')")
        assert b.js(f"{row}.dataset.sync") == "Synced", "payments is not Synced at first"
        ok("list", b.js("document.getElementById('counts').textContent.replace(/\\s+/g, ' ').trim()"))
        timing = b.js("JSON.stringify({fcp: (performance.getEntriesByName('first-contentful-paint')[0] || {}).startTime || null,"
                      " load: performance.timing.loadEventEnd - performance.timing.navigationStart})")
        ok("timing", timing)
        b.screenshot(os.path.join(a.out, "applications.png"))

        # A drift made while the page is open shows without a reload, within a second.
        b.js("window.loaded = performance.timeOrigin")
        need("scale payments-prod/web")
        took = b.wait_for(f"{row}.dataset.sync === 'OutOfSync'", timeout=5)
        assert b.js("window.loaded === performance.timeOrigin"), "the page reloaded"
        ok("out-of-sync", f"{took:.3f}")
        assert took < 1.0, f"OutOfSync took {took:.3f}s to show"
        assert b.js(f"{row}.querySelector('.sync .badge').getAttribute('aria-label')") == "sync status OutOfSync"

        # With self-heal the change is reverted in a fraction of a second: the row must still
        # show OutOfSync, then Synced. Every state the row takes is recorded as it happens.
        heal = "document.querySelector('#apps tr[data-name=\"healing\"]')"
        assert b.js(f"{heal}.dataset.sync") == "Synced", "healing is not Synced at first"
        b.js("window.healSeen = []; window.healStart = performance.now();"
             " new MutationObserver(() => { const s = " + heal + ".dataset.sync;"
             " const last = window.healSeen[window.healSeen.length - 1];"
             " if (!last || last[0] !== s) window.healSeen.push([s, performance.now() - window.healStart]); })"
             ".observe(document.getElementById('apps'), {attributes: true, subtree: true, childList: true})")
        need("scale payments-dev/dev-web")
        b.wait_for("window.healSeen.some(e => e[0] === 'OutOfSync')"
                   " && window.healSeen[window.healSeen.length - 1][0] === 'Synced'", timeout=5)
        seen = b.js("JSON.stringify(window.healSeen.map(e => [e[0], Math.round(e[1])]))")
        first = b.js("window.healSeen.find(e => e[0] === 'OutOfSync')[1]")
        ok("self-heal", seen)
        assert first < 1000, f"OutOfSync took {first:.0f} ms to show: {seen}"
        assert b.js("window.loaded === performance.timeOrigin"), "the page reloaded"

        # The application page: the tree with the ReplicaSet, the diff on a click.
        b.goto(a.url + "/applications/payments")
        b.wait_for("document.getElementById('live').textContent.startsWith('live')")
        kinds = b.js("[...document.querySelectorAll('#tree li')].map(li => li.dataset.kind + (li.classList.contains('depth-1') ? '^' : ''))")
        assert "Deployment" in kinds and "ReplicaSet^" in kinds, f"tree: {kinds}"
        ok("tree", ",".join(kinds))
        b.screenshot(os.path.join(a.out, "application.png"))
        b.js("document.querySelector('#tree li[data-kind=\"Deployment\"] .node-head').click()")
        diff = b.js("document.querySelector('#tree li[data-kind=\"Deployment\"] .node-body').innerText")
        assert "replicas" in diff, f"diff: {diff}"
        # No self-heal: the drift was only compared, and the node says nothing was written, and
        # who made the change (the field manager that owns the drifted field).
        assert "dry run: nothing written" in diff, f"diff: {diff}"
        assert "drift made by: kubectl" in diff, f"diff: {diff}"
        ok("diff", "replicas")
        b.js("document.getElementById('opt-split').click()")
        split = b.js("[...document.querySelectorAll('#tree li[data-kind=\"Deployment\"] table.split tr.change')].map(r => r.innerText)")
        assert any("replicas" in r for r in split), f"side by side: {split}"
        ok("side-by-side", str(len(split)))
        b.js("document.querySelector('#tree li[data-kind=\"Deployment\"]').scrollIntoView()")
        b.screenshot(os.path.join(a.out, "diff.png"))
        html = b.js("document.documentElement.outerHTML")
        for s in a.secret:
            assert s not in html and base64.b64encode(s.encode()).decode() not in html, "a Secret value reached the page"
        ok("no-secret")

        # A selective sync of the Service alone, with the token: the Deployment stays drifted.
        b.js(f"document.getElementById('token').value = {json.dumps(a.token)}")
        b.js("document.querySelector('#tree li[data-kind=\"Service\"] input.select').click()")
        b.js("document.querySelector('button[data-action=\"sync-selected\"]').click()")
        b.wait_for("document.getElementById('action-result').dataset.status === '200'")
        ok("sync-selected", b.js("document.getElementById('action-result').textContent"))
        b.wait_for("document.getElementById('app-sync').textContent === 'OutOfSync'", timeout=5)
        b.js("document.getElementById('token').value = ''")
        b.js("sessionStorage.clear()")
        b.js("document.getElementById('action-result').dataset.status = ''")

        # Sync without the token: refused; with it: done, and the page follows.
        b.js("document.querySelector('button[data-action=\"sync\"]').click()")
        b.wait_for("document.getElementById('action-result').dataset.status === '401'")
        ok("sync-refused", "401")
        b.js(f"document.getElementById('token').value = {json.dumps(a.token)}")
        b.js("document.getElementById('action-result').dataset.status = ''")
        b.js("document.querySelector('button[data-action=\"sync\"]').click()")
        b.wait_for("document.getElementById('action-result').dataset.status === '200'")
        b.wait_for("document.getElementById('app-sync').textContent === 'Synced'", timeout=5)
        ok("sync", b.js("document.getElementById('action-result').textContent"))
        b.js("document.getElementById('action-result').dataset.status = ''")
        b.js("document.querySelector('button[data-action=\"rollback\"]').click()")
        b.wait_for("document.getElementById('action-result').dataset.status === '200'")
        ok("rollback", b.js("document.getElementById('action-result').textContent"))
    finally:
        b.close()
    print("DONE", flush=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"FAIL {e}", flush=True)
        sys.exit(1)
