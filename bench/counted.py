#!/usr/bin/env python3
"""CPU per message, counted: sekisho's instructions per message under callgrind, for a fixed
workload, so figures compare across builds on a loaded machine (instruction counts do not
depend on what else runs; msg/s does).

Workloads (sekisho runs its defaults apart from addresses and routes, as in bench/relay.py and
bench/inbound.py):
  relay10k, relay100k, relay1m  the submission listener relays smtp-source's messages of that
                                size to smtp-sink (bench/relay.py's setup)
  text, attach100k, zip1m       the MX listener takes the inbound anchor's messages of that mix,
                                scans them with a clamd of its own (the anchor's configuration,
                                on a private port) and delivers them to smtp-sink

sekisho starts under `valgrind --tool=callgrind`; --warmup messages go through first, then the
counters are zeroed, --messages go through (4 sessions at a time) and reach the sink, and the
counters are dumped: instructions per message = the dump's total / --messages. Only
user-space instructions are counted (no system calls, page faults or fsync).

Usage (as root): bench/counted.py WORKLOAD [--messages N] [--warmup N] [--binary PATH]
                                  [--out DIR] [--anchor PATH]
Then: callgrind_annotate --inclusive=yes DIR/callgrind.out.PID.1 | head -80
"""
import argparse
import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import relay  # noqa: E402  (bench/relay.py: Sink, free_port, wait_listening)

SEKISHO = "127.0.0.152"
SIZES = {"relay10k": 10_000, "relay100k": 100_000, "relay1m": 1_000_000}
MIXES = ("text", "attach100k", "zip1m")
CLAMD_PORT = 13490


def relay_config(dir, port, sink_port):
    portal = f"{SEKISHO}:{relay.free_port(SEKISHO)}"
    return f"""hostname = "bench.sekisho.test"
[store]
path = "{dir}/data"
min_free_space = 0
[portal]
address = "{portal}"
url = "http://{portal}"
[delivery]
relay_host = "[{relay.SINK}]:{sink_port}"
max_messages_per_connection = 100
[outbound]
encrypted_attachments = "reject"
uninspectable_attachments = "reject"
[[listener]]
address = "{SEKISHO}:{port}"
role = "submission"
trusted_networks = ["127.0.0.0/8"]
"""


def inbound_config(dir, port, sink_port):
    portal = f"{SEKISHO}:{relay.free_port(SEKISHO)}"
    return f"""hostname = "gw.bench.test"
local_domains = ["corp.test"]
[store]
path = "{dir}/data"
min_free_space = 0
[delivery]
next_hop = "[{relay.SINK}]:{sink_port}"
[antivirus]
clamd = "127.0.0.1:{CLAMD_PORT}"
[portal]
address = "{portal}"
url = "http://{portal}"
[authentication]
enabled = false
[[listener]]
address = "{SEKISHO}:{port}"
role = "mx"
max_connections_per_client = 100
"""


def load_anchor(path):
    spec = importlib.util.spec_from_file_location("inbound_anchor", path)
    a = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(a)
    return a


