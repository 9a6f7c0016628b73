"""An SMTP server for tests: aiosmtpd's protocol on a free port of 127.0.0.1, in the test's loop.

It keeps every message it accepted (parsed, with its envelope), can speak STARTTLS or TLS
from the first byte with a certificate made for 127.0.0.1 (:func:`make_certificate`), can
require a login, and can be started on a port chosen in advance (a server "coming back").
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def make_certificate(folder: Path) -> Certificate:
    """A self-signed certificate for ``127.0.0.1`` (its own CA: trust ``cert`` to verify it)."""
    cert, key = folder / "smtp-cert.pem", folder / "smtp-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return Certificate(cert, key)


@dataclass(frozen=True)
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage
    #: The login used, if any; ``tls``: whether the session was encrypted.
    login: str | None
    tls: bool


@dataclass
class Inbox:
    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    #: Logins accepted (user → password); empty: any login is refused.
    logins: dict[str, str] = field(default_factory=dict)
    #: Set to an SMTP reply (``"451 4.3.0 try later"``) to refuse messages with it.
    refuse_with: str | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.refuse_with is not None:
            return self.refuse_with
        raw = envelope.content if isinstance(envelope.content, bytes) else b""
        parsed = message_from_bytes(raw, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        auth = session.auth_data
        self.received.append(
            Received(
                sender=str(envelope.mail_from),
                recipients=list(envelope.rcpt_tos),
                message=parsed,
                login=auth.login.decode() if isinstance(auth, LoginPassword) else None,
                tls=session.ssl is not None
                or (
                    server.transport is not None
                    and server.transport.get_extra_info("sslcontext") is not None
                ),
            )
        )
        self.arrived.set()
        return "250 OK queued"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            user, password = data.login.decode(), data.password.decode()
            if self.logins.get(user) == password:
                return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)


@asynccontextmanager
async def smtp_server(
    *,
    port: int = 0,
    tls: Literal["none", "starttls", "ssl"] = "none",
    certificate: Certificate | None = None,
    logins: dict[str, str] | None = None,
) -> AsyncIterator[Inbox]:
    """Serve SMTP until the block ends; yields the inbox (``inbox.port`` is the port)."""
    inbox = Inbox(logins=dict(logins or {}))
    context = certificate.server_context() if certificate is not None else None
    if tls != "none" and context is None:
        raise ValueError("a TLS server needs a certificate")
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        return SMTP(
            inbox,
            hostname="127.0.0.1",
            tls_context=context if tls == "starttls" else None,
            require_starttls=tls == "starttls",
            authenticator=inbox.authenticate,
            # aiosmtpd knows of STARTTLS only; with TLS from the first byte it is encrypted too.
            auth_require_tls=tls == "starttls",
            loop=loop,
        )

    server = await loop.create_server(
        protocol, "127.0.0.1", port, ssl=context if tls == "ssl" else None
    )
    inbox.port = server.sockets[0].getsockname()[1]
    try:
        yield inbox
    finally:
        server.close()
        await server.wait_closed()
