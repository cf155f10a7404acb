#!/usr/bin/env python3
"""A mock web portal for RPA robots: login, one record page per job, a form to submit, a
confirmation number, and pages that misbehave on purpose. Standard library only; loopback only.

    portal.py --port 0 --port-file /tmp/portal.port [--session-minutes 30]

Credentials: PORTAL_USER / PORTAL_PASSWORD (default robot / secret). Misbehaving pages:
  /leak?mb=N   keeps ~N MB (default 30) in the page's JavaScript heap, N MB more per click on #more
  /hang        never finishes loading (the response is held open)
(A crashed browser is made by killing its main process: the tests do that with SIGKILL.)
  /slow?ms=N   answers after N milliseconds
Counters for tests: GET /stats -> {"logins": n, "submissions": n, "confirmations": {...}}
"""
import argparse
import hashlib
import html
import json
import os
import secrets
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

LOCK = threading.Lock()
STATS = {"logins": 0, "submissions": 0, "leaks": 0, "confirmations": {}}
SESSIONS = {}  # token -> expiry (epoch seconds)
SESSION_SECONDS = 1800
USER = os.environ.get("PORTAL_USER", "robot")
PASSWORD = os.environ.get("PORTAL_PASSWORD", "secret")


def confirmation_for(record):
    """Deterministic, so tests can check the robot submitted the right record."""
    return "C-" + hashlib.sha1(record.encode()).hexdigest()[:8].upper()


def page(title, body):
    return f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>{body}</body></html>"


class Portal(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: tests read /stats, not logs
        pass

    def send(self, status, body, content_type="text/html; charset=utf-8", headers=None):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def session_ok(self):
        cookie = self.headers.get("Cookie", "")
        for part in cookie.split(";"):
            name, _, value = part.strip().partition("=")
            if name == "session":
                with LOCK:
                    expiry = SESSIONS.get(value)
                return expiry is not None and expiry > time.time()
        return False

    def redirect_to_login(self, target):
        self.send(303, "", headers={"Location": f"/login?next={target}"})

    def do_GET(self):
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/stats":
            with LOCK:
                return self.send(200, json.dumps(STATS), "application/json")
        if url.path == "/":
            return self.send(200, page("Portal", "<p id='home'>Welcome</p>"))
        if url.path == "/login":
            nxt = html.escape(query.get("next", ["/"])[0])
            return self.send(200, page("Login", f"""
                <form method='post' action='/login'>
                  <input type='hidden' name='next' value='{nxt}'>
                  <input id='user' name='user'><input id='password' name='password' type='password'>
                  <button id='login' type='submit'>Sign in</button>
                </form>"""))
        if url.path == "/hang":
            time.sleep(3600)
            return
        if url.path == "/slow":
            time.sleep(int(query.get("ms", ["1000"])[0]) / 1000)
            return self.send(200, page("Slow", "<p id='done'>slow page loaded</p>"))
        if url.path == "/leak":
            with LOCK:
                STATS["leaks"] += 1
            # N MB of filled (resident) arrays kept alive by the page on load, and N MB more per click on
            # #more (a single-page app that never frees what it loaded): the renderer's heap grows.
            try:
                mb = max(1, min(500, int(query.get("mb", ["30"])[0])))
            except ValueError:
                return self.send(400, page("Bad request", "<p id='error'>mb must be a number</p>"))
            return self.send(200, page("Leak", """
                <p id='done'>leaking</p><button id='more' onclick='leak()'>more</button>
                <script>
                  const MB = MB_PER_VISIT;
                  window.__leak = [];
                  function leak() {
                    const chunk = [];
                    for (let i = 0; i < MB; i++) chunk.push(new Uint8Array(1 << 20).fill(1 + i % 250));
                    window.__leak.push(chunk);
                    document.getElementById('done').textContent = 'leaked ' + window.__leak.length;
                  }
                  leak();
                </script>""".replace("MB_PER_VISIT", str(mb))))
        if url.path.startswith("/record/"):
            if not self.session_ok():
                return self.redirect_to_login(url.path)
            record = url.path[len("/record/"):]
            if record.startswith("missing"):
                return self.send(404, page("Not found", f"<p id='error'>record {html.escape(record)} does not exist</p>"))
            return self.send(200, page(f"Record {record}", f"""
                <h1 id='record'>{html.escape(record)}</h1>
                <form method='post' action='/submit'>
                  <input type='hidden' name='record' value='{html.escape(record)}'>
                  <input id='amount' name='amount'>
                  <button id='submit' type='submit'>Submit</button>
                </form>"""))
        return self.send(404, page("Not found", "<p id='error'>no such page</p>"))

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0") or 0)
        if length > 1 << 20:
            return self.send(413, page("Too large", "<p id='error'>request too large</p>"))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        if self.path == "/login":
            if form.get("user") != USER or form.get("password") != PASSWORD:
                return self.send(401, page("Login failed", "<p id='error'>wrong user or password</p>"))
            token = secrets.token_hex(16)
            with LOCK:
                STATS["logins"] += 1
                SESSIONS[token] = time.time() + SESSION_SECONDS
            return self.send(303, "", headers={"Location": form.get("next") or "/", "Set-Cookie": f"session={token}; Path=/; HttpOnly"})
        if self.path == "/submit":
            if not self.session_ok():
                return self.redirect_to_login("/")
            record = form.get("record", "")
            number = confirmation_for(record + "|" + form.get("amount", ""))
            with LOCK:
                STATS["submissions"] += 1
                STATS["confirmations"][record] = number
            return self.send(200, page("Confirmed", f"<p>Submitted</p><p id='confirmation'>{number}</p>"))
        return self.send(404, page("Not found", "<p id='error'>no such form</p>"))


def main():
    global SESSION_SECONDS
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=0, help="0 = any free port")
    parser.add_argument("--port-file", help="write the chosen port here once listening")
    parser.add_argument("--session-minutes", type=float, default=30)
    args = parser.parse_args()
    SESSION_SECONDS = args.session_minutes * 60
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Portal)
    server.daemon_threads = True
    port = server.server_address[1]
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(port))
        os.replace(tmp, args.port_file)
    print(f"portal listening on http://127.0.0.1:{port}", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
