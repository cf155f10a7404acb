#!/usr/bin/env python3
"""A writer on the Python SDK: pops each result record of a queue once, oldest first, and writes
it somewhere (here: one JSON line per result on stdout, failures also on stderr). Runs until
interrupted, or with --idle N until no result came for N seconds.

    writer.py --queue conferencia >> confirmations.jsonl

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
    parser.add_argument("--idle", type=float, default=None, help="stop after this many seconds without a result")
    args = parser.parse_args()
    with Client(prefix=os.environ.get("QUEUE_PREFIX", "fila:")) as client:
        try:
            for result in client.results(args.queue, block=True, timeout=args.idle):
                if result["status"] != "ok":
                    print(f"failed after {result['attempts']} attempt(s): {result['error']}", file=sys.stderr)
                print(json.dumps(result, ensure_ascii=False), flush=True)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
