"""A real SMTP server (aiosmtpd) for Postsiegel's relay tests; started by testkit::smtp.

    smtp_server.py FOLDER PORT [--user U --password P] [--starttls CERT KEY | --tls CERT KEY] [--until-killed] [--quiet]

Listens on 127.0.0.1:PORT and prints `ready` once it does. Each accepted message becomes
FOLDER/messages/<n>.eml (the DATA bytes as received, dot-unstuffed) and then <n>.json
(mail_from, rcpt_tos, received_at); both are written under a temporary name and renamed,
and the .json comes last, so a reader that lists the .json files never sees half a message.

FOLDER/behaviour is read at every RCPT and at the end of every DATA, so a test can change
it while the server runs: accept (also when the file is absent), tempfail-rcpt,
permfail-rcpt, tempfail-data, permfail-data, hold-data:<seconds>.

Exits when its standard input closes (the test process is gone) or on SIGTERM; with
--until-killed only on a signal (Playwright starts it with no standard input at all).
"""

import argparse
import asyncio
import datetime
import errno
import json
import logging
import os
import signal
import ssl
import sys
import warnings

from aiosmtpd.smtp import SMTP, AuthResult, LoginPassword


class Handler:
    def __init__(self, folder, user, password):
        self.folder = folder
        self.messages = os.path.join(folder, "messages")
        os.makedirs(self.messages, exist_ok=True)
        self.user = user
        self.password = password
        # Numbers go on after what the folder holds, should a folder ever be reused.
        self.count = max(
            (int(name[:-5]) for name in os.listdir(self.messages) if name.endswith(".json")),
            default=0,
        )

    def behaviour(self):
        try:
            with open(os.path.join(self.folder, "behaviour")) as file:
                return file.read().strip() or "accept"
        except FileNotFoundError:
            return "accept"

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        # With this (new-style) hook, aiosmtpd leaves recording the greeting to us.
        session.host_name = hostname
        if self.user is None:
            # No AUTH on offer when no account is configured (aiosmtpd would offer one
            # that always fails).
            responses = [r for r in responses if not r[4:].startswith("AUTH")]
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        behaviour = self.behaviour()
        if behaviour == "tempfail-rcpt":
            return "451 4.3.0 Temporary failure, try again later"
        if behaviour == "permfail-rcpt":
            return "550 5.1.1 <%s>: no such mailbox" % address
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        behaviour = self.behaviour()
        if behaviour == "tempfail-data":
            return "451 4.3.0 Temporary failure, try again later"
        if behaviour == "permfail-data":
            return "554 5.6.0 Message content rejected"
        self.store(envelope)
        if behaviour.startswith("hold-data:"):
            # Stored but not yet confirmed: the client may die while it waits.
            await asyncio.sleep(float(behaviour.split(":", 1)[1]))
        return "250 OK"

    def store(self, envelope):
        self.count += 1
        base = os.path.join(self.messages, str(self.count))
        meta = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "received_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        write_atomically(base + ".eml", envelope.original_content)
        write_atomically(base + ".json", json.dumps(meta, ensure_ascii=False).encode())


def write_atomically(path, data):
    temporary = path + ".part"
    with open(temporary, "wb") as file:
        file.write(data)
    os.rename(temporary, path)


class StdinWatcher(asyncio.Protocol):
    def __init__(self, stop):
        self.stop = stop

    def connection_lost(self, exc):
        self.stop.set()


def authenticator(user, password):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login == user.encode()
            and auth_data.password == password.encode()
        )
        # handled=False: aiosmtpd then answers 535 itself (True would leave it unanswered).
        return AuthResult(success=ok, handled=False)

    return check


async def serve(args):
    loop = asyncio.get_running_loop()
    handler = Handler(args.folder, args.user, args.password)
    tls_context = None
    if args.starttls:
        tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls_context.load_cert_chain(*args.starttls)
    # Implicit TLS (port 465): the listening socket itself talks TLS.
    implicit_tls = None
    if args.tls:
        implicit_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        implicit_tls.load_cert_chain(*args.tls)
    options = dict(
        hostname="postsiegel-test-smtp",  # not socket.getfqdn(), which may ask DNS
        tls_context=tls_context,
        data_size_limit=None,
        loop=loop,
    )
    if args.user is not None:
        options.update(
            authenticator=authenticator(args.user, args.password),
            auth_required=True,
            auth_require_tls=False,
        )
    try:
        server = await loop.create_server(
            lambda: SMTP(handler, **options), "127.0.0.1", args.port, ssl=implicit_tls
        )
    except OSError as error:
        # testkit retries another port on exactly these words.
        why = "address already in use" if error.errno == errno.EADDRINUSE else error
        print(f"cannot listen on 127.0.0.1:{args.port}: {why}", file=sys.stderr)
        sys.exit(2)

    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if not args.until_killed:
        # Our stdin is a pipe that only the test process holds: it closes when that process
        # drops the server or dies.
        await loop.connect_read_pipe(lambda: StdinWatcher(stop), sys.stdin)
    print("ready", flush=True)
    await stop.wait()
    server.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("folder")
    parser.add_argument("port", type=int)
    parser.add_argument("--user")
    parser.add_argument("--password")
    parser.add_argument("--starttls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--tls", nargs=2, metavar=("CERT", "KEY"))
    parser.add_argument("--until-killed", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="log warnings only")
    args = parser.parse_args()
    if (args.user is None) != (args.password is None):
        parser.error("--user and --password go together")
    # aiosmtpd warns that AUTH without TLS is unsafe: on 127.0.0.1 in tests, it is wanted.
    warnings.filterwarnings("ignore", message="Requiring AUTH while not requiring TLS")
    # aiosmtpd's log (connections, senders, recipients) goes to stderr, which the test
    # harness keeps in a file and shows when something fails.
    logging.basicConfig(
        stream=sys.stderr,
        level=logging.WARNING if args.quiet else logging.INFO,
        format="%(asctime)s %(levelname)s %(message)s"
    )
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
