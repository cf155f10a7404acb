#!/usr/bin/env python3
"""An RPA robot for rpa-orchestrator: Playwright driving Debian's Chromium against a web portal.

Persistent mode (default; run the worker with --handler-mode persistent): starts the browser
once, logs in once, then reads one JSON line per job on stdin and answers one JSON line on
stdout. Exec mode (`robot.py --exec`): one job from stdin, one browser, output on stdout, exit 0
on success; use it with the worker's default --handler-mode exec.

A job's payload is JSON:
  {"record": "R-17", "amount": "12.50"}     open /record/R-17, fill the form, submit
  {"visit": "/leak"}                        also visit a misbehaving page first (/leak, /hang,
                                            /slow?ms=N) before the record, if any
Answers: {"status":"ok","output":{"record":...,"confirmation":...}} or
         {"status":"failed","error":"..."} (+ "restart": true when the browser is beyond saving).

Environment: PORTAL_URL (required), RPA_USER, RPA_PASSWORD (the portal login),
CHROMIUM_PATH (default /usr/lib/chromium/chromium: /usr/bin/chromium is a shell wrapper),
ROBOT_TIMEOUT_MS (default 15000, per page action; /hang waits for --job-timeout instead).
Everything the robot logs goes to stderr (the worker's log); stdout carries answers only.
"""
import json
import os
import sys
import time

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/lib/chromium/chromium")
PORTAL = os.environ.get("PORTAL_URL", "").rstrip("/")
TIMEOUT_MS = int(os.environ.get("ROBOT_TIMEOUT_MS", "15000"))


def log(event, **fields):
    stamp = time.strftime("%H:%M:%S")
    extra = " ".join(f"{k}={v}" for k, v in fields.items())
    print(f"[{stamp}] robot pid={os.getpid()} {event} {extra}".rstrip(), file=sys.stderr, flush=True)


class JobFailed(Exception):
    """A failure of this job only: the browser is fine."""


class Robot:
    def __init__(self, playwright):
        self.playwright = playwright
        self.browser = None
        self.context = None
        self.page = None
        self.leak_page = None

    # --- browser lifecycle -------------------------------------------------------------------
    def start_browser(self):
        args = ["--disable-dev-shm-usage", "--disable-gpu"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run its sandbox as root
        self.browser = self.playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        self.context = self.browser.new_context()
        self.context.set_default_timeout(TIMEOUT_MS)
        self.page = self.context.new_page()
        self.leak_page = None
        log("browser.started", version=self.browser.version)
        self.login()

    def close(self):
        try:
            if self.browser is not None:
                self.browser.close()
        except PlaywrightError:
            pass
        self.browser = None

    def alive(self):
        return self.browser is not None and self.browser.is_connected()

    def login(self):
        user, password = os.environ.get("RPA_USER", ""), os.environ.get("RPA_PASSWORD", "")
        if not user or not password:
            raise JobFailed("RPA_USER and RPA_PASSWORD must be set in the environment")
        self.page.goto(f"{PORTAL}/login")
        self.page.fill("#user", user)
        self.page.fill("#password", password)
        self.page.click("#login")
        self.page.wait_for_load_state()
        if self.page.locator("#error").count():
            raise JobFailed("login refused: " + self.page.inner_text("#error"))
        log("login.ok")

    # --- one job -----------------------------------------------------------------------------
    def run(self, payload):
        try:
            job = json.loads(payload)
        except ValueError:
            raise JobFailed(f"payload is not JSON: {payload[:80]!r}")
        if not isinstance(job, dict):
            raise JobFailed("payload must be a JSON object")
        if job.get("visit"):
            self.visit(str(job["visit"]))
        if job.get("record") is None:
            return {"visited": job.get("visit")}
        return self.submit(str(job["record"]), str(job.get("amount", "1.00")))

    def visit(self, path):
        if path.startswith("/leak"):
            # The robot's leak: it keeps one tab on the portal's single-page app, which never
            # frees what it loads; every visit adds ~30 MB to that renderer's heap.
            if self.leak_page is not None and not self.leak_page.is_closed():
                self.leak_page.click("#more")
                return
            self.leak_page = self.context.new_page()
            try:
                self.leak_page.goto(f"{PORTAL}{path}")
            except PlaywrightError:
                self.leak_page.close()
                self.leak_page = None
                raise
            return
        if path.startswith("/hang"):
            self.page.goto(f"{PORTAL}{path}", timeout=0)  # waits until --job-timeout kills us
            return
        self.page.goto(f"{PORTAL}{path}")

    def submit(self, record, amount):
        self.page.goto(f"{PORTAL}/record/{record}")
        if "/login" in self.page.url:  # the session expired: log in again, once
            log("session.expired")
            self.login()
            self.page.goto(f"{PORTAL}/record/{record}")
        if self.page.locator("#error").count():
            raise JobFailed(self.page.inner_text("#error"))
        self.page.fill("#amount", amount)
        self.page.click("#submit")
        number = self.page.inner_text("#confirmation")
        return {"record": record, "confirmation": number}


def first_line(error):
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def answer(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def persistent(robot):
    try:
        robot.start_browser()
    except (JobFailed, PlaywrightError) as e:
        log("browser.start_failed", error=first_line(e))  # retried before the first job
        robot.close()
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        payload = request.get("payload", "")
        log("job.start", id=request.get("id", "")[:12], attempt=request.get("attempt"))
        try:
            if not robot.alive():
                log("browser.gone", action="relaunching")
                robot.close()
                robot.start_browser()
            answer({"status": "ok", "output": robot.run(payload)})
        except JobFailed as e:
            answer({"status": "failed", "error": str(e)})
        except PlaywrightError as e:
            if robot.alive():
                answer({"status": "failed", "error": f"browser error: {first_line(e)}"})
            else:
                # The browser died under this job (crash, OOM kill): fail it, start a fresh one.
                log("browser.died", error=first_line(e))
                answer({"status": "failed", "error": f"browser died: {first_line(e)}"})
                robot.close()  # a fresh browser starts before the next job
    robot.close()
    log("exit", reason="stdin closed")


def exec_once(robot):
    payload = sys.stdin.read()
    try:
        robot.start_browser()
        print(json.dumps(robot.run(payload)))
        return 0
    except (JobFailed, PlaywrightError) as e:
        print(first_line(e), file=sys.stderr)
        return 2
    finally:
        robot.close()


def main():
    if not PORTAL:
        print("robot: PORTAL_URL is not set", file=sys.stderr)
        return 64
    if not os.access(CHROMIUM, os.X_OK):
        print(f"robot: CHROMIUM_PATH {CHROMIUM} is not an executable (apt-get install chromium)", file=sys.stderr)
        return 64
    with sync_playwright() as p:
        robot = Robot(p)
        if "--exec" in sys.argv[1:]:
            return exec_once(robot)
        persistent(robot)
        return 0


if __name__ == "__main__":
    sys.exit(main())
