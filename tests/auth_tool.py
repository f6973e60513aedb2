#!/usr/bin/python3
"""The reference implementations the authentication tests compare sekisho with (Debian's
dkimpy and pyspf, run by /usr/bin/python3):

  keygen PRIVATE_KEY_FILE              -> prints the DKIM key record (v=DKIM1; k=rsa; p=...)
  sign KEY DOMAIN SELECTOR CANON       stdin message -> stdout with a DKIM-Signature on top
  arcsign KEY DOMAIN SELECTOR SRV_ID   stdin message -> stdout with the next ARC set on top
  spf DNS_IP DNS_PORT CLIENT_IP SENDER HELO -> prints pyspf's result, asking that DNS server
  arcverify KEYS_FILE                  stdin message -> prints dkimpy's chain validation and
                                       reason; KEYS_FILE holds "NAME<TAB>TXT" lines, the only
                                       DNS dkimpy asks
"""
import base64
import sys

import dkim


def keygen(path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                                  serialization.NoEncryption()))
    spki = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    print("v=DKIM1; k=rsa; p=" + base64.b64encode(spki).decode())


HEADERS = [b"from", b"to", b"subject", b"date", b"message-id"]


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "keygen":
        keygen(args[0])
        return
    if cmd == "spf":
        import dns.resolver
        import spf

        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [args[0]]
        resolver.port = int(args[1])
        dns.resolver.default_resolver = resolver
        result, _ = spf.check2(i=args[2], s=args[3], h=args[4])
        print(result)
        return
    message = sys.stdin.buffer.read()
    if cmd == "arcverify":
        records = {}
        for line in open(args[0]):
            name, _, text = line.rstrip("\n").partition("\t")
            records[name.rstrip(".").lower()] = text.encode()

        def dnsfunc(name, timeout=5):
            if isinstance(name, bytes):
                name = name.decode()
            return records.get(name.rstrip(".").lower())

        cv, _, reason = dkim.arc_verify(message, dnsfunc=dnsfunc)
        print(cv.decode() if isinstance(cv, bytes) else cv, reason)
        return
    key = open(args[0], "rb").read()
    if cmd == "sign":
        canon = args[3].encode()
        signature = dkim.sign(message, args[2].encode(), args[1].encode(), key, canonicalize=(canon, canon),
                              include_headers=HEADERS)
        sys.stdout.buffer.write(signature + message)
    elif cmd == "arcsign":
        lines = dkim.arc_sign(message, args[2].encode(), args[1].encode(), key, args[3].encode(),
                              include_headers=HEADERS)
        sys.stdout.buffer.write(b"".join(lines) + message)
    else:
        sys.exit("unknown command " + cmd)


if __name__ == "__main__":
    main()
