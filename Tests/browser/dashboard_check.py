"""Drives the dashboard in Debian's Chromium (Playwright) against a running orchestrator.

Run by Tests/EndToEndTests/DashboardBrowserTests.swift. Each check prints `ok <what>`; the first
failure prints `FAIL <what>: <detail>` and exits 1. Arguments (JSON on argv[1]):
  url, viewer_url, token, redis_port, redis_restart (argv list), redis_stop (argv list), out, screenshot,
  flag (a file whose existence makes the emissao handler succeed; until then its jobs die at once)
"""
import json
import subprocess
import sys
import time
import urllib.request
import urllib.error

from playwright.sync_api import sync_playwright

cfg = json.loads(sys.argv[1])
CHROMIUM = "/usr/lib/chromium/chromium"


CONSOLE = []  # (phase, text): the pages' console errors, printed with a failure


def fail(what, detail=""):
    print(f"FAIL {what}: {detail}", flush=True)
    if CONSOLE:
        print(f"  console errors so far: {CONSOLE[-10:]}", flush=True)
    sys.exit(1)


def ok(what):
    print(f"ok {what}", flush=True)


def redis(*args):
    return subprocess.run(["redis-cli", "-p", str(cfg["redis_port"]), *args], capture_output=True, text=True, check=True).stdout.strip()


