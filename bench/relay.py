#!/usr/bin/env python3
"""Relay benchmark: Postfix and sekisho as plain relays, in the same harness, on this machine.

Postfix's smtp-source sends N messages over 20 parallel sessions to the relay on loopback; the
relay delivers them to Postfix's smtp-sink. Each run measures, end to end (first message sent
to last message received by the sink): messages/s, MB/s, whole-box CPU ms per message (from
/proc/stat: client, relay and sink together, as the reference figures), the relay's own CPU ms
per message, and the relay's peak memory (sekisho: VmHWM; Postfix: sum of PSS over its
processes, sampled). Both relays fsync every accepted message before answering 250.

Usage: bench/relay.py [--runs 3] [--sizes 10k,100k,1m] [--only postfix|sekisho] [--json FILE]
                      [--sink smtp-sink|plain|tls] [--messages-per-connection N] [--no-inspection]
Needs root, the postfix package (smtp-source, smtp-sink) and a release build of sekisho
(built here with cargo if missing). Traffic stays on 127.0.0.0/8.

--sink tls uses examples/tls_sink.rs, a sink that offers STARTTLS (Postfix's smtp-sink does
not), so both relays deliver over TLS: sekisho measures each session (certificate validation,
evidence, assurance), Postfix runs with smtp_tls_security_level = may. --sink plain is the same
sink without STARTTLS, to compare like with like. --messages-per-connection 1 makes every
message pay a whole session (sekisho's max_messages_per_connection; Postfix's
smtp_connection_cache_on_demand = no). --no-inspection turns off sekisho's inspection of
submitted attachments ([outbound] encrypted_attachments and uninspectable_attachments =
"allow"), to show what it costs.
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SINK = "127.0.0.150"
POSTFIX = "127.0.0.151"
SEKISHO = "127.0.0.152"
COUNTS = {"10k": (10_000, 5000), "100k": (100_000, 2000), "1m": (1_000_000, 300)}


def free_port(ip):
    import socket
    s = socket.socket()
    s.bind((ip, 0))
    port = s.getsockname()[1]
    s.close()
    return port


def busy_jiffies():
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields[:8]) - idle


def proc_cpu_jiffies(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return int(parts[11]) + int(parts[12]) + int(parts[13]) + int(parts[14])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0


def pss_kib(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except (FileNotFoundError, PermissionError, ProcessLookupError):
        pass
    return 0


def descendants(pid):
    out = subprocess.run(["ps", "-e", "-o", "pid=,ppid="], capture_output=True, text=True).stdout
    children = {}
    for line in out.splitlines():
        p, pp = (int(x) for x in line.split())
        children.setdefault(pp, []).append(p)
    result, todo = [], [pid]
    while todo:
        p = todo.pop()
        result.append(p)
        todo.extend(children.get(p, []))
    return result


class Sink:
    """smtp-sink (or examples/tls_sink.rs) with its running counter parsed from stdout."""

    def __init__(self, port, kind):
        self.count = 0
        if kind == "smtp-sink":
            cmd = ["smtp-sink", "-u", "nobody", "-c", f"{SINK}:{port}", "1024"]
        else:
            cmd = [example_binary("tls_sink"), f"{SINK}:{port}"] + (["--tls"] if kind == "tls" else [])
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        wait_listening(SINK, port)

    def _read(self):
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(4096) if hasattr(self.proc.stdout, "read1") else self.proc.stdout.read(64)
            if not chunk:
                return
            buf = (buf + chunk)[-256:]
            found = re.findall(rb"mesg=(\d+)", buf)
            if found:
                self.count = int(found[-1])

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def target_dir():
    return os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))


def example_binary(name):
    return os.path.join(target_dir(), "release", "examples", name)


def wait_listening(ip, port, secs=20):
    import socket
    deadline = time.time() + secs
    while time.time() < deadline:
        try:
            socket.create_connection((ip, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on {ip}:{port}")


class PostfixRelay:
    name = "postfix"

    def __init__(self, workdir, sink_port, per_connection):
        self.dir = os.path.join(workdir, "postfix")
        self.port = free_port(POSTFIX)
        script = os.path.join(ROOT, "scripts", "postfix-instance")
        subprocess.run([script, "start", self.dir, f"{POSTFIX}:{self.port}", "relay", f"[{SINK}]:{sink_port}"],
                       check=True)
        settings = ["smtp_tls_security_level=may"]
        if per_connection == 1:
            settings.append("smtp_connection_cache_on_demand=no")
        subprocess.run(["postconf", "-c", os.path.join(self.dir, "conf")] + ["-e"] + settings, check=True)
        subprocess.run(["postfix", "-c", os.path.join(self.dir, "conf"), "reload"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1)
        with open(os.path.join(self.dir, "queue", "pid", "master.pid")) as f:
            self.master = int(f.read().strip())
        self.addr = f"{POSTFIX}:{self.port}"

    def pids(self):
        return descendants(self.master)

    def memory_kib(self):
        return sum(pss_kib(p) for p in self.pids())

    def cpu_jiffies(self):
        return sum(proc_cpu_jiffies(p) for p in self.pids())

    def stop(self):
        subprocess.run([os.path.join(ROOT, "scripts", "postfix-instance"), "stop", self.dir], check=False)
        time.sleep(0.5)


class SekishoRelay:
    name = "sekisho"

    def __init__(self, workdir, sink_port, binary, per_connection, inspection=True):
        self.dir = os.path.join(workdir, "sekisho")
        os.makedirs(self.dir, exist_ok=True)
        self.port = free_port(SEKISHO)
        config = os.path.join(self.dir, "sekisho.toml")
        with open(config, "w") as f:
            f.write(f"""hostname = "bench.sekisho.test"
