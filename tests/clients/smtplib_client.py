#!/usr/bin/env python3
"""Drives sekisho with Python's smtplib, an independent SMTP client.

Usage: smtplib_client.py HOST PORT CA_FILE USER PASSWORD
Sends over STARTTLS with certificate verification and AUTH (PLAIN via login()), with SIZE
(announced by smtplib when the server offers it) and BODY=8BITMIME, then checks that AUTH
before STARTTLS is refused. Prints one line per check; exits non-zero on the first failure.
"""
import smtplib
import ssl
import sys
from email.message import EmailMessage

host, port, cafile, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]

context = ssl.create_default_context(cafile=cafile)

with smtplib.SMTP(host, port, local_hostname="python.client.test", timeout=20) as s:
    s.ehlo()
    assert not s.has_extn("auth"), "AUTH must not be offered before TLS"
    try:
        s.login(user, password)
        raise SystemExit("login before STARTTLS was accepted")
    except smtplib.SMTPNotSupportedError:
        pass
    s.starttls(context=context)
    s.ehlo()
    for ext in ("size", "8bitmime", "pipelining", "auth", "enhancedstatuscodes", "dsn", "smtputf8"):
        assert s.has_extn(ext), f"{ext} not offered after STARTTLS"
    s.login(user, password)
    print("login ok")

    msg = EmailMessage()
    msg["From"] = user
    msg["To"] = "partner@outside.example"
    msg["Subject"] = "見積書 (quotation)"
    msg.set_content("添付のとおりお送りします。\nPlease find the quotation attached.\n", cte="8bit")
    msg.add_attachment(b"%PDF-1.4 test", maintype="application", subtype="pdf", filename="quote.pdf")
    refused = s.send_message(msg, mail_options=["BODY=8BITMIME"])
    assert refused == {}, refused
    code, text = s.noop()
    print("sent ok", code)

    # A second message on the same connection, with DSN parameters.
    refused = s.sendmail(user, ["second@outside.example"], b"Subject: second\r\n\r\nbody\r\n",
                         mail_options=["RET=HDRS", "ENVID=py-1"], rcpt_options=["NOTIFY=FAILURE"])
    assert refused == {}, refused
    print("second ok")

    try:
        big = b"Subject: big\r\n\r\n" + (b"z" * 998 + b"\r\n") * 10600
        s.sendmail(user, ["x@outside.example"], big)
        raise SystemExit("over-size SIZE= was accepted")
    except smtplib.SMTPSenderRefused as e:
        assert e.smtp_code == 552, e
        print("size refused", e.smtp_code)
