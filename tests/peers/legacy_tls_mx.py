"""An SMTP server that offers STARTTLS with TLS 1.0 and 1.1 only, as old MTAs still do.

Usage: legacy_tls_mx.py HOST PORT CERT KEY MAILDIR
Accepts every message into MAILDIR (one file per message, with a line saying whether the
transaction ran over TLS) and prints "ready" once listening.
"""

import asyncio
import os
import ssl
import sys
import uuid

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP


class Save:
    def __init__(self, maildir):
        self.maildir = maildir

    async def handle_DATA(self, server, session, envelope):
        tls = "tls" if session.ssl else "plain"
        path = os.path.join(self.maildir, uuid.uuid4().hex)
        with open(path, "wb") as f:
            f.write(f"X-Transport: {tls}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        return "250 2.0.0 Ok"


def main():
    host, port, cert, key, maildir = sys.argv[1:6]
    os.makedirs(maildir, exist_ok=True)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    context.minimum_version = ssl.TLSVersion.TLSv1
    context.maximum_version = ssl.TLSVersion.TLSv1_1
    context.load_cert_chain(cert, key)
    controller = Controller(
        Save(maildir), hostname=host, port=int(port), tls_context=context, require_starttls=False
    )
    controller.start()
    print("ready", flush=True)
    try:
        asyncio.get_event_loop().run_forever()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
