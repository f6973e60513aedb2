#!/usr/bin/env python3
"""Relay benchmark: Postfix and sekisho as plain relays, in the same harness, on this machine.

Postfix's smtp-source sends N messages over 20 parallel sessions to the relay on loopback; the
relay delivers them to Postfix's smtp-sink. Each run measures, end to end (first message sent
to last message received by the sink): messages/s, MB/s, whole-box CPU ms per message (from
/proc/stat: client, relay and sink together, as the reference figures), the relay's own CPU ms
per message, and the relay's peak memory (sekisho: VmHWM; Postfix: sum of PSS over its
processes, sampled). Both relays fsync every accepted message before answering 250.

Time to 250: while smtp-source runs, a latency probe (bench/smtp_probe.py, PROBE_SESSIONS = 2
more sessions, each a process of its own) sends messages of the run's size back to back to the
relay under test, one per connection like smtp-source, one command at a time; with several
nodes, each session sends to the nodes in turn. For every message it times "dot->250", from
writing the final "." (the body already written) to reading the 250, and "MAIL->250", from
writing MAIL FROM to the same 250 (the transaction, without connecting and EHLO). Each run line
shows p50 / p99 / max of both (nearest rank); the table's two last columns show them over the
probe's messages of all runs of that relay and size merged. The probe stops when smtp-source
ends; its accepted messages reach the sink too, so a run ends when the sink has smtp-source's
messages plus the probe's, and msg/s, MB/s and the CPU per message count both (the messages the
relay carried). Every socket operation of the probe has a 30 s timeout; a message that fails is
counted (and printed) apart, never timed; --no-probe leaves the probe out. In --json each run
has "total_messages" (smtp-source's "messages" plus the probe's) and "probe": its sessions,
messages, errors, unanswered (dot written, no reply), dot_to_250_ms and mail_to_250_ms (n, p50,
p99, max), dot_to_250_ms_by_address (per node) and its samples [address index, dot ms, MAIL ms].
Only the comparison of relays has the probe (not --dkim, --reputation, --admin, --attachments).

Usage: bench/relay.py [--runs 3] [--sizes 10k,100k,1m] [--only postfix|sekisho] [--json FILE]
                      [--sink smtp-sink|plain|tls] [--messages-per-connection N] [--no-inspection]
                      [--messages N] [--no-build] [--tuned] [--no-probe]
       bench/relay.py --attachments [links|inline|both] [--runs 3] [--messages 300] [--json FILE]
       bench/relay.py --dkim [--runs 3] [--sizes 10k] [--sink smtp-sink|plain|tls]
       bench/relay.py --reputation [--runs 3] [--sizes 10k]
       bench/relay.py --admin [--runs 3] [--sizes 10k]
       bench/relay.py --postgres 1,3 [--runs 3] [--sizes 10k]  (adds sekisho on PostgreSQL, 1 and 3 nodes)
Needs the postfix package (smtp-source, smtp-sink), root for Postfix's relay and smtp-sink, and
a release build of sekisho (built here with cargo). Traffic stays on 127.0.0.0/8.

--sink tls uses examples/tls_sink.rs, a sink that offers STARTTLS (Postfix's smtp-sink does
not), so both relays deliver over TLS: sekisho measures each session (certificate validation,
evidence, assurance), Postfix runs with smtp_tls_security_level = may. --sink plain is the same
sink without STARTTLS, to compare like with like. --messages-per-connection 1 makes every
message pay a whole session (sekisho's max_messages_per_connection; Postfix's
smtp_connection_cache_on_demand = no). --no-inspection turns off sekisho's inspection of
submitted attachments ([outbound] encrypted_attachments and uninspectable_attachments =
"allow"), to show what it costs.

--dkim measures sekisho alone with DKIM signing off, with an RSA 2048 key, with an Ed25519 key
and with both (dual signing), the runs interleaved (off, rsa, ed25519, dual, off, ...): the From
domain of smtp-source's messages (example.jp) gets a [[dkim]] table whose keys `sekisho dkim
keygen` makes, so every message is signed as it leaves. The sink gets what it would verify.

--reputation measures sekisho alone as an MX relay (its MX listener takes example.com and
delivers it to the sink, [delivery] next_hop; authentication off) without and with three DNS
blocklists ([reputation]: two client lists, one domain list), the runs interleaved. The lists
are on a fake DNS server in this harness (UDP on 127.0.0.154) that lists nothing (NXDOMAIN, as
for most legitimate mail), so every message asks about its client and its sender's domain, and
the answers come from sekisho's cache after the first.
--postgres N[,N...] adds rows for sekisho with its queue in a private PostgreSQL cluster made for
each run (Debian's postgresql 15, initdb as the postgres user, 127.0.0.155, fsync on), as each
node count: the nodes listen on 127.0.0.152, .156, .157 and .158, each with its own data
directory and name, and smtp-source's 20 sessions and the messages are split between them. The
relay's CPU then includes the database's (also shown apart in --json as db_cpu_ms_per_msg).

--admin measures sekisho alone with and without `[admin] listen`, the runs interleaved (off, on,
off, ...); while on, /metrics is scraped every second (Prometheus's default is every 15 s), and
the last scrape must hold the counters.

--attachments measures sekisho alone on messages with one 1 MB attachment (1,000,000 random
bytes, base64: 1.37 MB on the wire), sent by two smtp-source processes of 10 sessions each,
one to recipients at tls.bench, one to plain.bench, one recipient per message. tls.bench is
routed to examples/tls_sink.rs with STARTTLS, whose certificate sekisho trusts ([tls]
extra_roots, so the session is `authenticated`): those recipients get the message inline.
"links": plain.bench is routed to a second tls_sink without STARTTLS, so half the messages get
the link variant (the file sealed into the file store, a link made, the notice written in place
of the attachment). "inline": plain.bench is routed to the TLS sink too, so every message goes
inline, the same run without links. "both" (the default) alternates the two, --runs of each,
and prints the comparison. Every run checks what the sinks got: inline messages at least the
submitted size, link variants under 64 KB, and one sealed file per link message in the store.
"""
import argparse
import json
import os
import re
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

