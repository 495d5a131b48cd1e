"""A real SMTP server on loopback for the notification tests (aiosmtpd).

    smtp_sink.py serve PORT DIR [--delay-ms N] [--after-ms M] [--reject TEXT]
                                [--tls starttls|implicit --cert PEM --key PEM] [--auth USER:PASS]
                                                    accept mail on 127.0.0.1:PORT; each recipient
                                                    is answered after N ms; each message is written
                                                    to DIR when its data ends, and the 250 reply
                                                    follows M ms later; recipients containing TEXT
                                                    get 550
    smtp_sink.py parse DIR                          print every message in DIR as JSON, parsed by
                                                    Python's email package (an outside oracle)
"""
import asyncio
import hashlib
import json
import os
import signal
import sys
import time


def serve(port, out, delay_ms=0, after_ms=0, reject=None, tls=None, cert=None, key=None, auth=None):
    import ssl
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    class Handler:
        def __init__(self):
            self.n = 0

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if delay_ms:
                await asyncio.sleep(delay_ms / 1000)
            if reject and reject in address:
                return "550 5.1.1 No such user here"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):
            self.n += 1
            name = f"{time.time_ns()}-{os.getpid()}-{self.n:06d}"
            tmp = os.path.join(out, name + ".tmp")
            head = json.dumps({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos,
                               # implicit TLS wraps the whole listener: aiosmtpd sets
                               # session.ssl only for STARTTLS
                               "tls": session.ssl is not None or tls == "implicit",
                               "authenticated": bool(session.authenticated)})
            with open(tmp, "wb") as f:
                f.write(head.encode() + b"\n")
                f.write(envelope.original_content or envelope.content)
            os.rename(tmp, os.path.join(out, name + ".msg"))
            if after_ms:
                await asyncio.sleep(after_ms / 1000)
            return "250 2.0.0 Message accepted for delivery"

    kwargs = {}
    if tls:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        if tls == "starttls":
            kwargs.update(tls_context=ctx, require_starttls=True)
        else:
            kwargs.update(ssl_context=ctx)
    if auth:
        user, password = auth.split(":", 1)

        def authenticator(server, session, envelope, mechanism, auth_data):
            ok = auth_data.login == user.encode() and auth_data.password == password.encode()
            return AuthResult(success=ok)

        # aiosmtpd only counts STARTTLS as TLS for auth_require_tls; implicit TLS is TLS anyway.
        kwargs.update(authenticator=authenticator, auth_required=True,
                      auth_require_tls=tls == "starttls")
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=30, **kwargs)
    controller.start()
    print("READY", flush=True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            time.sleep(3600)
    finally:
        controller.stop()


def parse(out):
    from email import policy
    from email.parser import BytesParser

    result = []
    for name in sorted(os.listdir(out)):
        if not name.endswith(".msg"):
            continue
        with open(os.path.join(out, name), "rb") as f:
            head = json.loads(f.readline())
            raw = f.read()
        msg = BytesParser(policy=policy.default).parsebytes(raw)
        text = msg.get_body(preferencelist=("plain",))
        html = msg.get_body(preferencelist=("html",))
        attachments = []
        for part in msg.iter_attachments():
            data = part.get_content()
            if isinstance(data, str):
                data = data.encode()
            attachments.append({
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            })
        raw_headers = raw.split(b"\r\n\r\n", 1)[0].decode("ascii", "replace")
        result.append({
            "tls": head.get("tls", False),
            "authenticated": head.get("authenticated", False),
            "file": name,
            "mail_from": head["mail_from"],
            "rcpt_tos": head["rcpt_tos"],
            "from": str(msg["From"]),
            "to": str(msg["To"]),
            "subject": str(msg["Subject"]),
            "message_id": str(msg["Message-ID"]),
            "date": str(msg["Date"]),
            "content_type": msg.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "attachments": attachments,
            "raw_headers": raw_headers,
        })
    json.dump(result, sys.stdout, ensure_ascii=False)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
        serve(int(sys.argv[2]), sys.argv[3], int(opts.get("--delay-ms", "0")),
              int(opts.get("--after-ms", "0")), opts.get("--reject"), opts.get("--tls"),
              opts.get("--cert"), opts.get("--key"), opts.get("--auth"))
    elif sys.argv[1] == "parse":
        parse(sys.argv[2])
    else:
        sys.exit("usage: smtp_sink.py serve PORT DIR | parse DIR")
