#!/usr/bin/env python3
"""The original design, for comparison only (scripts/bench rpa): one Python process whose
ThreadPoolManager runs N threads, each thread driving its own Playwright browser with the same
robot code (examples/rpa/robot.py), all in one process tree.

    seed_threads.py --threads 4 --jobs 300 --leak-mb 10 [--kill-browser-at 20] [--hang-job]

Prints one JSON line: jobs ok / failed / never finished, the peak RSS and PSS of the process tree
(sampled every 0.2 s), how long it took, and what each thread saw after a browser was killed.
"""
import argparse
import json
import os
import queue
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robot as robotlib  # noqa: E402  (the same robot the product runs)
from playwright.sync_api import Error as PlaywrightError  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402


def tree_memory(root):
    """(RSS, PSS) in bytes of root and its descendants, from /proc."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(name))
        except (OSError, IndexError, ValueError):
            pass
    rss = pss = 0
    stack = [root]
    while stack:
        pid = stack.pop()
        stack.extend(children.get(pid, []))
        try:
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
                    elif line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
        except OSError:
            pass
    return rss, pss


def browser_mains(root):
    """Chromium main processes (no --type=) below root."""
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/cmdline", "rb") as f:
                cmd = f.read().split(b"\0")
        except OSError:
            continue
        if cmd and cmd[0].endswith(b"/chromium") and not any(a.startswith(b"--type=") for a in cmd):
            pid = int(name)
            p = pid
            while p > 1:
                try:
                    with open(f"/proc/{p}/stat") as f:
                        p = int(f.read().rsplit(")", 1)[1].split()[1])
                except OSError:
                    break
                if p == root:
                    found.append(pid)
                    break
    return sorted(found)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--leak-mb", type=int, default=10)
    parser.add_argument("--kill-browser-at", type=int, default=0, help="SIGKILL one thread's browser after this many jobs done")
    parser.add_argument("--hang-job", action="store_true", help="the first job opens /hang")
    parser.add_argument("--deadline", type=float, default=600, help="give up waiting after this many seconds")
    args = parser.parse_args()

    jobs = queue.Queue()
    if args.hang_job:
        jobs.put(json.dumps({"visit": "/hang", "record": "HANG"}))
    for i in range(args.jobs):
        jobs.put(json.dumps({"visit": f"/leak?mb={args.leak_mb}", "record": f"S-{i}"}))
    total = jobs.qsize()
    lock = threading.Lock()
    counts = {"ok": 0, "failed": 0}
    errors = {}
    peak = {"rss": 0, "pss": 0}
    stop = threading.Event()

    def sampler():
        while not stop.is_set():
            rss, pss = tree_memory(os.getpid())
            peak["rss"], peak["pss"] = max(peak["rss"], rss), max(peak["pss"], pss)
            time.sleep(0.2)

    def worker(n):
        with sync_playwright() as p:
            r = robotlib.Robot(p)
            try:
                r.start_browser()
            except Exception as e:  # noqa: BLE001 - the seed had no isolation either
                errors[n] = [f"start: {robotlib.first_line(e)}"]
            while not stop.is_set():
                try:
                    payload = jobs.get_nowait()
                except queue.Empty:
                    break
                try:
                    r.run(json.loads(payload))
                    with lock:
                        counts["ok"] += 1
                except (robotlib.JobFailed, PlaywrightError) as e:  # the seed logged and moved on
                    with lock:
                        counts["failed"] += 1
                        errors.setdefault(n, []).append(robotlib.first_line(e)[:80])

    threading.Thread(target=sampler, daemon=True).start()
    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(1, args.threads + 1)]
    start = time.time()
    for t in threads:
        t.start()
    killed = False
    while time.time() - start < args.deadline and any(t.is_alive() for t in threads):
        if args.kill_browser_at and not killed and counts["ok"] >= args.kill_browser_at:
            mains = browser_mains(os.getpid())
            if mains:
                os.kill(mains[0], signal.SIGKILL)  # one robot's browser dies (OOM, crash)
                killed = True
        time.sleep(0.1)
    elapsed = time.time() - start
    stop.set()
    finished = counts["ok"] + counts["failed"]
    print(json.dumps({
        "design": "seed: 1 process, %d threads, a browser each" % args.threads,
        "jobs": total, "ok": counts["ok"], "failed": counts["failed"], "never_finished": total - finished,
        "peak_tree_rss_mb": peak["rss"] >> 20, "peak_tree_pss_mb": peak["pss"] >> 20,
        "seconds": round(elapsed, 1), "browser_killed": killed,
        "errors_by_thread": {k: {"count": len(v), "first": v[0]} for k, v in errors.items()},
    }), flush=True)
    os._exit(0)  # threads stuck on a hung page cannot be joined: that is the point


if __name__ == "__main__":
    main()
