#!/usr/bin/env python3
"""The SQLite statements a relayed message costs, counted from sqlx's own statement log.

sekisho runs as in bench/relay.py (its defaults apart from addresses and routes, the
submission listener, smtp-source's messages of --size bytes over --sessions sessions to
smtp-sink), with `RUST_LOG=info,sqlx::query=debug` and `[log] file` in its data directory:
sqlx logs every request it runs on a connection (one line per request, a multi-statement
request once, with its first words). --warmup messages go through first; then the lines
logged while --messages more go through are counted, per message, by the request's first
words (BEGIN/COMMIT of sqlx's own transactions are not requests it logs; those are counted
apart by `bench/costs.py --strace` as round trips).

Usage (as root): bench/statements.py [--binary PATH] [--messages 1000] [--warmup 100]
                                     [--size 10000] [--sessions 20]
"""
import argparse
import collections
import os
import re
import shutil
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import costs  # noqa: E402
import relay  # noqa: E402

SUMMARY = re.compile(r'summary="([^"]*)"')


def kind(summary):
    """The first words of a request: what it does, without its values."""
    words = re.sub(r"[(,].*", "", summary).split()
    return " ".join(words[:4])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(relay.target_dir(), "release", "sekisho"))
    ap.add_argument("--messages", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--sessions", type=int, default=20)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sekisho-statements-")
    log = os.path.join(work, "sekisho.log")
    os.environ["RUST_LOG"] = "info,sqlx::query=debug"
    sink_port = relay.free_port(relay.SINK)
    sink = relay.Sink(sink_port, "smtp-sink")
    gw = relay.SekishoRelay(work, sink_port, args.binary, 100, extra=f'[log]\nfile = "{log}"\n')
    try:
        costs.source(gw.addr, args.size, args.warmup, args.sessions)
        costs.wait_sink(sink, args.warmup)
        time.sleep(2)
        start = os.path.getsize(log)
        costs.source(gw.addr, args.size, args.messages, args.sessions)
        costs.wait_sink(sink, args.warmup + args.messages)
        time.sleep(2)
        with open(log, errors="replace") as f:
            f.seek(start)
            lines = f.read().splitlines()
    finally:
        gw.stop()
        sink.stop()
        shutil.rmtree(work, ignore_errors=True)
    counts = collections.Counter()
    for line in lines:
        m = SUMMARY.search(line)
        if m:
            counts[kind(m.group(1))] += 1
    n = args.messages
    print(f"{n} messages of {args.size} bytes: sqlx requests per message")
    for k, c in counts.most_common():
        print(f"  {c / n:8.3f}  {k}")
    print(f"  {sum(counts.values()) / n:8.3f}  in all")


if __name__ == "__main__":
    main()
