"""Outgoing mail: written to the outbox inside the transaction, delivered after commit.

With `SMTP_URL` set (smtp://user:pass@host:port, smtps:// for implicit TLS, or
`?starttls=1`), messages go out through aiosmtplib; without it they go to the log, so
the demo works offline. A message whose delivery failed keeps `sent_at` empty and its
error. Each message is queued with a job (`mail.send`, its id as key) in the same transaction,
due MAIL_RETRY_SECONDS later: when the delivery right after commit succeeds it marks the job
done; when it failed (or never ran: the process died), the worker tries again, doubling the
wait after each failure, until MAIL_MAX_ATTEMPTS tries in all; then the job is failed and the
message keeps its last error.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlparse

import aiosmtplib
import structlog
from sqlalchemy import select

from models import OutboxMessage
from models.base import utcnow
from models.db import Database
from resolvers import jobs
from resolvers.context import UseCaseContext

log = structlog.get_logger("procura.mail")


SEND_KIND = "mail.send"
RETRY_CAP = timedelta(hours=1)


def retry_delay(retry_seconds: float, attempts: int) -> timedelta:
    """How long after its `attempts`-th failed try a message is tried again: MAIL_RETRY_SECONDS, doubling."""
    return min(timedelta(seconds=retry_seconds) * 2 ** max(attempts - 1, 0), RETRY_CAP)


async def queue_mail(ctx: UseCaseContext, *, to: str, subject: str, body: str, html_body: str | None = None) -> None:
    """Write a message to the outbox; `body` is its plain text, `html_body` an HTML alternative of the same."""
    message = OutboxMessage(recipient=to, subject=subject, body=body, html_body=html_body)
    ctx.session.add(message)
    await ctx.session.flush()
    ctx.queued_mail.append(message.id)
    # The worker's retry, committed with the message: it sends the message if the delivery after commit
    # fails or never happens. The first of MAIL_MAX_ATTEMPTS tries is that delivery's.
    await jobs.enqueue(ctx.session, SEND_KIND, str(message.id), {"message": message.id},
                       run_at=message.created_at + retry_delay(ctx.settings.mail_retry_seconds, 1),
                       max_attempts=max(ctx.settings.mail_max_attempts - 1, 1))


class Mailer:
    def __init__(self, db: Database, *, smtp_url: str | None, sender: str, retry_seconds: float = 60) -> None:
        self._db, self._smtp_url, self._sender, self._retry_seconds = db, smtp_url, sender, retry_seconds
        self._tasks: set[asyncio.Task] = set()

    def deliver_soon(self, message_ids: list[int]) -> None:
        """Deliver in the background so that a slow mail server never slows a response."""
        if not message_ids:
            return
        task = asyncio.create_task(self.deliver(message_ids))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def deliver(self, message_ids: list[int] | None = None) -> int:
        """Send the given pending messages (all pending ones when None); returns how many went out."""
        async with self._db.read_sessions() as session:
            query = select(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
            if message_ids is not None:
                query = query.where(OutboxMessage.id.in_(message_ids))
            messages = (await session.scalars(query.order_by(OutboxMessage.id))).all()
        sent = 0
        for message in messages:
            error, _ = await self._attempt(message)
            sent += error is None
        return sent

    async def retry(self, message_id: int) -> tuple[str | None, int]:
        """The worker's try of one message: (None, tries so far) when it went out now or before, else
        (the error, tries so far)."""
        async with self._db.read_sessions() as session:
            message = await session.get_one(OutboxMessage, message_id)
        if message.sent_at is not None:
            return None, message.attempts
        return await self._attempt(message)

    async def _attempt(self, message: OutboxMessage) -> tuple[str | None, int]:
        error = await self._send(message)
        async with self._db.transaction() as session:
            stored = await session.get_one(OutboxMessage, message.id)  # outbox rows are never deleted
            stored.attempts += 1
            if error is None:
                stored.sent_at, stored.last_error = utcnow(), None
                stored.transport = "smtp" if self._smtp_url else "log"
                # Sent: the worker's retry has nothing left to do (unless it is running it right now).
                await jobs.complete(session, SEND_KIND, str(message.id))
            else:
                stored.last_error = error[:500]
                # The retry waits its back-off from this failure (a running worker schedules its own retry).
                await jobs.reschedule(session, SEND_KIND, str(message.id),
                                      utcnow() + retry_delay(self._retry_seconds, stored.attempts))
            return error, stored.attempts

    async def _send(self, message: OutboxMessage) -> str | None:
        if not self._smtp_url:
            log.info("mail", to=message.recipient, subject=message.subject, body=message.body)
            return None
        email = EmailMessage()
        email["From"], email["To"], email["Subject"] = self._sender, message.recipient, message.subject
        email.set_content(message.body)
        if message.html_body:
            email.add_alternative(message.html_body, subtype="html")  # multipart/alternative: text first
        try:
            await aiosmtplib.send(email, **smtp_options(self._smtp_url))
            return None
        except (aiosmtplib.SMTPException, OSError) as exc:
            log.warning("mail_failed", to=message.recipient, error=str(exc))
            return str(exc)


def smtp_options(url: str) -> dict:
    parsed = urlparse(url)
    query = parse_qs(parsed.query)
    implicit_tls = parsed.scheme == "smtps"
    options: dict = {
        "hostname": parsed.hostname or "localhost",
        "port": parsed.port or (465 if implicit_tls else 25),
        "use_tls": implicit_tls,
        "start_tls": query.get("starttls", ["0"])[0] in {"1", "true", "yes"},
        "timeout": 15,
    }
    if parsed.username:
        options["username"] = unquote(parsed.username)
        options["password"] = unquote(parsed.password or "")
    return options