[store]
path = "{self.dir}/data"
min_free_space = 0
[log]
level = "warn"
[smtp]
max_connections = 500
max_connections_per_client = 500
[delivery]
relay_host = "[{SINK}]:{sink_port}"
max_connections = 20
max_connections_per_destination = 20
max_messages_per_connection = {per_connection}
scan_interval = "100ms"
[outbound]
encrypted_attachments = "{'reject' if inspection else 'allow'}"
uninspectable_attachments = "{'reject' if inspection else 'allow'}"
[[listener]]
address = "{SEKISHO}:{self.port}"
role = "submission"
trusted_networks = ["127.0.0.0/8"]
""")
        self.proc = subprocess.Popen([binary, "--config", config, "serve"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(SEKISHO, self.port)
        self.addr = f"{SEKISHO}:{self.port}"
        self.peak_pss = 0

    def memory_kib(self):
        return pss_kib(self.proc.pid)

    def peak_rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def cpu_jiffies(self):
        return proc_cpu_jiffies(self.proc.pid)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def one_run(kind, size_name, binary, sink_kind, per_connection, inspection=True):
    size, count = COUNTS[size_name]
    work = tempfile.mkdtemp(prefix=f"bench-{kind}-")
    sink_port = free_port(SINK)
    sink = Sink(sink_port, sink_kind)
    if kind == "postfix":
        relay = PostfixRelay(work, sink_port, per_connection)
    else:
        relay = SekishoRelay(work, sink_port, binary, per_connection, inspection)
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], relay.memory_kib())
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    busy0, relay0, t0 = busy_jiffies(), relay.cpu_jiffies(), time.time()
    source = subprocess.run(["smtp-source", "-s", "20", "-m", str(count), "-l", str(size), "-M", "source.test",
                             "-f", "bench@example.jp", "-t", "sink@example.com", relay.addr],
                            capture_output=True, text=True)
    if source.returncode != 0:
        raise SystemExit(f"smtp-source failed against {kind}: {source.stderr}")
    deadline = time.time() + 600
    while sink.count < count and time.time() < deadline:
        time.sleep(0.01)
    t1 = time.time()
    busy1, relay1 = busy_jiffies(), relay.cpu_jiffies()
    done.set()
    hz = os.sysconf("SC_CLK_TCK")
    result = {
        "relay": kind,
        "size": size_name,
        "messages": count,
        "received": sink.count,
        "seconds": t1 - t0,
        "msgs_per_s": count / (t1 - t0),
        "mb_per_s": count * size / (t1 - t0) / 1e6,
        "box_cpu_ms_per_msg": (busy1 - busy0) * 1000 / hz / count,
        "relay_cpu_ms_per_msg": (relay1 - relay0) * 1000 / hz / count,
        "memory_kib": peak[0],
    }
    if kind == "sekisho":
        result["peak_rss_kib"] = relay.peak_rss_kib()
    relay.stop()
    sink.stop()
    shutil.rmtree(work, ignore_errors=True)
    if sink.count < count:
        raise SystemExit(f"{kind} {size_name}: only {sink.count} of {count} messages reached the sink")
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="10k,100k,1m")
    ap.add_argument("--only", choices=["postfix", "sekisho"])
    ap.add_argument("--json")
    ap.add_argument("--sink", choices=["smtp-sink", "plain", "tls"], default="smtp-sink")
    ap.add_argument("--messages-per-connection", type=int, default=100)
    ap.add_argument("--no-inspection", action="store_true")
    args = ap.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("run as root (Postfix's master and smtp-sink need it)")
    binary = os.path.join(target_dir(), "release", "sekisho")
    if args.only != "postfix":
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if args.sink != "smtp-sink":
        subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "tls_sink"], cwd=ROOT, check=True)
    kinds = [args.only] if args.only else ["postfix", "sekisho"]
    results = []
    for size_name in args.sizes.split(","):
        for kind in kinds:
            for run in range(args.runs):
                r = one_run(kind, size_name, binary, args.sink, args.messages_per_connection, not args.no_inspection)
                results.append(r)
                print(f"{kind:8} {size_name:5} run {run + 1}: {r['msgs_per_s']:8.1f} msg/s {r['mb_per_s']:7.2f} MB/s "
                      f"box {r['box_cpu_ms_per_msg']:.2f} ms/msg relay {r['relay_cpu_ms_per_msg']:.2f} ms/msg "
                      f"mem {r['memory_kib'] / 1024:.1f} MiB", flush=True)
    print()
    print("| size | relay | msg/s | MB/s | box CPU ms/msg | relay CPU ms/msg | relay memory MiB | sekisho/Postfix |")
    print("|---|---|---|---|---|---|---|---|")
    for size_name in args.sizes.split(","):
        med = {}
        for kind in kinds:
            rs = [r for r in results if r["relay"] == kind and r["size"] == size_name]
            med[kind] = {k: statistics.median(r[k] for r in rs)
                         for k in ["msgs_per_s", "mb_per_s", "box_cpu_ms_per_msg", "relay_cpu_ms_per_msg", "memory_kib"]}
            if kind == "sekisho":
                med[kind]["memory_kib"] = max(max(r["peak_rss_kib"], r["memory_kib"]) for r in rs)
        for kind in kinds:
            m = med[kind]
            ratio = ""
            if kind == "sekisho" and "postfix" in med:
                ratio = f"{m['msgs_per_s'] / med['postfix']['msgs_per_s']:.2f}x"
            print(f"| {size_name} | {kind} | {m['msgs_per_s']:.0f} | {m['mb_per_s']:.1f} | {m['box_cpu_ms_per_msg']:.2f} | "
                  f"{m['relay_cpu_ms_per_msg']:.2f} | {m['memory_kib'] / 1024:.0f} | {ratio} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
