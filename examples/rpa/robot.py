#!/usr/bin/env python3
"""An RPA robot for rpa-orchestrator: Playwright driving Debian's Chromium against a web portal.

Written on the Python SDK (clients/python, `pip install ./clients/python`): `setup` starts the
browser and logs in once per handler process, `run` does one job, `teardown` closes the browser;
`rpa_orchestrator.serve` speaks the worker's protocol in both handler modes. Run the worker with
--handler-mode persistent (one browser per worker, reused); `robot.py --exec` is the
one-browser-per-job variant for the worker's default --handler-mode exec.

A job's payload is JSON:
  {"record": "R-17", "amount": "12.50"}     open /record/R-17, fill the form, submit
  {"visit": "/leak"}                        also visit a misbehaving page first (/leak, /hang,
                                            /slow?ms=N) before the record, if any
Output: {"record": ..., "confirmation": ...}. A missing record fails the job with the portal's
message; a browser that died under a job fails it and asks for a fresh robot (Restart).

Environment: PORTAL_URL (required), RPA_USER, RPA_PASSWORD (the portal login),
CHROMIUM_PATH (default /usr/lib/chromium/chromium: /usr/bin/chromium is a shell wrapper),
ROBOT_TIMEOUT_MS (default 15000, per page action; /hang waits for --job-timeout instead).
Everything the robot logs goes to stderr (the worker's log); stdout carries answers only.
"""
import os
import sys
import time

from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import sync_playwright
from rpa_orchestrator import Job, Restart, serve

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
    def run(self, job):
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


# --- the handler: rpa_orchestrator.serve speaks the worker's protocol -----------------------------
def setup():
    """Once per handler process: Playwright, the browser, the login."""
    playwright = sync_playwright().start()
    robot = Robot(playwright)
    try:
        robot.start_browser()
    except (JobFailed, PlaywrightError):
        robot.close()
        playwright.stop()
        raise  # each job then fails with "setup failed: ..." and a fresh robot is started
    return robot


def run(job: Job, robot: Robot):
    log("job.start", id=job.id[:12], attempt=job.attempt)
    if not robot.alive():  # it died between jobs: this job is not to blame
        log("browser.gone", action="relaunching")
        robot.close()
        robot.start_browser()
    try:
        payload = job.json()
    except ValueError:
        raise JobFailed(f"payload is not JSON: {job.payload[:80]!r}")
    try:
        return robot.run(payload)
    except PlaywrightError as e:
        if robot.alive():
            raise JobFailed(f"browser error: {first_line(e)}")
        # The browser died under this job (crash, OOM kill): fail it, a fresh robot takes the next.
        log("browser.died", error=first_line(e))
        raise Restart(f"browser died: {first_line(e)}")


def teardown(robot: Robot):
    robot.close()
    robot.playwright.stop()
    log("exit", reason="stdin closed")


def main():
    if not PORTAL:
        print("robot: PORTAL_URL is not set", file=sys.stderr)
        return 64
    if not os.access(CHROMIUM, os.X_OK):
        print(f"robot: CHROMIUM_PATH {CHROMIUM} is not an executable (apt-get install chromium)", file=sys.stderr)
        return 64
    serve(run, setup=setup, teardown=teardown, mode="exec" if "--exec" in sys.argv[1:] else None)


if __name__ == "__main__":
    sys.exit(main())