def wait(what, predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # the page may be re-rendering
            last = e
        time.sleep(0.1)
    fail(what, f"not within {timeout} s (last: {last!r})")


def stat(page, queue, key):
    return page.locator(f'article[data-queue="{queue}"] [data-stat="{key}"] b').inner_text()


def post(url, token=None):
    req = urllib.request.Request(url, method="POST", data=b"")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def get_json(url, token=None):
    req = urllib.request.Request(url)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, None


XSS = "<img src=x onerror=alert(1)>\x1b[31m red\x07 bell"
GOOD = "requeue-me-1"


def seed_history():
    """An hour of minute samples for conferencia (a backlog that rose and drained) and emissao, as
    the orchestrator writes them, so the charts have history from Redis to draw."""
    import math
    now_min = int(time.time() // 60) * 60_000
    for queue, peak in (("conferencia", 480), ("emissao", 60)):
        for i in range(60, 0, -1):
            minute = now_min - i * 60_000
            x = (60 - i) / 59
            pending = int(peak * max(0.0, math.sin(math.pi * min(1.0, x * 1.3))))
            workers = min(10, math.ceil(pending / 50))
            redis("XADD", f"orchestrator:fila:history:{queue}", f"{minute}-1", "minute", str(minute), "pending", str(pending),
                  "in_flight", str(workers), "retry", "0", "target", str(workers), "busy", str(workers), "idle", "0", "draining", "0",
                  "done", str(workers * 25), "failed", "0", "dead", "0", "pss_max", "0", "p50_s", "2.5", "p95_s", "10", "max_s", "30",
                  "rate_1m", "", "rate_5m", "", "rate_15m", "")


seed_history()
# Two jobs that die at once (the emissao handler fails until the flag file exists, --max-attempts 1).
redis("LPUSH", "fila:emissao", XSS, GOOD)

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
    console = CONSOLE
    phase = ["normal"]

    def on_console(msg):
        if msg.type == "error":
            console.append((phase[0], msg.text))

    page = browser.new_page(viewport={"width": 1280, "height": 1000})
    page.on("console", on_console)
    page.on("pageerror", lambda e: console.append((phase[0], "exception: " + str(e))))
    page.goto(cfg["url"])
    wait("both queue cards shown", lambda: page.locator('article[data-queue="conferencia"]').count() == 1
         and page.locator('article[data-queue="emissao"]').count() == 1)
    ok("both queues shown")
    # 60 seeded minutes, 59 or 60 of them inside the last hour depending on the second.
    wait("the chart draws the hour of history from Redis", lambda: int(page.locator('article[data-queue="conferencia"] svg.chart').get_attribute("data-points") or "0") >= 55, timeout=15)
    ok("history from Redis drawn")

    # Load: 300 jobs; pending and the workers change on the page without a reload.
    before_points = int(page.locator('article[data-queue="conferencia"] svg.chart').get_attribute("data-points") or "0")
    redis("LPUSH", "fila:conferencia", *[f"job-{i}" for i in range(300)])
    t0 = time.monotonic()
    wait("pending shows the pushed jobs", lambda: int(stat(page, "conferencia", "pending").replace(",", "")) >= 200, timeout=3)
    wait("workers start on the page", lambda: page.locator('#workers tbody tr[data-pid]').count() >= 3, timeout=6)
    ok(f"pending and workers updated live ({time.monotonic() - t0:.1f} s after the push)")
    wait("the chart grows", lambda: int(page.locator('article[data-queue="conferencia"] svg.chart').get_attribute("data-points") or "0") > before_points + 2, timeout=30)  # a live sample every refresh; slow under a loaded machine
    ok("chart grows")

    # Dead letters: both dead jobs in emissao's table; the XSS payload is text, not markup.
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    rows = '.deadq[data-queue="emissao"] tbody tr[data-id]'
    # Payloads are behind the token: without it the page says so and the API answers 401.
    wait("the dead-letter area asks for the token", lambda: page.locator('#dead [data-part="locked"]').count() == 1, timeout=15)
    if page.locator(rows).count() != 0:
        fail("dead letters shown without the token")
    for path in ("api/dead?queue=emissao", "api/jobs/anything"):
        status = get_json(cfg["url"] + path)[0]
        if status != 401:
            fail(f"GET /{path} without the token", f"HTTP {status}")
    ok("dead letters and job records need the token: the page asks for it, GET /api/dead and /api/jobs/ID answer 401")
    page.fill("#token", cfg["token"])
    page.click("#tokensave")
    wait("both dead jobs in the dead-letter table", lambda: page.locator(rows).count() == 2, timeout=15)
    items = get_json(cfg["url"] + "api/dead?queue=emissao", cfg["token"])[1]["items"]
    ids = {i["payload"]: i["id"] for i in items}
    page.click(f'{rows}[data-id="{ids[XSS]}"]')
    wait("the panel shows the payload", lambda: "<img src=x onerror=alert(1)>" in page.locator('#panel pre[data-part="payload"]').inner_text())
    shown = page.locator('#panel pre[data-part="payload"]').inner_text()
    if "\u241b[31m" not in shown or "\u2407" not in shown:
        fail("control characters shown as symbols", repr(shown))
    if page.locator("#dead img, #panel img").count() != 0 or dialogs:
        fail("the payload was parsed as HTML", f"img elements: {page.locator('#dead img, #panel img').count()}, dialogs: {dialogs}")
    wait("the panel says where the job is", lambda: page.locator('#panel [data-fact="state"]').inner_text().startswith("dead"))
    ok("dead letters: table rows, panel with payload and error; <img onerror> and control characters shown as text")

    # Hover read-out on a chart: the values of the nearest sample.
    chart = page.locator('article[data-queue="conferencia"] svg.chart')
    box = chart.bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.4)
    readout = 'article[data-queue="conferencia"] .readout.on'
    wait("hover read-out", lambda: page.locator(readout).count() == 1 and "pending " in page.locator(readout).inner_text())
    text = page.locator(readout).inner_text()
    import re
    if not re.search(r"pending [0-9][0-9,]* · workers [0-9]", text):
        fail("hover read-out values", text)
    ok(f"hover read-out: {text}")
    page.screenshot(path=cfg["out"] + "/dashboard.png", full_page=True)
    if cfg.get("screenshot"):
        page.screenshot(path=cfg["screenshot"], full_page=False)
    ok("screenshot saved")

    # Without the token: the endpoint refuses (401).
    status = post(cfg["url"] + "api/queues/conferencia/pause")
    if status != 401:
        fail("POST without the token", f"HTTP {status}")
    ok("POST without the token: 401")

    # With the token: pause from the page, the badge shows and the workers drain; then resume.
    page.fill("#token", cfg["token"])
    page.click("#tokensave")
    page.click('article[data-queue="conferencia"] button[data-action="pause"]')
    wait("paused badge", lambda: page.locator('article[data-queue="conferencia"] .badge.paused').count() == 1, timeout=5)
    # (emissao's worker, started for the jobs that died, may still be idle: count conferencia's only)
    wait("workers drain after pause", lambda: page.locator('#workers tbody tr[data-queue="conferencia"]').count() == 0, timeout=20)
    ok("pause: badge shown, workers drained")
    page.click('article[data-queue="conferencia"] button[data-action="resume"]')
    wait("badge gone after resume", lambda: page.locator('article[data-queue="conferencia"] .badge.paused').count() == 0, timeout=5)
    wait("workers back after resume", lambda: page.locator('#workers tbody tr[data-pid]').count() >= 1, timeout=10)
    ok("resume: workers back")

    # Requeue from the page: the job runs (the handler now succeeds) and GET /api/jobs/ID finds its result.
    page.keyboard.press("Escape")
    page.click(f'{rows}[data-id="{ids[GOOD]}"]')
    wait("the good job's panel", lambda: page.locator('#panel button[data-action="requeue"]').count() == 1)
    open(cfg["flag"], "w").close()
    page.click('#panel button[data-action="requeue"]')
    wait("the panel follows the job to done", lambda: page.locator('#panel [data-fact="state"]').inner_text().startswith("done"), timeout=20)
    status, job = get_json(cfg["url"] + "api/jobs/" + ids[GOOD], cfg["token"])
    if status != 200 or job["state"] != "done" or GOOD not in json.dumps(job.get("result")):
        fail("GET /api/jobs/ID after the requeue", f"HTTP {status}: {job}")
    if GOOD not in page.locator('#panel pre[data-part="result"]').inner_text():
        fail("the panel shows the result", page.locator("#panel").inner_text())
    wait("the requeued row leaves the table", lambda: page.locator(rows).count() == 1)
    ok("requeued from the page: done, result found by GET /api/jobs/ID and shown in the panel")

    # The job search box finds it too; Delete removes the XSS dead letter (after a confirm).
    page.keyboard.press("Escape")
    page.fill("#jobid", ids[GOOD])
    page.click("#jobfind")
    wait("search finds the job done", lambda: "done" in page.locator("#jobmsg").inner_text())
    page.keyboard.press("Escape")
    page.click(f'{rows}[data-id="{ids[XSS]}"] button[data-action="delete"]')
    wait("deleted from the page", lambda: page.locator(rows).count() == 0)
    if not dialogs:
        fail("delete asks first")
    ok("job search finds it; Delete asks, then removes the dead letter")

    # Redis stops: the page says so instead of going blank; it recovers when Redis is back.
    phase[0] = "outage"
    subprocess.run(cfg["redis_stop"], check=False, capture_output=True)
    wait("unreachable banner", lambda: "Redis unreachable" in page.locator("#banner").inner_text(), timeout=10)
    if page.locator('article[data-queue="conferencia"]').count() != 1:
        fail("cards kept during the outage")
    ok("Redis down: banner shown, last state kept")
    subprocess.run(cfg["redis_restart"], check=True, capture_output=True)
    wait("page recovers", lambda: not page.locator("#banner").is_visible(), timeout=15)
    phase[0] = "normal"
    ok("Redis back: page recovered")

    # The read-only viewer (no token configured): no action buttons, POST refused.
    viewer = browser.new_page(viewport={"width": 390, "height": 844})  # a phone's width
    viewer.on("console", on_console)
    viewer.on("pageerror", lambda e: console.append(("normal", "exception: " + str(e))))
    viewer.goto(cfg["viewer_url"])
    wait("viewer shows the queues", lambda: viewer.locator('article[data-queue="conferencia"]').count() == 1)
    time.sleep(1.5)
    if viewer.locator("button[data-action]").count() != 0 or viewer.locator("#tokenform").is_visible():
        fail("viewer without a token shows actions")
    wide = viewer.evaluate("document.documentElement.scrollWidth")
    if wide > 420:
        fail("phone width", f"the page is {wide} px wide at 390")
    status = post(cfg["viewer_url"] + "api/queues/conferencia/pause", cfg["token"])
    if status != 403:
        fail("viewer POST", f"HTTP {status}")
    ok("viewer: no actions, POST refused (403), fits a phone")

    # A queue key of the wrong type: that card says so with the key and the reason; the others go on.
    redis("DEL", "fila:emissao")
    redis("HSET", "fila:emissao", "a", "1")
    card = 'article[data-queue="emissao"] p.unreadable'
    wait("the unreadable card", lambda: page.locator(card).count() == 1)
    text = page.locator(card).inner_text()
    if "fila:emissao" not in text or "WRONGTYPE" not in text:
        fail("unreadable card", text)
    if page.locator('article[data-queue="conferencia"] p.unreadable').count() != 0 or page.locator("#banner").is_visible():
        fail("the other queue is shown as usual")
    redis("DEL", "fila:emissao")
    wait("the card is readable again", lambda: page.locator(card).count() == 0)
    ok("a key of the wrong type: its card names the key and WRONGTYPE; the others as usual")

    errors = [t for ph, t in console if not (ph == "outage" and "503" in t)]
    if errors:
        fail("console errors", errors)
    ok(f"no console errors ({len(console)} expected 503 messages during the outage)")
    browser.close()
print("dashboard browser check: all ok")
