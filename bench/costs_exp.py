#!/usr/bin/env python3
"""What the relay costs per message outside its own instructions, counted so that it does not
depend on what else runs on the machine: CPU split into user and system time, system calls,
context switches, wake-ups, threads started and page faults per message.

sekisho runs as in bench/relay.py (its defaults apart from addresses and routes, the submission
listener, stderr to /dev/null); smtp-source sends --warmup messages of --size bytes over
--sessions sessions, then --messages more are measured until smtp-sink has them all:
  - user / system ms: /proc/PID/stat utime and stime (every thread, live or gone), per message;
  - minor faults: /proc/PID/stat minflt;
  - `perf stat -p PID` over the measured messages (threads started meanwhile are counted too):
    context switches, system calls (raw_syscalls:sys_enter), wake-ups (sched:sched_wakeup),
    threads started (task:task_newtask), page faults;
  - with --strace, a second measured batch under `strace -c -f`: which system calls, per message
    (strace slows the relay down, so its batch is not the one the other figures come from).

With --mix text|attach100k|zip1m, the MX listener takes the inbound anchor's messages of that
mix instead, scans them with a clamd of its own and delivers them to smtp-sink (bench/counted.py's
setup, 4 sessions at a time); clamd's own costs are not counted.

Usage (as root): bench/costs.py [--binary PATH] [--messages 2000] [--warmup 200] [--size 10000]
                                [--sessions 20] [--strace] [--runs 1] [--mix MIX] [--anchor PATH]
"""
import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import shutil

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
import relay  # noqa: E402
import counted  # noqa: E402  (bench/counted.py: the inbound setup)

EVENTS = ["context-switches", "raw_syscalls:sys_enter", "sched:sched_wakeup", "task:task_newtask",
          "page-faults"]


def proc_stat(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    # Fields counted from 1 in proc(5); parts[0] is field 3 (state).
    return {"minflt": int(parts[7]), "utime": int(parts[11]), "stime": int(parts[12])}


def source(addr, size, count, sessions):
    subprocess.run(["smtp-source", "-s", str(sessions), "-m", str(count), "-l", str(size), "-M", "source.test",
                    "-f", "bench@example.jp", "-t", "sink@example.com", addr], check=True, capture_output=True)


def wait_sink(sink, n, secs=600):
    deadline = time.time() + secs
    while sink.count < n and time.time() < deadline:
        time.sleep(0.01)
    if sink.count < n:
        raise SystemExit(f"only {sink.count} of {n} messages reached the sink")


def counting(cmd, pid):
    """Starts a counter (perf stat or strace) attached to pid and gives it time to attach."""
    proc = subprocess.Popen(cmd + ["-p", str(pid)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.5)
    return proc


def stop(proc):
    proc.send_signal(signal.SIGINT)
    proc.wait(30)


class Inbound:
    """sekisho's MX listener as bench/counted.py runs it, with its clamd, taking `mix`."""

    def __init__(self, work, sink_port, binary, mix, anchor):
        self.anchor = counted.load_anchor(anchor)
        self.clamd = counted.Clamd(self.anchor, os.path.join(work, "anchor"))
        self.port = relay.free_port(counted.SEKISHO)
        config = os.path.join(work, "sekisho.toml")
        with open(config, "w") as f:
            f.write(counted.inbound_config(work, self.port, sink_port))
        self.proc = subprocess.Popen([binary, "--config", config, "serve"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        relay.wait_listening(counted.SEKISHO, self.port, 120)
        self.mix, self.sent = mix, 0

    def send(self, n):
        counted.send((counted.SEKISHO, self.port),
                     [(*self.anchor.envelope(i), self.anchor.build_message(self.mix, i, 1))
                      for i in range(self.sent, self.sent + n)])
        self.sent += n

    def stop(self):
        relay.terminate(self.proc)
        self.clamd.stop()


def one_run(args, work):
    sink_port = relay.free_port(relay.SINK)
    sink = relay.Sink(sink_port, "smtp-sink")
    if args.mix:
        gw = Inbound(work, sink_port, args.binary, args.mix, args.anchor)

        def source(_addr, _size, count, _sessions):
            gw.send(count)
    else:
        gw = relay.SekishoRelay(work, sink_port, args.binary, 100)
        source = globals()["source"]
    pid = gw.proc.pid
    try:
        sent = args.warmup
        source(gw.addr if not args.mix else None, args.size, args.warmup, args.sessions)
        wait_sink(sink, sent)
        time.sleep(2)
        perf_out = os.path.join(work, "perf.txt")
        perf = counting(["perf", "record", "--call-graph", "dwarf,32768", "-F", "999", "-o", os.environ["REC"], "-p", str(pid)], pid)
        before = proc_stat(pid)
        source(gw.addr if not args.mix else None, args.size, args.messages, args.sessions)
        sent += args.messages
        wait_sink(sink, sent)
        time.sleep(1)
        after = proc_stat(pid)
        stop(perf)
        hz = os.sysconf("SC_CLK_TCK")
        n = args.messages
        result = {
            "user ms": (after["utime"] - before["utime"]) * 1000 / hz / n,
            "system ms": (after["stime"] - before["stime"]) * 1000 / hz / n,
            "minor faults": (after["minflt"] - before["minflt"]) / n,
        }
        for line in []:
            fields = line.strip().split(",")
            if len(fields) > 2 and fields[2] in EVENTS and fields[0].replace(".", "").isdigit():
                result[fields[2]] = float(fields[0]) / n
        calls = None
        if args.strace:
            strace_out = os.path.join(work, "strace.txt")
            st = counting(["strace", "-c", "-f", "-o", strace_out], pid)
            source(gw.addr if not args.mix else None, args.size, args.messages, args.sessions)
            sent += args.messages
            wait_sink(sink, sent)
            time.sleep(1)
            stop(st)
            calls = []
            for line in open(strace_out):
                f = line.split()
                if len(f) >= 5 and f[0][0].isdigit() and f[-1] != "total":
                    calls.append((f[-1], int(f[3])))
            calls.sort(key=lambda c: -c[1])
        return result, calls
    finally:
        gw.stop()
        sink.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(relay.target_dir(), "release", "sekisho"))
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--size", type=int, default=10_000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--strace", action="store_true")
    ap.add_argument("--mix", choices=counted.MIXES, default=None)
    ap.add_argument("--anchor", default=os.path.join(os.path.dirname(ROOT), "shared", "bench", "inbound_anchor.py"))
    args = ap.parse_args()
    for run in range(args.runs):
        work = tempfile.mkdtemp(prefix="sekisho-costs-")
        try:
            result, calls = one_run(args, work)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        what = f"inbound {args.mix}" if args.mix else f"of {args.size} bytes"
        print(f"run {run + 1}: {args.messages} messages {what}, per message:")
        for k, v in result.items():
            print(f"  {k:24} {v:10.3f}")
        if calls:
            print("  system calls under strace -f, per message:")
            for name, count in calls:
                if count / args.messages >= 0.05:
                    print(f"    {name:22} {count / args.messages:8.2f}")


if __name__ == "__main__":
    main()
