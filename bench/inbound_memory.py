#!/usr/bin/env python3
"""Inbound memory bound: sekisho's peak RSS while N messages of SIZE arrive at once on its MX
listener, each with one attachment, scanned by clamd, delivered to a sink.

sekisho runs its defaults apart from addresses and routes; clamd is the shared anchor's
(inbound_anchor.py up: 127.0.0.1:13410, StreamMaxLength large enough), the sink Postfix's
smtp-sink. The figure is the gateway's VmHWM (peak resident set) after every message reached
the sink, and the time that took.

Usage (as root): bench/inbound_memory.py [--messages 20] [--size-mb 10] [--anchor PATH] [--no-build]
"""
import argparse
import base64
import os
import random
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_ANCHOR = os.path.join(os.path.dirname(ROOT), "shared", "bench", "inbound_anchor.py")
MX = ("127.0.0.1", 14225)
SINK = ("127.0.0.1", 14226)


def message(i, size):
    data = random.Random(i).randbytes(size)
    b64 = base64.encodebytes(data).decode().replace("\n", "\r\n")
    return (f"From: sender{i}@outside.example\r\nTo: user{i}@corp.test\r\nSubject: large {i}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
            "Content-Type: text/plain\r\n\r\nThe file.\r\n--b\r\nContent-Type: application/octet-stream; "
            f"name=\"data{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{b64}--b--\r\n").encode()


def vmhwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=20)
    ap.add_argument("--size-mb", type=float, default=10)
    ap.add_argument("--anchor", default=DEFAULT_ANCHOR)
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "sekisho")
    if not a.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "sekisho"], cwd=ROOT, check=True)
    subprocess.run([sys.executable, a.anchor, "up", "--stack", "rspamd"], check=True)
    dir = tempfile.mkdtemp(prefix="sekisho-inmem-")
    sink = subprocess.Popen(["smtp-sink", "-u", "nobody", "-c", f"{SINK[0]}:{SINK[1]}", "100"], stdout=subprocess.DEVNULL)
    size = int(a.size_mb * 1024 * 1024)
    config = os.path.join(dir, "sekisho.toml")
    with open(config, "w") as f:
        f.write(f'hostname = "gw.bench.test"\nlocal_domains = ["corp.test"]\n\n[store]\npath = "{dir}/data"\n'
                f'min_free_space = 0\n\n[smtp]\nmax_message_size = {size * 2}\n\n'
                f'[delivery]\nnext_hop = "[{SINK[0]}]:{SINK[1]}"\n\n[antivirus]\nclamd = "127.0.0.1:13410"\n'
                f'max_stream = "{int(a.size_mb) + 5}MB"\n\n[inbound]\nsafe = "deliver"\n\n'
                f'[portal]\naddress = "127.0.0.1:18125"\nurl = "http://127.0.0.1:18125"\n\n'
                f'[[listener]]\naddress = "{MX[0]}:{MX[1]}"\nrole = "mx"\n')
    gw = subprocess.Popen([binary, "--config", config, "serve"], stderr=open(os.path.join(dir, "log"), "w"))
    try:
        for _ in range(100):
            try:
                socket.create_connection(MX, timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        messages = [message(i, size) for i in range(a.messages)]
        base = vmhwm_kib(gw.pid)
        replies = []
        t0 = time.monotonic()

        def send(i):
            with smtplib.SMTP(*MX, timeout=600) as s:
                s.ehlo("client.example")
                replies.append(s.sendmail(f"sender{i}@outside.example", [f"user{i}@corp.test"], messages[i]))

        threads = [threading.Thread(target=send, args=(i,)) for i in range(a.messages)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted = time.monotonic() - t0
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            out = subprocess.run([binary, "--config", config, "queue", "list", "--json"], capture_output=True, text=True)
            if out.stdout.strip() == "[]":
                break
            time.sleep(1)
        done = time.monotonic() - t0
        peak = vmhwm_kib(gw.pid)
        if out.stdout.strip() != "[]":
            print(out.stdout[:2000])
            listed = subprocess.run([binary, "--config", config, "queue", "list"], capture_output=True, text=True)
            print(listed.stdout[-1500:])
        print(f"inbound-memory: {a.messages} x {a.size_mb:g} MB at once: accepted {len(replies)}/{a.messages} "
              f"in {accepted:.1f}s, queue empty after {done:.1f}s; sekisho peak RSS {peak / 1024:.0f} MiB "
              f"(idle before: {base / 1024:.0f} MiB)")
    finally:
        gw.terminate()
        gw.wait(30)
        sink.terminate()
        shutil.rmtree(dir, ignore_errors=True)


if __name__ == "__main__":
    main()