class Clamd:
    """The anchor's clamd configuration (its EICAR-only database), on CLAMD_PORT under dir."""

    def __init__(self, anchor, dir):
        P = anchor.Paths(dir, "rspamd")
        anchor.setup_clamd(P)
        conf = open(P.clamd_conf).read().replace(str(anchor.P_CLAMD), str(CLAMD_PORT))
        open(P.clamd_conf, "w").write(conf)
        self.proc = subprocess.Popen(["clamd", "--foreground", "--config-file", P.clamd_conf],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        relay.wait_listening("127.0.0.1", CLAMD_PORT, 120)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def send(addr, messages, sessions=4):
    """Sends (sender, recipient, payload) each over a connection of its own, `sessions` at a
    time; payload is dot-stuffed and ends with CRLF.CRLF."""
    host, port = addr
    todo = list(messages)
    lock = threading.Lock()
    failures = []

    def reply(f):
        while True:
            line = f.readline()
            if not line:
                raise OSError("connection closed")
            if line[3:4] != b"-":
                return line

    def worker():
        while True:
            with lock:
                if not todo:
                    return
                sender, rcpt, payload = todo.pop()
            with socket.create_connection((host, port)) as s:
                f = s.makefile("rb")
                reply(f)
                for cmd in (b"EHLO client.ext.test", f"MAIL FROM:<{sender}>".encode(), f"RCPT TO:<{rcpt}>".encode(),
                            b"DATA"):
                    s.sendall(cmd + b"\r\n")
                    r = reply(f)
                s.sendall(payload)
                r = reply(f)
                if not r.startswith(b"250"):
                    failures.append(r)
                s.sendall(b"QUIT\r\n")
                reply(f)

    threads = [threading.Thread(target=worker) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise SystemExit(f"{len(failures)} messages refused: {failures[0]!r}")


def smtp_source(addr, size, count):
    host, port = addr
    subprocess.run(["smtp-source", "-s", "4", "-m", str(count), "-l", str(size), "-M", "source.test",
                    "-f", "bench@example.jp", "-t", "sink@example.com", f"{host}:{port}"],
                   check=True, capture_output=True)


def wait_sink(sink, n, secs=1800):
    deadline = time.time() + secs
    while sink.count < n and time.time() < deadline:
        time.sleep(0.1)
    if sink.count < n:
        raise SystemExit(f"only {sink.count} of {n} messages reached the sink")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workload", choices=list(SIZES) + list(MIXES))
    ap.add_argument("--messages", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    ap.add_argument("--binary", default=os.path.join(target, "release", "sekisho"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--anchor", default=os.path.join(os.path.dirname(ROOT), "shared", "bench", "inbound_anchor.py"))
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="sekisho-counted-")
    out = args.out or work
    os.makedirs(out, exist_ok=True)
    sink_port = relay.free_port(relay.SINK)
    sink = relay.Sink(sink_port, "smtp-sink")
    clamd = None
    port = relay.free_port(SEKISHO)
    if args.workload in SIZES:
        config = relay_config(work, port, sink_port)
    else:
        anchor = load_anchor(args.anchor)
        clamd = Clamd(anchor, os.path.join(work, "anchor"))
        config = inbound_config(work, port, sink_port)
    with open(os.path.join(work, "sekisho.toml"), "w") as f:
        f.write(config)
    vg = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}/callgrind.out.%p",
                           args.binary, "--config", os.path.join(work, "sekisho.toml"), "serve"],
                          stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "valgrind.log"), "w"))
    try:
        relay.wait_listening(SEKISHO, port, 300)
        addr = (SEKISHO, port)

        def run(first, n):
            if args.workload in SIZES:
                smtp_source(addr, SIZES[args.workload], n)
            else:
                send(addr, [(*anchor.envelope(i), anchor.build_message(args.workload, i, 1))
                            for i in range(first, first + n)])

        run(0, args.warmup)
        wait_sink(sink, args.warmup)
        time.sleep(2)
        subprocess.run(["callgrind_control", "-z", str(vg.pid)], check=True, capture_output=True)
        t0 = time.time()
        run(args.warmup, args.messages)
        wait_sink(sink, args.warmup + args.messages)
        time.sleep(2)
        subprocess.run(["callgrind_control", "-d", str(vg.pid)], check=True, capture_output=True)
        seconds = time.time() - t0
        dumps = sorted(glob.glob(f"{out}/callgrind.out.{vg.pid}.*"))
        total = 0
        for line in open(dumps[-1]):
            if line.startswith("summary:") or line.startswith("totals:"):
                total = int(line.split()[1])
        print(f"{args.workload}: {args.messages} messages, {total:,} instructions, "
              f"{total / args.messages:,.0f} per message ({seconds:.0f} s under callgrind); dump {dumps[-1]}")
    finally:
        vg.terminate()
        try:
            vg.wait(60)
        except subprocess.TimeoutExpired:
            vg.kill()
        sink.stop()
        if clamd:
            clamd.stop()
        if not args.out:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
