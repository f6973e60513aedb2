#!/usr/bin/env python3
"""Large submissions: sekisho's peak RSS while N messages of SIZE (one attachment each) are
submitted at once on its submission listener, delivered as links (the receiving sink offers no
STARTTLS), and their files downloaded at once from the portal.

sekisho runs its defaults apart from addresses, a route to the sink, the submission listener's
`max_message_size` and `[portal] access = "none"` (the link alone opens the page). The sink is
an aiosmtpd server in this process that keeps the notices. The figures are the gateway's VmHWM
(peak resident set, /proc/PID/status) after the submissions were accepted, after every notice
reached the sink, and after every download ended, with the times they took; each download's
SHA-256 is checked against the file sent.

Usage: bench/large_memory.py [--messages 5] [--size-mb 100] [--binary PATH] [--no-build]
"""
import argparse
import base64
import hashlib
import http.cookiejar
import os
import random
import re
import shutil
import smtplib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

from aiosmtpd.controller import Controller

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SUBMISSION = ("127.0.0.1", 14325)
SINK = ("127.0.0.1", 14326)
PORTAL = ("127.0.0.1", 14327)


def attachment(i, size):
    return random.Random(i).randbytes(size)


def message(i, data):
    b64 = base64.encodebytes(data).replace(b"\n", b"\r\n")
    head = (f"From: sender{i}@corp.test\r\nTo: partner{i}@partner.test\r\nSubject: large {i}\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
            "Content-Type: text/plain\r\n\r\nThe file.\r\n--b\r\nContent-Type: application/octet-stream; "
            f"name=\"data{i}.bin\"\r\nContent-Transfer-Encoding: base64\r\n\r\n").encode()
    return head + b64 + b"--b--\r\n"


def vmhwm_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


class Sink:
    """Keeps every message's text (the notices are small)."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.rcpt_tos, envelope.content))
        return "250 2.0.0 Ok"


def notice_link(content):
    text = content.decode("latin-1")
    part = text.split("Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n")[1]
    body = base64.b64decode("".join(part.split("\r\n--")[0].split()))
    return re.search(r"Download: (\S+)", body.decode()).group(1)


def download(link, expected, results, i):
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(link).read()
    digest = hashlib.sha256()
    with opener.open(f"http://{PORTAL[0]}:{PORTAL[1]}/d/files/0") as r:
        while True:
            chunk = r.read(1 << 20)
            if not chunk:
                break
            digest.update(chunk)
    results[i] = digest.hexdigest() == expected


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=5)
    ap.add_argument("--size-mb", type=float, default=100)
    ap.add_argument("--binary")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = a.binary or os.path.join(target, "release", "sekisho")
    if not a.no_build and not a.binary:
        subprocess.run(["cargo", "build", "--release", "--bin", "sekisho"], cwd=ROOT, check=True)
    size = int(a.size_mb * 1024 * 1024)
    sink = Sink()
    controller = Controller(sink, hostname=SINK[0], port=SINK[1], data_size_limit=0)
    controller.start()
    dir = tempfile.mkdtemp(prefix="sekisho-largemem-")
    config = os.path.join(dir, "sekisho.toml")
    with open(config, "w") as f:
        f.write(f'hostname = "gw.bench.test"\nlocal_domains = ["corp.test"]\n\n'
                f'[store]\npath = "{dir}/data"\nmin_free_space = 0\n\n'
                f'[smtp]\ndata_timeout = "600s"\n\n'
                f'[routes]\n"partner.test" = "[{SINK[0]}]:{SINK[1]}"\n\n'
                f'[delivery]\ndata_timeout = "600s"\nblock_timeout = "600s"\ndone_timeout = "600s"\n\n'
                f'[portal]\naddress = "{PORTAL[0]}:{PORTAL[1]}"\nurl = "http://{PORTAL[0]}:{PORTAL[1]}"\n'
                f'access = "none"\nrequest_timeout = "600s"\nidle_timeout = "600s"\n\n'
                f'[[listener]]\naddress = "{SUBMISSION[0]}:{SUBMISSION[1]}"\nrole = "submission"\n'
                f'trusted_networks = ["127.0.0.0/8"]\nmax_message_size = "{int(a.size_mb) + 40}MB"\n')
    gw = subprocess.Popen([binary, "--config", config, "serve"], stderr=open(os.path.join(dir, "log"), "w"))
    try:
        for _ in range(300):
            try:
                socket.create_connection(SUBMISSION, timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        files = [attachment(i, size) for i in range(a.messages)]
        digests = [hashlib.sha256(f).hexdigest() for f in files]
        messages = [message(i, f) for i, f in enumerate(files)]
        del files
        base = vmhwm_kib(gw.pid)
        replies = [None] * a.messages

        def submit(i):
            with smtplib.SMTP(*SUBMISSION, timeout=900) as s:
                s.ehlo("client.bench.test")
                s.sendmail(f"sender{i}@corp.test", [f"partner{i}@partner.test"], messages[i])
                replies[i] = "250"

        start = time.time()
        threads = [threading.Thread(target=submit, args=(i,)) for i in range(a.messages)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        accepted = time.time() - start
        after_submission = vmhwm_kib(gw.pid)
        del messages
        deadline = time.time() + 1800
        while len(sink.messages) < a.messages and time.time() < deadline and gw.poll() is None:
            time.sleep(0.2)
        delivered = time.time() - start
        after_delivery = vmhwm_kib(gw.pid)
        links = {}
        for rcpts, content in sink.messages:
            i = int(re.search(r"partner(\d+)@", rcpts[0]).group(1))
            links[i] = notice_link(content)
        results = [False] * a.messages
        start_dl = time.time()
        threads = [threading.Thread(target=download, args=(links[i], digests[i], results, i)) for i in links]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        downloaded = time.time() - start_dl
        after_download = vmhwm_kib(gw.pid)
        print(f"messages: {a.messages} x {a.size_mb} MB attachment; accepted {sum(r == '250' for r in replies)}, "
              f"notices {len(sink.messages)}, downloads matching SHA-256 {sum(results)}")
        print(f"accepted in {accepted:.1f} s, delivered {delivered:.1f} s after the first connection, "
              f"downloaded in {downloaded:.1f} s")
        print(f"peak RSS (VmHWM): idle {base / 1024:.0f} MiB, after the submissions {after_submission / 1024:.0f} MiB, "
              f"after delivery {after_delivery / 1024:.0f} MiB, after the downloads {after_download / 1024:.0f} MiB")
    finally:
        if gw.poll() is not None:
            with open(os.path.join(dir, "log")) as f:
                print("sekisho ended early:", f.read()[-3000:], file=sys.stderr)
        gw.terminate()
        gw.wait()
        controller.stop()
        shutil.rmtree(dir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
