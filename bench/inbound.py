#!/usr/bin/env python3
"""Inbound benchmark: sekisho's MX listener with clamd, beside Postfix -> rspamd -> clamd (and
Postfix -> amavisd-new -> clamd with --stack amavis), on the same messages, in the same run.

The peer stacks and the client come from the shared anchor (inbound_anchor.py, --anchor; by
default ../shared/bench/inbound_anchor.py next to this repository): it sets up a private Postfix
instance with the filter, a clamd with a database built by sigtool (127.0.0.1:13410), a sink
(smtp-sink, 127.0.0.1:14026) and deterministic messages in three mixes: text (10 KB text/plain),
attach100k (a 100 KB PDF), zip1m (a ~1 MB ZIP of 20 entries). 20 concurrent sessions, one message
per connection, timed from the first connection to the last message at the sink; CPU per process
tree from /proc; peak memory.

sekisho runs its defaults apart from addresses, routes and authentication (off: no DNS here): its MX listener on 127.0.0.1:PORT
accepts corp.test, delivers it to the sink ([delivery] next_hop), and scans with the anchor's
clamd ([antivirus] clamd). clamd (alone) is restarted before every round of either gateway, so no
round profits from clamd's cache of files it already found clean.

Usage (as root): bench/inbound.py [--mixes text,attach100k,zip1m] [--rounds 3]
                                  [--stack rspamd|amavis] [--only sekisho|peer]
                                  [--anchor PATH] [--json FILE] [--no-build]
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_ANCHOR = os.path.join(os.path.dirname(ROOT), "shared", "bench", "inbound_anchor.py")
MESSAGES = {"text": 1000, "attach100k": 500, "zip1m": 150}
SINK_PORT = 14026
CLAMD = "127.0.0.1:13410"
MX = "127.0.0.1:14125"


def anchor(args, *cmd):
    subprocess.run([sys.executable, args.anchor, *cmd], check=True)


def restart_clamd(args):
    """Restarts the anchor's clamd alone (empties its cache of files found clean), through the
    anchor's own functions: the filter stack is not needed by sekisho's rounds."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("inbound_anchor", args.anchor)
    a = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(a)
    a.restart_clamd(a.Paths("/tmp/inanchor", args.stack))


def sekisho_config(dir):
    path = os.path.join(dir, "sekisho.toml")
    with open(path, "w") as f:
        f.write(f"""hostname = "gw.bench.test"
local_domains = ["corp.test"]

[store]
path = "{dir}/data"
min_free_space = 0

[delivery]
next_hop = "[127.0.0.1]:{SINK_PORT}"

[antivirus]
clamd = "{CLAMD}"

[portal]
address = "127.0.0.1:18025"
url = "http://127.0.0.1:18025"

# No DNS answers here: SPF, DKIM, ARC and DMARC would only wait out their time budget. The
# authentication checks are measured apart (BENCHMARKS.md).
[authentication]
enabled = false

[[listener]]
address = "{MX}"
role = "mx"
""")
    return path


def sekisho_round(args, binary, mix, json_file):
    dir = tempfile.mkdtemp(prefix="sekisho-inbound-")
    try:
        config = sekisho_config(dir)
        log = open(os.path.join(dir, "log"), "w")
        proc = subprocess.Popen([binary, "--config", config, "serve"], stdout=log, stderr=log)
        for _ in range(100):
            try:
                import socket
                socket.create_connection(("127.0.0.1", int(MX.split(":")[1])), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        try:
            anchor(args, "run", "--stack", args.stack, "--mix", mix, "--messages", str(MESSAGES[mix]),
                   "--rounds", "1", "--port", MX.split(":")[1], "--sink-port", str(SINK_PORT),
                   "--track", f"sekisho={proc.pid}", "--track", "clamd=auto", "--mem-sum", "sekisho,clamd",
                   *(["--json", json_file] if json_file else []))
        finally:
            proc.terminate()
            proc.wait(30)
    finally:
        shutil.rmtree(dir, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mixes", default="text,attach100k,zip1m")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--stack", default="rspamd", choices=["rspamd", "amavis"])
    ap.add_argument("--only", choices=["sekisho", "peer"])
    ap.add_argument("--anchor", default=DEFAULT_ANCHOR)
    ap.add_argument("--json")
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "sekisho")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "sekisho"], cwd=ROOT, check=True)
    anchor(args, "up", "--stack", args.stack)
    try:
        for mix in args.mixes.split(","):
            if args.only != "sekisho":
                anchor(args, "run", "--stack", args.stack, "--mix", mix, "--messages", str(MESSAGES[mix]),
                       "--rounds", str(args.rounds), *(["--json", args.json] if args.json else []))
            if args.only != "peer":
                for _ in range(args.rounds):
                    restart_clamd(args)
                    sekisho_round(args, binary, mix, args.json)
    finally:
        anchor(args, "down")


if __name__ == "__main__":
    main()
