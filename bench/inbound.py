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

sekisho runs its defaults apart from addresses and routes: its MX listener on 127.0.0.1:PORT
accepts corp.test, delivers it to the sink ([delivery] next_hop), and scans with clamd
([antivirus] clamd). With --clamd unix (the default) that clamd listens on a Unix socket, as
Debian's clamav-daemon does (LocalSocket /run/clamav/clamd.ctl): a clamd of sekisho's rounds,
started from the anchor's clamd.conf as it is (the same database, the same limits, compiled
defaults for the rest) with a LocalSocket in place of its TCP socket, so sekisho passes each file
as a descriptor (FILDES, [antivirus] pass_descriptors). rspamd's clamav module streams every
file (INSTREAM) whatever the socket; streaming costs clamd the same over a Unix socket as over
TCP. With --clamd tcp sekisho streams to the anchor's own clamd on 127.0.0.1:13410.

Authentication (SPF, DKIM, ARC, DMARC) is off by default here; with
--authentication on it runs as it does by default, asking the anchor's DNS stub (every name
NXDOMAIN at once, as the rspamd stack is set up; started on 127.0.0.1:11354 for these rounds),
so SPF and DMARC find no record and the negative answers are cached; --authentication both
runs an "off" and an "on" round in turn, so both meet the same machine.

clamd is started afresh (or, with --clamd tcp, the anchor's restarted) before every round of
either gateway, so no round profits from clamd's cache of files it already found clean.

Usage (as root): bench/inbound.py [--mixes text,attach100k,zip1m] [--rounds 3] [--clamd unix|tcp]
                                  [--stack rspamd|amavis] [--only sekisho|peer]
                                  [--authentication off|on|both]
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
DNS_STUB = "127.0.0.1:11354"


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


class OwnClamd:
    """sekisho's clamd for one round (--clamd unix): the anchor's clamd.conf with a LocalSocket
    in place of its TCP socket, and a log, pid file and temporary directory of its own."""

    OWN = ("TCPSocket", "TCPAddr", "LocalSocket", "LogFile", "PidFile", "TemporaryDirectory")

    def __init__(self, dir):
        anchor_conf = "/tmp/inanchor/clamd/clamd.conf"
        lines = [l for l in open(anchor_conf).read().splitlines() if l.split(" ")[0] not in self.OWN]
        os.makedirs(f"{dir}/tmp")
        self.socket = f"{dir}/clamd.sock"
        lines += [f"LocalSocket {self.socket}", f"LogFile {dir}/clamd.log", f"PidFile {dir}/clamd.pid",
                  f"TemporaryDirectory {dir}/tmp"]
        with open(f"{dir}/clamd.conf", "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(["clamd", "--config-file", f"{dir}/clamd.conf"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import socket
        for _ in range(600):
            try:
                s = socket.socket(socket.AF_UNIX)
                s.connect(self.socket)
                s.sendall(b"zPING\0")
                if s.recv(16).startswith(b"PONG"):
                    s.close()
                    return
            except OSError:
                pass
            if self.proc.poll() is not None:
                sys.exit(f"clamd exited: see {dir}/clamd.log")
            time.sleep(0.1)
        sys.exit("clamd did not answer PING within 60 s")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)


def dns_stub(args):
    """The anchor's NXDOMAIN stub on DNS_STUB, for rounds with authentication on."""
    return subprocess.Popen([sys.executable, args.anchor, "dns-stub", "--port", DNS_STUB.split(":")[1]])


def sekisho_config(dir, authentication, clamd):
    path = os.path.join(dir, "sekisho.toml")
    if authentication:
        auth = f'[dns]\nservers = ["{DNS_STUB}"]\n'
    else:
        auth = "# Authentication off for these rounds (--authentication on runs it).\n[authentication]\nenabled = false\n"
    with open(path, "w") as f:
        f.write(f"""hostname = "gw.bench.test"
local_domains = ["corp.test"]

[store]
path = "{dir}/data"
min_free_space = 0

[delivery]
next_hop = "[127.0.0.1]:{SINK_PORT}"

[antivirus]
clamd = "{clamd}"

[portal]
address = "127.0.0.1:18025"
url = "http://127.0.0.1:18025"

{auth}

[[listener]]
address = "{MX}"
role = "mx"
""")
    return path


def sekisho_round(args, binary, mix, json_file, authentication):
    dir = tempfile.mkdtemp(prefix="sekisho-inbound-")
    try:
        own = OwnClamd(os.path.join(dir, "clamd")) if args.clamd == "unix" else None
        config = sekisho_config(dir, authentication, f"unix:{own.socket}" if own else CLAMD)
        log = open(os.path.join(dir, "log"), "w")
        proc = subprocess.Popen([binary, "--config", config, "serve"], stdout=log, stderr=log)
        for _ in range(100):
            try:
                import socket
                socket.create_connection(("127.0.0.1", int(MX.split(":")[1])), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        name = "sekisho+auth" if authentication else "sekisho"
        try:
            anchor(args, "run", "--stack", args.stack, "--mix", mix, "--messages", str(MESSAGES[mix]),
                   "--rounds", "1", "--port", MX.split(":")[1], "--sink-port", str(SINK_PORT),
                   "--track", f"{name}={proc.pid}", "--track", f"clamd={own.proc.pid}" if own else "clamd=auto",
                   "--mem-sum", f"{name},clamd",
                   *(["--json", json_file] if json_file else []))
        finally:
            proc.terminate()
            proc.wait(30)
            if own:
                own.stop()
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
    ap.add_argument("--authentication", default="off", choices=["off", "on", "both"])
    ap.add_argument("--clamd", default="unix", choices=["unix", "tcp"])
    args = ap.parse_args()
    settings = {"off": [False], "on": [True], "both": [False, True]}[args.authentication]
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "sekisho")
    if not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--bin", "sekisho"], cwd=ROOT, check=True)
    anchor(args, "up", "--stack", args.stack)
    stub = dns_stub(args) if True in settings and args.only != "peer" else None
    try:
        for mix in args.mixes.split(","):
            if args.only != "sekisho":
                anchor(args, "run", "--stack", args.stack, "--mix", mix, "--messages", str(MESSAGES[mix]),
                       "--rounds", str(args.rounds), *(["--json", args.json] if args.json else []))
            if args.only != "peer":
                for _ in range(args.rounds):
                    for authentication in settings:
                        if args.clamd == "tcp":
                            restart_clamd(args)
                        sekisho_round(args, binary, mix, args.json, authentication)
    finally:
        if stub:
            stub.terminate()
        anchor(args, "down")


if __name__ == "__main__":
    main()
