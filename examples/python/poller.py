#!/usr/bin/env python3
"""A producer on the Python SDK: reads records (one per line, from a file or stdin) and enqueues
one job per record on a queue, 1,000 per round trip. Optionally waits for each job's result.

    poller.py --queue conferencia records.txt           # enqueue, print the job ids
    poller.py --queue conferencia --wait 60 records.txt # and wait for each result (by job id)

REDIS_URL / REDIS_PASSWORD come from the environment; QUEUE_PREFIX (default fila:) too.
"""
import argparse
import json
import os
import sys

from rpa_orchestrator import Client


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--queue", default="conferencia")
    parser.add_argument("--wait", type=float, default=0, help="seconds to wait for each result (0: do not wait)")
    parser.add_argument("records", nargs="?", type=argparse.FileType("r"), default=sys.stdin)
    args = parser.parse_args()
    records = [line.strip() for line in args.records if line.strip()]
    with Client(prefix=os.environ.get("QUEUE_PREFIX", "fila:")) as client:
        ids = client.enqueue_many(args.queue, ({"record": r} for r in records))
        for record, job_id in zip(records, ids):
            print(f"{job_id} {record}")
        if args.wait <= 0:
            return 0
        missing = 0
        for record, job_id in zip(records, ids):
            result = client.wait_result(job_id, timeout=args.wait)
            if result is None:
                missing += 1
                print(f"{record}: no result within {args.wait:g}s", file=sys.stderr)
            else:
                print(json.dumps({"record": record, "status": result["status"], "output": result["output"]}))
        return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
