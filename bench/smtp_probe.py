#!/usr/bin/env python3
"""Latency probe for the relay benchmarks: how long a client waits for the 250.

A probe is a few SMTP clients that run beside the load (smtp-source) against the relay under
test, each sending messages of the run's size back to back, one message per connection (as
smtp-source does), one command at a time (no PIPELINING), to the relay's addresses in turn
(several nodes: message i of a session goes to node i mod N, the sessions starting at different
nodes). For every message it times, with a monotonic clock:

- dot -> 250: from just before the final ".\\r\\n" is written (the body before it handed to the
  socket; with large messages the relay may still be reading the end of it) to the moment the
  reply's last line is read: what the relay does between the end of DATA and its answer
  (inspection, rules, the fsync'd commit), plus waiting behind the load, as a client sees it;
- MAIL -> 250: from just before MAIL FROM is written to the same 250: the whole transaction
  (MAIL, RCPT, DATA, the body, the dot), without the connection, greeting and EHLO.

Each session is a process of its own (this file run as a script), so the timing does not wait
for the harness's threads or the interpreter lock; it prints one line per message as it goes,
so nothing is lost if it has to be killed. Every socket operation has a timeout, a session that
fails reconnects after a short pause, and a session told to stop finishes its message and exits:
a probe cannot hang a run.
"""
import math
import os
import signal
import socket
import subprocess
import sys
import threading
import time

# Seconds any one socket operation of the probe may take before the message counts as failed.
TIMEOUT = 30.0
# Seconds a session may take to finish its message once told to stop; then it is killed.
STOP_GRACE = 2 * TIMEOUT + 5