from smtp_probe import LatencyProbe, fmt, summary

# --tuned: the settings figures before 2026-12-04 were measured with. Without it sekisho runs
# its defaults apart from addresses and routes ([log] level "info", [delivery] max_connections
# 50, max_connections_per_destination 10, scan_interval "1s").
TUNED = False
TUNED_LOG = '[log]\nlevel = "warn"'
TUNED_DELIVERY = 'max_connections = 20\nmax_connections_per_destination = 20\nscan_interval = "100ms"'

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SINK = "127.0.0.150"
POSTFIX = "127.0.0.151"
SEKISHO = "127.0.0.152"
PLAIN_SINK = "127.0.0.153"
COUNTS = {"10k": (10_000, 5000), "100k": (100_000, 2000), "1m": (1_000_000, 300)}
ATTACHMENT_BYTES = 1_000_000
ATTACHMENT_MESSAGES = 300
LINK_VARIANT_MAX = 64 << 10
# Latency probe sessions beside smtp-source's 20 (bench/smtp_probe.py), whatever the node count.
PROBE_SESSIONS = 2


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

    def __init__(self, port, kind, ip=SINK, cert_out=None):
        self.count = 0
        self.bytes = 0
        if kind == "smtp-sink":
            cmd = ["smtp-sink", "-u", "nobody", "-c", f"{ip}:{port}", "1024"]
        else:
            cmd = [example_binary("tls_sink"), f"{ip}:{port}"] + (["--tls"] if kind == "tls" else [])
            if cert_out:
                cmd += ["--cert-out", cert_out]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        threading.Thread(target=self._read, daemon=True).start()
        wait_listening(ip, port)

    def _read(self):
        buf = b""
        while True:
            chunk = self.proc.stdout.read1(4096) if hasattr(self.proc.stdout, "read1") else self.proc.stdout.read(64)
            if not chunk:
                return
            buf = (buf + chunk)[-256:]
            found = re.findall(rb"mesg=(\d+)(?: bytes=(\d+))?", buf)
            if found:
                self.count = int(found[-1][0])
                if found[-1][1]:
                    self.bytes = int(found[-1][1])

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

    def __init__(self, workdir, sink_port, binary, per_connection, inspection=True, extra="", dkim=(), mx=False,
                 ip=SEKISHO, hostname="bench.sekisho.test", store_url=None):
        """Relays to the sink at sink_port, or (sink_port None) as `extra` routes it; signs mail
        from example.jp with a key of each algorithm in `dkim` ("rsa-sha256", "ed25519-sha256").
        Listens on `ip` and names itself `hostname` (several nodes: one address and name each);
        with `store_url`, the queue is in that PostgreSQL database ([store] backend = "postgres")."""
        self.dir = os.path.join(workdir, f"sekisho-{ip}")
        os.makedirs(self.dir, exist_ok=True)
        if dkim:
            keys = []
            for n, algorithm in enumerate(dkim):
                path = os.path.join(self.dir, f"dkim{n}.key")
                subprocess.run([binary, "dkim", "keygen", "example.jp", f"s{n}", "--algorithm", algorithm,
                                "--out", path], check=True, stdout=subprocess.DEVNULL)
                keys.append((f"s{n}", path))
            selectors = ", ".join(f'"{s}"' for s, _ in keys)
            paths = ", ".join(f's{n} = "{p}"' for n, (_, p) in enumerate(keys))
            extra += f'\n[[dkim]]\ndomain = "example.jp"\nselectors = [{selectors}]\nkeys = {{ {paths} }}\n' 
        self.port = free_port(ip)
        portal = f"{ip}:{free_port(ip)}"
        relay_host = f'relay_host = "[{SINK}]:{sink_port}"' if sink_port else ""
        top, listener = "", 'role = "submission"\ntrusted_networks = ["127.0.0.0/8"]'
        if mx:
            # Mail for example.com arrives from the internet and goes to the sink (the internal
            # server); no DNS but the harness's, so no authentication.
            top = 'local_domains = ["example.com"]'
            relay_host = f'next_hop = "[{SINK}]:{sink_port}"'
            # smtp-source's 20 sessions come from one address.
            listener = 'role = "mx"\nmax_connections_per_client = 100'
            extra += "\n[authentication]\nenabled = false\n"
        config = os.path.join(self.dir, "sekisho.toml")
        with open(config, "w") as f:
            f.write(f"""hostname = "{hostname}"
{top}
[store]
path = "{self.dir}/data"
min_free_space = 0
{f'backend = "postgres"{chr(10)}url = "{store_url}"' if store_url else ""}
{TUNED_LOG if TUNED else ""}
[portal]
address = "{portal}"
url = "http://{portal}"
[delivery]
{relay_host}
max_messages_per_connection = {per_connection}
{TUNED_DELIVERY if TUNED else ""}
[outbound]
encrypted_attachments = "{'reject' if inspection else 'allow'}"
uninspectable_attachments = "{'reject' if inspection else 'allow'}"
[[listener]]
address = "{ip}:{self.port}"
{listener}
{extra}""")
        self.proc = subprocess.Popen([binary, "--config", config, "serve"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_listening(ip, self.port)
        self.addr = f"{ip}:{self.port}"
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
        terminate(self.proc)


def terminate(proc):
    """Stops a relay with SIGTERM, as its service manager would; SIGKILL after 10 s."""
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


PG_BIN = "/usr/lib/postgresql/15/bin"
PG_IP = "127.0.0.155"
# Node addresses for --nodes: the first is the single node's address.
NODE_IPS = [SEKISHO, "127.0.0.156", "127.0.0.157", "127.0.0.158"]


class PostgresServer:
    """A private PostgreSQL cluster (Debian's postgresql 15) for one run, as the tests' kit
    makes it: initdb in the run's directory as the `postgres` user, trust authentication on
    127.0.0.155, fsync on, a database `sekisho`."""

    def __init__(self, workdir):
        self.dir = os.path.join(workdir, "pg")
        os.makedirs(self.dir)
        subprocess.run(["chown", "-R", "postgres:postgres", self.dir], check=True)
        d = self.dir
        while d != "/":
            d = os.path.dirname(d)
            subprocess.run(["chmod", "o+x", d], check=False)
        data = os.path.join(self.dir, "pgdata")
        subprocess.run(["runuser", "-u", "postgres", "--", f"{PG_BIN}/initdb", "-D", data, "-A", "trust", "-U",
                        "postgres", "--no-sync", "-E", "UTF8", "--locale=C"], check=True, stdout=subprocess.DEVNULL)
        self.port = free_port(PG_IP)
        log = open(os.path.join(self.dir, "postgres.log"), "a")
        self.proc = subprocess.Popen(["runuser", "-u", "postgres", "--", f"{PG_BIN}/postgres", "-D", data, "-h", PG_IP,
                                      "-p", str(self.port), "-k", self.dir, "-c", "fsync=on",
                                      "-c", "max_connections=200"], stdout=subprocess.DEVNULL, stderr=log)
        for _ in range(200):
            if subprocess.run([f"{PG_BIN}/pg_isready", "-h", PG_IP, "-p", str(self.port), "-q"]).returncode == 0:
                break
            time.sleep(0.05)
        else:
            raise SystemExit(f"postgres did not start: see {self.dir}/postgres.log")
        subprocess.run([f"{PG_BIN}/createdb", "-h", PG_IP, "-p", str(self.port), "-U", "postgres", "sekisho"], check=True)
        with open(os.path.join(data, "postmaster.pid")) as f:
            self.master = int(f.readline())
        self.url = f"postgres://postgres@{PG_IP}:{self.port}/sekisho"

    def cpu_jiffies(self):
        return sum(proc_cpu_jiffies(p) for p in descendants(self.master))

    def counters(self):
        """WAL bytes written so far, and the database's transactions and rows written."""
        out = subprocess.run([f"{PG_BIN}/psql", "-h", PG_IP, "-p", str(self.port), "-U", "postgres", "-d", "sekisho",
                              "-At", "-F", " ", "-c",
                              "SELECT pg_current_wal_lsn() - '0/0', xact_commit, tup_inserted + tup_updated + "
                              "tup_deleted FROM pg_stat_database WHERE datname = 'sekisho'"],
                             capture_output=True, text=True, check=True).stdout.split()
        return [float(x) for x in out]

    def stop(self):
        subprocess.run(["kill", "-INT", str(self.master)], check=False)
        self.proc.wait()


class SekishoNodes:
    """`count` sekisho nodes sharing one PostgreSQL database, each with its own address, name
    and data directory; measured together (their CPU, memory and the database's CPU)."""

    def __init__(self, workdir, sink_port, binary, per_connection, inspection, count):
        self.db = PostgresServer(workdir)
        self.nodes = [SekishoRelay(workdir, sink_port, binary, per_connection, inspection, ip=NODE_IPS[i],
                                   hostname=f"node{i + 1}.sekisho.test", store_url=self.db.url)
                      for i in range(count)]
        self.addrs = [n.addr for n in self.nodes]

    def memory_kib(self):
        return sum(n.memory_kib() for n in self.nodes)

    def peak_rss_kib(self):
        return max(n.peak_rss_kib() for n in self.nodes)

    def cpu_jiffies(self):
        return sum(n.cpu_jiffies() for n in self.nodes)

    def stop(self):
        for n in self.nodes:
            n.stop()
        self.db.stop()


def one_run(kind, size_name, binary, sink_kind, per_connection, inspection=True, messages=None, dkim=(),
            mx=False, extra="", admin=False, nodes=0, probe=False):
    """One run; `nodes` > 0: sekisho as that many nodes on a private PostgreSQL, the 20 sessions
    and the messages split between them. With `probe`, PROBE_SESSIONS latency probes
    (bench/smtp_probe.py) send messages of the same size to the relay (its nodes in turn) while
    smtp-source runs; their messages reach the sink too, so the run ends when the sink has
    smtp-source's and the probe's, and the per-message figures count both."""
    size, count = COUNTS[size_name]
    count = messages or count
    work = tempfile.mkdtemp(prefix=f"bench-{kind}-")
    sink_port = free_port(SINK)
    sink = Sink(sink_port, sink_kind)
    admin_addr = f"{SEKISHO}:{free_port(SEKISHO)}" if admin else None
    if kind == "postfix":
        relay = PostfixRelay(work, sink_port, per_connection)
    elif nodes:
        relay = SekishoNodes(work, sink_port, binary, per_connection, inspection, nodes)
    else:
        if admin:
            extra += f'[admin]\nlisten = "{admin_addr}"\n'
        relay = SekishoRelay(work, sink_port, binary, per_connection, inspection, dkim=dkim, mx=mx, extra=extra)
    peak, done = sample_peak_memory(relay)
    scrapes = scrape_every_second(admin_addr, done) if admin else None
    addrs = relay.addrs if hasattr(relay, "addrs") else [relay.addr]
    db = getattr(relay, "db", None)
    busy0, relay0, t0 = busy_jiffies(), relay.cpu_jiffies(), time.time()
    db0 = db.cpu_jiffies() if db else 0
    counters0 = db.counters() if db else None
    sources = []
    for i, addr in enumerate(addrs):
        share = count // len(addrs) + (1 if i < count % len(addrs) else 0)
        sessions = max(1, 20 // len(addrs) + (1 if i < 20 % len(addrs) else 0))
        sources.append(subprocess.Popen(["smtp-source", "-s", str(sessions), "-m", str(share), "-l", str(size),
                                         "-M", "source.test", "-f", "bench@example.jp", "-t", "sink@example.com",
                                         addr], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True))
    latency = LatencyProbe(addrs, size, PROBE_SESSIONS) if probe else None
    if latency:
        latency.start()
    try:
        for source in sources:
            _, err = source.communicate()
            if source.returncode != 0:
                raise SystemExit(f"smtp-source failed against {kind}: {err}")
    finally:
        # The probe measures under smtp-source's load only: it stops when the load does.
        probed = latency.stop() if latency else None
    # Every message a relay answered 250 reaches the sink: smtp-source's and the probe's.
    total = count + (probed["messages"] if probed else 0)
    deadline = time.time() + 600
    while sink.count < total and time.time() < deadline:
        time.sleep(0.01)
    t1 = time.time()
    busy1, relay1 = busy_jiffies(), relay.cpu_jiffies()
    db1 = db.cpu_jiffies() if db else 0
    if db:
        # The statistics collector reports with a delay of up to half a second.
        time.sleep(1)
        counters1 = db.counters()
    done.set()
    hz = os.sysconf("SC_CLK_TCK")
    result = {
        "relay": kind,
        "size": size_name,
        "messages": count,
        "total_messages": total,
        "received": sink.count,
        "seconds": t1 - t0,
        "msgs_per_s": total / (t1 - t0),
        "mb_per_s": total * size / (t1 - t0) / 1e6,
        "box_cpu_ms_per_msg": (busy1 - busy0) * 1000 / hz / total,
        "relay_cpu_ms_per_msg": (relay1 - relay0) * 1000 / hz / total,
        "memory_kib": peak[0],
    }
    if probed:
        result["probe"] = probed
    if db:
        # The database serves the relay: its CPU is the relay's too, and shown apart.
        result["db_cpu_ms_per_msg"] = (db1 - db0) * 1000 / hz / total
        result["relay_cpu_ms_per_msg"] += result["db_cpu_ms_per_msg"]
        result["nodes"] = nodes
        wal, commits, rows = (b - a for a, b in zip(counters0, counters1))
        result["db_wal_bytes_per_msg"] = wal / total
        result["db_commits_per_msg"] = commits / total
        result["db_rows_written_per_msg"] = rows / total
    if kind == "sekisho":
        result["peak_rss_kib"] = relay.peak_rss_kib()
    if scrapes is not None:
        result["scrapes"] = len(scrapes)
        last = scrapes[-1] if scrapes else ""
        if "sekisho_messages_received_total" not in last:
            raise SystemExit(f"--admin: no metrics scraped from {admin_addr}")
    relay.stop()
    sink.stop()
    shutil.rmtree(work, ignore_errors=True)
    if sink.count < total:
        raise SystemExit(f"{kind} {size_name}: only {sink.count} of {total} messages reached the sink")
    return result


def scrape_every_second(addr, done):
    """Scrapes http://addr/metrics every second until done is set, as Prometheus would (its
    default interval is 15 s: this is fifteen times the load); returns the texts scraped."""
    import urllib.request
    texts = []

    def loop():
        while not done.wait(1.0):
            try:
                with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
                    texts.append(r.read().decode())
            except OSError:
                pass

    threading.Thread(target=loop, daemon=True).start()
    return texts


def admin_main(args, binary):
    """--admin: sekisho alone, runs alternating without and with [admin] listen (scraped every
    second), so both see the same machine; prints the medians of each."""
    results = {False: [], True: []}
    for size_name in args.sizes.split(","):
        for run in range(args.runs):
            for admin in (False, True):
                r = one_run("sekisho", size_name, binary, args.sink, args.messages_per_connection,
                            not args.no_inspection, args.messages, admin=admin)
                results[admin].append(r)
                label = "admin on " if admin else "admin off"
                print(f"{label} {size_name:5} run {run + 1}: {r['msgs_per_s']:8.1f} msg/s "
                      f"relay {r['relay_cpu_ms_per_msg']:.3f} ms/msg mem {r['peak_rss_kib'] / 1024:.1f} MiB"
                      + (f" scrapes {r['scrapes']}" if admin else ""), flush=True)
    print()
    print("| admin listener | msg/s (median) | relay CPU ms/msg | peak RSS MiB |")
    print("|---|---|---|---|")
    for admin in (False, True):
        rs = results[admin]
        print(f"| {'on, /metrics every 1 s' if admin else 'off'} | {statistics.median(r['msgs_per_s'] for r in rs):.0f} | "
              f"{statistics.median(r['relay_cpu_ms_per_msg'] for r in rs):.3f} | "
              f"{max(r['peak_rss_kib'] for r in rs) / 1024:.0f} |")


def attachment_message(path):
    """Writes a message with one attachment of ATTACHMENT_BYTES random bytes to path, with LF
    line ends (smtp-source -F sends each line with CRLF); returns its size on the wire."""
    import base64
    import random
    data = random.Random(7).randbytes(ATTACHMENT_BYTES)
    b64 = base64.b64encode(data).decode()
    lines = ["From: bench@example.jp", "To: recipients@bench.test", "Subject: figures",
             "MIME-Version: 1.0", 'Content-Type: multipart/mixed; boundary="b1"', "",
             "--b1", "Content-Type: text/plain; charset=utf-8", "", "Please find the figures attached.",
             "--b1", 'Content-Type: application/octet-stream; name="figures.bin"',
             'Content-Disposition: attachment; filename="figures.bin"', "Content-Transfer-Encoding: base64", ""]
    lines += [b64[i:i + 76] for i in range(0, len(b64), 76)]
    lines += ["--b1--"]
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return sum(len(line) + 2 for line in lines)


def attachment_run(variant, binary, count, message_file, message_bytes, inspection=True):
    """One run of --attachments: count messages (half to tls.bench, half to plain.bench)."""
    work = tempfile.mkdtemp(prefix=f"bench-attachments-{variant}-")
    os.chmod(work, 0o755)
    cert = os.path.join(work, "sink.pem")
    tls_port = free_port(SINK)
    tls_sink = Sink(tls_port, "tls", SINK, cert_out=cert)
    plain_sink = None
    if variant == "links":
        plain_port = free_port(PLAIN_SINK)
        plain_sink = Sink(plain_port, "plain", PLAIN_SINK)
        plain_route = f"[{PLAIN_SINK}]:{plain_port}"
    else:
        plain_route = f"[sink.bench]:{tls_port}"
    deadline = time.time() + 10
    while not os.path.exists(cert) and time.time() < deadline:
        time.sleep(0.05)
    extra = f"""[tls]
extra_roots = ["{cert}"]
[dns.static]
"sink.bench" = ["A {SINK}"]
[routes]
"tls.bench" = "[sink.bench]:{tls_port}"
"plain.bench" = "{plain_route}"
"""
    relay = SekishoRelay(work, None, binary, 100, inspection, extra)
    sinks = [tls_sink] + ([plain_sink] if plain_sink else [])
    try:
        return measure_attachments(variant, relay, tls_sink, plain_sink, count, message_file, message_bytes)
    finally:
        relay.stop()
        for sink in sinks:
            sink.stop()
        shutil.rmtree(work, ignore_errors=True)


def sample_peak_memory(relay):
    """Samples the relay's memory every 0.1 s until the returned event is set; the peak (KiB)
    is in the returned one-element list."""
    peak = [0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], relay.memory_kib())
            time.sleep(0.1)

    threading.Thread(target=sample, daemon=True).start()
    return peak, done


def measure_attachments(variant, relay, tls_sink, plain_sink, count, message_file, message_bytes):
    peak, done = sample_peak_memory(relay)
    half = count // 2
    sinks = [tls_sink] + ([plain_sink] if plain_sink else [])

    def ours():
        """CPU jiffies of the relay and the sinks."""
        return relay.cpu_jiffies() + sum(proc_cpu_jiffies(s.proc.pid) for s in sinks)

    hz = os.sysconf("SC_CLK_TCK")
    children0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    busy0, relay0, ours0, t0 = busy_jiffies(), relay.cpu_jiffies(), ours(), time.time()
    sources = [subprocess.Popen(["smtp-source", "-s", "10", "-m", str(half), "-F", message_file, "-M", "source.test",
                                 "-f", "bench@example.jp", "-t", f"rcpt@{domain}", relay.addr],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
               for domain in ["tls.bench", "plain.bench"]]
    for source in sources:
        _, err = source.communicate()
        if source.returncode != 0:
            raise SystemExit(f"smtp-source failed against sekisho: {err}")
    children1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    sources_jiffies = (children1.ru_utime + children1.ru_stime - children0.ru_utime - children0.ru_stime) * hz

    def received():
        return sum(s.count for s in sinks)

    deadline = time.time() + 600
    while received() < 2 * half and time.time() < deadline:
        time.sleep(0.01)
    t1 = time.time()
    busy1, relay1, ours1 = busy_jiffies(), relay.cpu_jiffies(), ours()
    done.set()
    time.sleep(0.25)  # the sinks' next counter line carries the bytes of the last messages
    # The machine's busy time that was none of the benchmark's (relay, sinks, smtp-source): other
    # work sharing the CPU, as a share of both cores.
    foreign = busy1 - busy0 - (ours1 - ours0) - sources_jiffies
    files_dir = os.path.join(relay.dir, "data", "files")
    stored = len([f for f in os.listdir(files_dir) if f != "tmp"]) if os.path.isdir(files_dir) else 0
    result = {
        "relay": "sekisho",
        "attachments": variant,
        "messages": 2 * half,
        "received": received(),
        "message_bytes": message_bytes,
        "seconds": t1 - t0,
        "msgs_per_s": 2 * half / (t1 - t0),
        "mb_per_s": 2 * half * message_bytes / (t1 - t0) / 1e6,
        "box_cpu_ms_per_msg": (busy1 - busy0) * 1000 / hz / (2 * half),
        "relay_cpu_ms_per_msg": (relay1 - relay0) * 1000 / hz / (2 * half),
        "memory_kib": max(peak[0], relay.peak_rss_kib()),
        "tls_sink": {"messages": tls_sink.count, "bytes": tls_sink.bytes},
        "plain_sink": {"messages": plain_sink.count, "bytes": plain_sink.bytes} if plain_sink else None,
        "files_stored": stored,
        "foreign_cpu_pct": max(0.0, foreign / hz / (t1 - t0) / os.cpu_count() * 100),
        "load": os.getloadavg()[0],
    }
    if received() < 2 * half:
        raise SystemExit(f"attachments {variant}: only {received()} of {2 * half} messages reached the sinks")
    # Each recipient got the variant its session earned: inline at the TLS sink, the link
    # variant (a notice instead of the attachment) at the plain one, one sealed file each.
    inline_avg = tls_sink.bytes / max(tls_sink.count, 1)
    if inline_avg < message_bytes:
        raise SystemExit(f"attachments {variant}: the TLS sink got {inline_avg:.0f} bytes a message on average, "
                         f"less than the {message_bytes} submitted: not inline")
    if plain_sink:
        per = plain_sink.bytes / max(plain_sink.count, 1)
        if per > LINK_VARIANT_MAX or stored != half:
            raise SystemExit(f"attachments links: {per:.0f} bytes a message at the plain sink, {stored} files "
                             f"stored for {half} link messages: not the link variant")
        result["link_variant_bytes"] = per
    elif stored:
        raise SystemExit(f"attachments inline: {stored} files stored, none expected")
    return result


def attachments_main(args, binary):
    variants = ["inline", "links"] if args.attachments == "both" else [args.attachments]
    count = args.messages or ATTACHMENT_MESSAGES
    work = tempfile.mkdtemp(prefix="bench-attachment-message-")
    os.chmod(work, 0o755)
    message_file = os.path.join(work, "message.eml")
    message_bytes = attachment_message(message_file)
    results = []
    try:
        for run in range(args.runs):
            for variant in variants:
                r = attachment_run(variant, binary, count, message_file, message_bytes, not args.no_inspection)
                results.append(r)
                extra = f" link variant {r['link_variant_bytes'] / 1024:.1f} KiB" if "link_variant_bytes" in r else ""
                print(f"attachments {variant:6} run {run + 1}: {r['msgs_per_s']:7.1f} msg/s {r['mb_per_s']:7.2f} MB/s "
                      f"box {r['box_cpu_ms_per_msg']:.2f} ms/msg relay {r['relay_cpu_ms_per_msg']:.2f} ms/msg "
                      f"mem {r['memory_kib'] / 1024:.1f} MiB{extra}; other work {r['foreign_cpu_pct']:.0f}% of the "
                      f"CPU, load {r['load']:.2f}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print()
    print(f"{count} messages of {message_bytes / 1e6:.2f} MB (a {ATTACHMENT_BYTES / 1e6:.0f} MB attachment), "
          f"medians of {args.runs}; memory: the highest peak RSS")
    print("| attachments | msg/s | MB/s | box CPU ms/msg | relay CPU ms/msg | relay memory MiB |")
    print("|---|---|---|---|---|---|")
    med = {}
    for variant in variants:
        rs = [r for r in results if r["attachments"] == variant]
        med[variant] = {k: statistics.median(r[k] for r in rs)
                        for k in ["msgs_per_s", "mb_per_s", "box_cpu_ms_per_msg", "relay_cpu_ms_per_msg"]}
        med[variant]["memory_kib"] = max(r["memory_kib"] for r in rs)
        label = "all inline (TLS sink)" if variant == "inline" else "half links (plain sink)"
        m = med[variant]
        print(f"| {label} | {m['msgs_per_s']:.1f} | {m['mb_per_s']:.1f} | {m['box_cpu_ms_per_msg']:.2f} | "
              f"{m['relay_cpu_ms_per_msg']:.2f} | {m['memory_kib'] / 1024:.0f} |")
    if len(variants) == 2:
        i, l = med["inline"], med["links"]
        # Half the messages took the link path instead of the inline one.
        wall = (1 / l["msgs_per_s"] - 1 / i["msgs_per_s"]) * 1000 * 2
        cpu = (l["relay_cpu_ms_per_msg"] - i["relay_cpu_ms_per_msg"]) * 2
        print()
        print(f"links/inline throughput: {l['msgs_per_s'] / i['msgs_per_s']:.2f}x; per link message, against "
              f"sending it inline over TLS: {wall:+.2f} ms of wall time, {cpu:+.2f} ms of sekisho CPU")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def dkim_main(args, binary):
    """Signing off, RSA 2048, Ed25519, both: the runs interleaved, medians compared with off."""
    modes = [("off", ()), ("rsa", ("rsa-sha256",)), ("ed25519", ("ed25519-sha256",)),
             ("dual", ("rsa-sha256", "ed25519-sha256"))]
    for size_name in args.sizes.split(","):
        results = {name: [] for name, _ in modes}
        for run in range(args.runs):
            for name, dkim in modes:
                r = one_run("sekisho", size_name, binary, args.sink, args.messages_per_connection,
                            not args.no_inspection, args.messages, dkim)
                results[name].append(r)
                print(f"dkim {name:8} {size_name:5} run {run + 1}: {r['msgs_per_s']:8.1f} msg/s "
                      f"relay {r['relay_cpu_ms_per_msg']:.2f} ms/msg mem {r['memory_kib'] / 1024:.1f} MiB", flush=True)
        print()
        print("| size | DKIM | msg/s | relay CPU ms/msg | box CPU ms/msg | vs off |")
        print("|---|---|---|---|---|---|")
        off = statistics.median(r["msgs_per_s"] for r in results["off"])
        for name, _ in modes:
            rs = results[name]
            rate = statistics.median(r["msgs_per_s"] for r in rs)
            relay = statistics.median(r["relay_cpu_ms_per_msg"] for r in rs)
            box = statistics.median(r["box_cpu_ms_per_msg"] for r in rs)
            print(f"| {size_name} | {name} | {rate:.0f} | {relay:.2f} | {box:.2f} | {(rate / off - 1) * 100:+.1f}% |")
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=2)


FAKE_DNS = "127.0.0.154"


class FakeDns:
    """A DNS server on UDP that answers every question NXDOMAIN (nothing listed) and counts them."""

    def __init__(self):
        import socket
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((FAKE_DNS, 0))
        self.addr = f"{FAKE_DNS}:{self.sock.getsockname()[1]}"
        self.queries = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        while True:
            try:
                packet, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            if len(packet) < 12:
                continue
            self.queries += 1
            # The question: labels up to the root, then type and class.
            end = 12
            while end < len(packet) and packet[end] != 0:
                end += packet[end] + 1
            question = packet[12:end + 5]
            flags = 0x8183  # response, recursion desired and available, NXDOMAIN
            header = packet[:2] + flags.to_bytes(2, "big") + (1).to_bytes(2, "big") + bytes(6)
            self.sock.sendto(header + question, peer)

    def stop(self):
        self.sock.close()


def reputation_main(args, binary):
    dns = FakeDns()
    lists = f"""
[dns]
servers = ["{dns.addr}"]
[reputation]
client_lists = ["dnsbl.bench=127.0.0.[2..11]*3", "allow.bench=127.0.[0..255].[1..3]*-2"]
domain_lists = ["dbl.bench=127.0.1.[2..99]*2"]
quarantine_score = 4
reject_score = 6
"""
    results = {"none": [], "lists": []}
    for size_name in args.sizes.split(","):
        for run in range(args.runs):
            for variant in ["none", "lists"]:
                before = dns.queries
                r = one_run("sekisho", size_name, binary, args.sink, args.messages_per_connection, True,
                            args.messages, mx=True, extra=lists if variant == "lists" else "")
                r["variant"], r["dns_queries"] = variant, dns.queries - before
                results[variant].append(r)
                print(f"{variant:6} {size_name:5} run {run + 1}: {r['msgs_per_s']:8.1f} msg/s "
                      f"relay {r['relay_cpu_ms_per_msg']:.2f} ms/msg box {r['box_cpu_ms_per_msg']:.2f} ms/msg "
                      f"DNS queries {r['dns_queries']}", flush=True)
    dns.stop()
    print()
    print("| size | blocklists | msg/s (runs) | median msg/s | relay CPU ms/msg | box CPU ms/msg | lists/none |")
    print("|---|---|---|---|---|---|---|")
    for size_name in args.sizes.split(","):
        med = {}
        for variant in ["none", "lists"]:
            rs = [r for r in results[variant] if r["size"] == size_name]
            med[variant] = statistics.median(r["msgs_per_s"] for r in rs)
            runs = ", ".join(f"{r['msgs_per_s']:.0f}" for r in rs)
            ratio = f"{med['lists'] / med['none']:.2f}" if variant == "lists" else ""
            print(f"| {size_name} | {variant} | {runs} | {med[variant]:.0f} | "
                  f"{statistics.median(r['relay_cpu_ms_per_msg'] for r in rs):.2f} | "
                  f"{statistics.median(r['box_cpu_ms_per_msg'] for r in rs):.2f} | {ratio} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--sizes", default="10k,100k,1m")
    ap.add_argument("--only", choices=["postfix", "sekisho"])
    ap.add_argument("--json")
    ap.add_argument("--sink", choices=["smtp-sink", "plain", "tls"], default="smtp-sink")
    ap.add_argument("--messages-per-connection", type=int, default=100)
    ap.add_argument("--no-inspection", action="store_true")
    ap.add_argument("--tuned", action="store_true",
                    help="sekisho with [log] level = \"warn\" and [delivery] max_connections = 20, "
                         "max_connections_per_destination = 20, scan_interval = \"100ms\" (defaults otherwise)")
    ap.add_argument("--no-build", action="store_true",
                    help="use the release binaries already built (under $CARGO_TARGET_DIR) as they are")
    ap.add_argument("--messages", type=int, help="messages per run instead of the size's default (at most 20000)")
    ap.add_argument("--admin", action="store_true",
                    help="sekisho alone, runs alternating without and with the admin listener scraped every second")
    ap.add_argument("--dkim", action="store_true",
                    help="sekisho alone: DKIM signing off, RSA, Ed25519 and both, runs interleaved")
    ap.add_argument("--reputation", action="store_true",
                    help="sekisho alone as an MX relay: no DNS blocklists and three, runs interleaved")
    ap.add_argument("--postgres", metavar="NODES", default="",
                    help="also sekisho on a private PostgreSQL ([store] backend = \"postgres\"), as each of these "
                         "node counts (e.g. 1,3): rows labelled pg1, pg3; relay CPU includes the database's")
    ap.add_argument("--no-probe", action="store_true",
                    help="no latency probe beside smtp-source (the time-to-250 columns stay empty)")
    ap.add_argument("--attachments", nargs="?", const="both", choices=["links", "inline", "both"],
                    help="sekisho alone, 1 MB attachments, half the recipients without STARTTLS (links)")
    args = ap.parse_args()
    global TUNED
    TUNED = args.tuned
    if args.messages is not None and not 2 <= args.messages <= 20_000:
        raise SystemExit("--messages: between 2 and 20000")
    if args.attachments and args.only == "postfix":
        raise SystemExit("--attachments measures sekisho only")
    uses_root = not args.attachments and (args.only != "sekisho" or args.sink == "smtp-sink")
    if uses_root and os.geteuid() != 0:
        raise SystemExit("run as root (Postfix's master and smtp-sink need it)")
    binary = os.path.join(target_dir(), "release", "sekisho")
    if (args.only != "postfix" or args.attachments) and not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    if (args.sink != "smtp-sink" or args.attachments) and not args.no_build:
        subprocess.run(["cargo", "build", "--release", "--quiet", "--example", "tls_sink"], cwd=ROOT, check=True)
    if args.attachments:
        attachments_main(args, binary)
        return
    if args.dkim:
        dkim_main(args, binary)
        return
    if args.reputation:
        reputation_main(args, binary)
        return
    if args.admin:
        admin_main(args, binary)
        return
    kinds = [args.only] if args.only else ["postfix", "sekisho"]
    node_counts = [int(n) for n in args.postgres.split(",") if n]
    if any(not 1 <= n <= len(NODE_IPS) for n in node_counts):
        raise SystemExit(f"--postgres: node counts between 1 and {len(NODE_IPS)}")
    if node_counts and not os.path.exists(f"{PG_BIN}/initdb"):
        raise SystemExit("--postgres needs Debian's postgresql package (apt-get install postgresql)")
    kinds += [f"pg{n}" for n in node_counts]
    results = []
    for size_name in args.sizes.split(","):
        for kind in kinds:
            for run in range(args.runs):
                nodes = int(kind[2:]) if kind.startswith("pg") else 0
                r = one_run("sekisho" if nodes else kind, size_name, binary, args.sink, args.messages_per_connection,
                            not args.no_inspection, args.messages, nodes=nodes, probe=not args.no_probe)
                r["relay"] = kind
                results.append(r)
                db = ""
                if nodes:
                    db = (f" (database {r['db_cpu_ms_per_msg']:.2f} ms/msg, WAL {r['db_wal_bytes_per_msg'] / 1024:.1f} "
                          f"KiB/msg, {r['db_commits_per_msg']:.1f} commits/msg, "
                          f"{r['db_rows_written_per_msg']:.1f} rows written/msg)")
                latency = ""
                if "probe" in r:
                    p = r["probe"]
                    latency = (f"; probe {p['messages']} msgs, dot->250 {fmt(p['dot_to_250_ms'])} ms, "
                               f"MAIL->250 {fmt(p['mail_to_250_ms'])} ms (p50 / p99 / max)")
                    if p["errors"]:
                        latency += f", {p['errors']} failed ({p['unanswered']} unanswered): {p['error_reasons'][0]}"
                print(f"{kind:8} {size_name:5} run {run + 1}: {r['msgs_per_s']:8.1f} msg/s {r['mb_per_s']:7.2f} MB/s "
                      f"box {r['box_cpu_ms_per_msg']:.2f} ms/msg relay {r['relay_cpu_ms_per_msg']:.2f} ms/msg "
                      f"mem {r['memory_kib'] / 1024:.1f} MiB{db}{latency}", flush=True)
    print()
    print("| size | relay | msg/s | MB/s | box CPU ms/msg | relay CPU ms/msg | relay memory MiB | sekisho/Postfix "
          "| dot→250 ms p50 / p99 / max | MAIL→250 ms p50 / p99 / max |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for size_name in args.sizes.split(","):
        med = {}
        for kind in kinds:
            rs = [r for r in results if r["relay"] == kind and r["size"] == size_name]
            med[kind] = {k: statistics.median(r[k] for r in rs)
                         for k in ["msgs_per_s", "mb_per_s", "box_cpu_ms_per_msg", "relay_cpu_ms_per_msg", "memory_kib"]}
            if kind != "postfix":
                med[kind]["memory_kib"] = max(max(r["peak_rss_kib"], r["memory_kib"]) for r in rs)
            # Latency over the probe's messages of every run of this relay and size, merged
            # (percentiles of medians would hide the tail the p99 is for).
            samples = [s for r in rs for s in r.get("probe", {}).get("samples", [])]
            med[kind]["dot"] = summary([s[1] for s in samples])
            med[kind]["mail"] = summary([s[2] for s in samples])
        for kind in kinds:
            m = med[kind]
            ratio = ""
            if kind != "postfix" and "postfix" in med:
                ratio = f"{m['msgs_per_s'] / med['postfix']['msgs_per_s']:.2f}x"
            print(f"| {size_name} | {kind} | {m['msgs_per_s']:.0f} | {m['mb_per_s']:.1f} | {m['box_cpu_ms_per_msg']:.2f} | "
                  f"{m['relay_cpu_ms_per_msg']:.2f} | {m['memory_kib'] / 1024:.0f} | {ratio} | {fmt(m['dot'])} | "
                  f"{fmt(m['mail'])} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
