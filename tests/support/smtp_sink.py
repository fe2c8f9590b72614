"""An SMTP server on loopback for the e-mail tests (aiosmtpd): it takes mail only over
TLS — STARTTLS required (--mode starttls) or TLS from the first byte (--mode tls) — and
writes each message it accepts to --out as NNNN.eml."""

import argparse
import itertools
import os
import ssl
import time

from aiosmtpd.controller import Controller


class Save:
    def __init__(self, out):
        self.out = out
        self.count = itertools.count()

    async def handle_DATA(self, server, session, envelope):
        path = os.path.join(self.out, f"{next(self.count):04d}.eml")
        with open(path + ".tmp", "wb") as f:
            f.write(f"X-Sink-Rcpt: {','.join(envelope.rcpt_tos)}\r\n".encode())
            f.write(envelope.original_content or envelope.content)
        os.rename(path + ".tmp", path)
        return "250 OK"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--mode", choices=["starttls", "tls"], required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(a.cert, a.key)
    handler = Save(a.out)
    if a.mode == "starttls":
        c = Controller(handler, hostname="127.0.0.1", port=a.port, tls_context=ctx, require_starttls=True)
    else:
        c = Controller(handler, hostname="127.0.0.1", port=a.port, ssl_context=ctx)
    c.start()
    print("ready", flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