def percentile(sorted_values, p):
    """The nearest-rank percentile p (0-100) of an ascending list (None for an empty one)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def summary(values):
    """{"n", "p50", "p99", "max"} of a list of milliseconds (None figures when empty)."""
    v = sorted(values)
    return {"n": len(v), "p50": percentile(v, 50), "p99": percentile(v, 99), "max": v[-1] if v else None}


def fmt(s):
    """"p50 / p99 / max" of a summary, in ms, for tables and run lines."""
    if not s["n"]:
        return "-"
    return f"{s['p50']:.1f} / {s['p99']:.1f} / {s['max']:.1f}"


class LatencyProbe:
    """`sessions` probe processes against `addrs` ("ip:port"), messages of `size` bytes of body.
    start() launches them, stop() tells them to finish and collects; then `accepted` is the
    number of messages answered 250 after the dot (the relay took them: the sink gets them
    too), `samples` one (address, dot_ms, mail_ms) per accepted message, `errors` the count of
    messages that failed (refused, timed out, connection lost) with the first few reasons in
    `error_reasons`, and `unanswered` the messages whose dot was written but whose reply never
    came (the relay may or may not have taken them)."""

    def __init__(self, addrs, size, sessions=2, sender="bench@example.jp", recipient="sink@example.com"):
        self.addrs, self.size, self.sessions = list(addrs), size, sessions
        self.sender, self.recipient = sender, recipient
        self.samples, self.errors, self.error_reasons, self.unanswered = [], 0, [], 0
        self.procs, self.readers = [], []
        self.lock = threading.Lock()

    @property
    def accepted(self):
        with self.lock:
            return len(self.samples)

    def start(self):
        for n in range(self.sessions):
            proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--start", str(n), "--size",
                                     str(self.size), "--from", self.sender, "--to", self.recipient, *self.addrs],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1)
            reader = threading.Thread(target=self._read, args=(proc,), daemon=True)
            reader.start()
            self.procs.append(proc)
            self.readers.append(reader)

    def _read(self, proc):
        for line in proc.stdout:
            parts = line.split(" ", 3)
            with self.lock:
                if parts[0] == "ok" and len(parts) == 4:
                    self.samples.append((self.addrs[int(parts[1])], float(parts[2]), float(parts[3])))
                elif parts[0] == "err" and len(parts) == 4:
                    self.errors += 1
                    if parts[2] == "unanswered":
                        self.unanswered += 1
                    if len(self.error_reasons) < 5:
                        self.error_reasons.append(f"{self.addrs[int(parts[1])]} {parts[2]}: {parts[3].strip()}")

    def stop(self):
        """Tells every session to stop after its message, waits (killing a session that takes
        longer than STOP_GRACE) and returns the results."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGUSR1)
        deadline = time.time() + STOP_GRACE
        for proc, reader in zip(self.procs, self.readers):
            try:
                proc.wait(timeout=max(0.1, deadline - time.time()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            reader.join(timeout=5)
        return self.result()

    def result(self):
        """The figures for --json: the sessions, messages, errors, the two distributions (ms),
        the dot -> 250 distribution per address, and the samples themselves (address index,
        dot ms, MAIL ms) so runs can be merged."""
        with self.lock:
            samples = list(self.samples)
            return {
                "sessions": self.sessions,
                "messages": len(samples),
                "errors": self.errors,
                "unanswered": self.unanswered,
                "error_reasons": list(self.error_reasons),
                "dot_to_250_ms": summary([s[1] for s in samples]),
                "mail_to_250_ms": summary([s[2] for s in samples]),
                "dot_to_250_ms_by_address": {a: summary([s[1] for s in samples if s[0] == a]) for a in self.addrs},
                "addresses": self.addrs,
                "samples": [[self.addrs.index(a), round(d, 3), round(m, 3)] for a, d, m in samples],
            }


# The session: run as a script by LatencyProbe.


class SmtpError(Exception):
    """A reply other than the one expected, or the connection closed."""


class Replies:
    """Reads SMTP replies (multi-line ones whole) from a socket."""

    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise SmtpError("connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def expect(self, code, step):
        while True:
            line = self.line()
            if len(line) < 4 or line[3:4] != b"-":
                break
        if not line.startswith(code):
            raise SmtpError(f"{step}: {line[:120].decode(errors='replace')}")


def message(size, sender, recipient, n):
    """Headers and a body of `size` bytes (lines of 78 characters and CRLF, as smtp-source's
    -l counts the payload without the headers), without the final dot."""
    headers = (f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: latency probe {n}\r\n"
               f"Message-ID: <probe-{os.getpid()}-{n}@source.test>\r\n"
               f"Date: {time.strftime('%a, %d %b %Y %H:%M:%S +0000', time.gmtime())}\r\n\r\n").encode()
    line = b"x" * 78 + b"\r\n"
    body = line * (size // len(line))
    rest = size - len(body)
    if rest >= 3:
        body += b"y" * (rest - 2) + b"\r\n"
    return headers + body


def one_message(addr, size, sender, recipient, n):
    """Sends one message to addr; returns (dot_ms, mail_ms). Raises SmtpError or OSError; a
    message whose dot was written but got no reply raises with `unanswered` set."""
    host, port = addr.rsplit(":", 1)
    data = message(size, sender, recipient, n)
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        r = Replies(sock)
        r.expect(b"220", "greeting")
        sock.sendall(b"EHLO probe.source.test\r\n")
        r.expect(b"250", "EHLO")
        t_mail = time.perf_counter()
        sock.sendall(f"MAIL FROM:<{sender}>\r\n".encode())
        r.expect(b"250", "MAIL")
        sock.sendall(f"RCPT TO:<{recipient}>\r\n".encode())
        r.expect(b"250", "RCPT")
        sock.sendall(b"DATA\r\n")
        r.expect(b"354", "DATA")
        sock.sendall(data)
        t_dot = time.perf_counter()
        sock.sendall(b".\r\n")
        try:
            r.expect(b"250", "end of DATA")
        except (OSError, SmtpError) as e:
            e.unanswered = not isinstance(e, SmtpError) or str(e) == "connection closed"
            raise
        t_end = time.perf_counter()
        try:
            sock.sendall(b"QUIT\r\n")
            r.expect(b"221", "QUIT")
        except (OSError, SmtpError):
            pass  # the message is in; how the session ends does not matter
    return (t_end - t_dot) * 1000, (t_end - t_mail) * 1000


def session(addrs, start, size, sender, recipient):
    """Sends messages until SIGUSR1 (or a closed stdout), one line each on stdout:
    `ok NODE DOT_MS MAIL_MS` or `err NODE unanswered|failed REASON`."""
    stopping = []
    signal.signal(signal.SIGUSR1, lambda *_: stopping.append(True))
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the harness, which stops us
    n = start
    while not stopping:
        node = n % len(addrs)
        try:
            dot_ms, mail_ms = one_message(addrs[node], size, sender, recipient, n)
            print(f"ok {node} {dot_ms:.3f} {mail_ms:.3f}", flush=True)
        except (OSError, SmtpError) as e:
            kind = "unanswered" if getattr(e, "unanswered", False) else "failed"
            print(f"err {node} {kind} {type(e).__name__}: {e}", flush=True)
            time.sleep(0.1)  # a relay that refuses is not hammered
        n += 1


def main():
    import argparse
    ap = argparse.ArgumentParser(description="one latency probe session (started by LatencyProbe)")
    ap.add_argument("--start", type=int, default=0, help="index of the first message (chooses the first node)")
    ap.add_argument("--size", type=int, required=True, help="body bytes per message")
    ap.add_argument("--from", dest="sender", required=True)
    ap.add_argument("--to", dest="recipient", required=True)
    ap.add_argument("addrs", nargs="+", help="ip:port of each node, used in turn")
    args = ap.parse_args()
    try:
        session(args.addrs, args.start, args.size, args.sender, args.recipient)
    except BrokenPipeError:
        pass  # the harness is gone


if __name__ == "__main__":
    main()
