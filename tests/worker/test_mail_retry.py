"""Mail the delivery after commit could not send is retried by the worker, through a real SMTP server (aiosmtpd)
that refuses at first: with back-off per message, and given up after MAIL_MAX_ATTEMPTS tries with the error kept."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from models import OutboxMessage
from models.base import utcnow
from resolvers.mail import SEND_KIND, retry_delay
from tests.conftest import test_settings as make_settings
from tests.schema.test_mail import Collector, admin_of, create_user, free_port
from tests.worker.test_runner import eventually, job_rows
from worker.runner import Worker, run_due_jobs


class RefusesAtFirst(Collector):
    """Answers DATA with a temporary failure the first `refusals` times, then accepts."""

    def __init__(self, refusals: int) -> None:
        super().__init__()
        self.refusals, self.tries = refusals, []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.tries.append(utcnow())
        if len(self.tries) <= self.refusals:
            return "451 4.3.0 Mailbox busy, try again later"
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp(request, smtp_port):
    handler = RefusesAtFirst(request.param)
    controller = Controller(handler, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield handler
    controller.stop()


@pytest.fixture
def settings(database_url, smtp_port):
    return make_settings(database_url, smtp_url=f"smtp://127.0.0.1:{smtp_port}", mail_retry_seconds=0.4,
                         mail_max_attempts=4, worker_poll_seconds=0.05)


async def the_message(services) -> OutboxMessage:
    async with services.db.read_sessions() as session:
        [message] = (await session.scalars(select(OutboxMessage))).all()
        return message


async def create_user_and_wait_for_the_first_try(api, services) -> None:
    admin, group = await admin_of(api)
    result = await create_user(api, admin, group)
    assert result["__typename"] == "UserPayload"  # the mutation neither waits for nor fails with the mail
    await asyncio.wait_for(services.mailer.drain(), timeout=20)


@pytest.mark.parametrize("smtp", [2], indirect=True)
async def test_a_refused_message_is_retried_by_the_worker_with_back_off_until_it_goes_out(api, services, smtp):
    await create_user_and_wait_for_the_first_try(api, services)
    message = await the_message(services)
    assert (message.attempts, message.sent_at) == (1, None)
    assert message.last_error.startswith("(451, '4.3.0 Mailbox busy")
    job = (await job_rows(services, SEND_KIND))[str(message.id)]
    assert (job.status, job.attempts, job.max_attempts) == ("pending", 0, 3)  # 4 tries in all: 3 are the worker's
    # Due its back-off after the failed try (MAIL_RETRY_SECONDS; the job was queued due that long after commit).
    assert smtp.tries[0] <= job.run_at - timedelta(seconds=0.4) <= utcnow()

    worker = Worker(services, worker_id="mail-worker")
    running = asyncio.create_task(worker.run())
    try:
        async def sent():
            return (await the_message(services)).sent_at
        await eventually(sent, timeout=30)
    finally:
        worker.stop()
        await asyncio.wait_for(running, timeout=20)

    message = await the_message(services)
    assert (message.attempts, message.transport, message.last_error) == (3, "smtp", None)
    assert [envelope.rcpt_tos for envelope in smtp.envelopes] == [["new.buyer@example.com"]]
    first, second, third = smtp.tries
    # Each retry waited its message's back-off: 0.4 s after the first try, 0.8 s after the second.
    assert second - first >= timedelta(seconds=0.4)
    assert third - second >= retry_delay(0.4, 2) == timedelta(seconds=0.8)
    job = (await job_rows(services, SEND_KIND))[str(message.id)]
    assert (job.status, job.attempts, job.last_error) == ("done", 2, None)


@pytest.mark.parametrize("smtp", [100], indirect=True)
async def test_the_worker_gives_up_after_mail_max_attempts_and_the_error_is_kept(api, services, smtp):
    await create_user_and_wait_for_the_first_try(api, services)
    message = await the_message(services)

    async def given_up():
        await run_due_jobs(services, kinds=[SEND_KIND])
        return (await job_rows(services, SEND_KIND))[str(message.id)].status == "failed"

    await eventually(given_up, timeout=30, interval=0.1)

    message = await the_message(services)
    assert (message.attempts, message.sent_at, message.transport) == (4, None, None)
    assert message.last_error.startswith("(451, '4.3.0 Mailbox busy")
    assert len(smtp.tries) == 4 and smtp.envelopes == []
    job = (await job_rows(services, SEND_KIND))[str(message.id)]
    assert (job.attempts, job.finished_at is not None) == (3, True)
    assert job.last_error.startswith("Retry: (451, '4.3.0 Mailbox busy")
    assert await run_due_jobs(services, kinds=[SEND_KIND]) == 0  # a failed job is not claimed again
    assert len(smtp.tries) == 4


@pytest.mark.parametrize("smtp", [0], indirect=True)
async def test_a_message_sent_right_after_commit_leaves_the_worker_nothing_to_do(api, services, smtp):
    await create_user_and_wait_for_the_first_try(api, services)

    message = await the_message(services)
    assert (message.attempts, message.transport) == (1, "smtp")
    job = (await job_rows(services, SEND_KIND))[str(message.id)]
    assert (job.status, job.attempts) == ("done", 0)
    await asyncio.sleep(0.5)  # past the time the retry was due: done, it is not claimed
    assert await run_due_jobs(services, kinds=[SEND_KIND]) == 0
    assert len(smtp.envelopes) == 1
