#!/usr/bin/env python3
"""Sends a message with bare LF line endings the way many scripts do: Python's
smtplib.sendmail() with a bytes message, which smtplib transmits as is (only str messages get
their line endings fixed). This is what Postfix 3.9+ and sekisho's default normalize.

Usage: smtplib_bare_lf.py HOST PORT RECIPIENT
Prints "accepted" or "refused CODE TEXT"; exits non-zero on anything else.
"""
import smtplib
import sys

host, port, rcpt = sys.argv[1], int(sys.argv[2]), sys.argv[3]

message = (
    b"From: script@sender.example\n"
    b"To: " + rcpt.encode() + b"\n"
    b"Subject: nightly report\n"
    b"\n"
    b"first line\n"
    b".a line starting with a dot\n"
    b"last line\n"
)

with smtplib.SMTP(host, port, local_hostname="script.client.test", timeout=20) as s:
    try:
        refused = s.sendmail("script@sender.example", [rcpt], message)
    except smtplib.SMTPDataError as e:
        print(f"refused {e.smtp_code} {e.smtp_error.decode()}")
        sys.exit(0)
    assert refused == {}, refused
    print("accepted")
