"""Which handler runs each kind of job.

A handler is `async def handler(services: Services, job: ClaimedJob) -> None`:
- returning marks the job done;
- raising `resolvers.jobs.Retry(reason, at)` runs it again at `at` (the attempt counts);
- any other exception runs it again with exponential back-off (runner.retry_delay) until the job's
  `max_attempts`, then marks it failed with the error kept in `last_error` and logged.
A job can run more than once (a worker killed mid-job loses its lease, and the job runs again on
another worker), so a handler must be idempotent: it does what the job's key names, and doing it twice
changes nothing the second time. Keep handlers thin: the work itself is a function in resolvers/.

To add a kind: name it in KINDS' style ("<domain>.<what>"), write the handler next to its domain's
use cases, and add one line to HANDLERS. A worker only claims the kinds it has a handler for, so
during a rolling deploy an older worker leaves a new kind to the newer ones.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from invoicing import run as invoice_run
from models.base import utcnow
from resolvers import approval_reminder, changes, invoice_reminder, jobs, mail, webhook_delivery, webhook_dispatch
from resolvers.context import Services
from resolvers.jobs import ClaimedJob, Retry

Handler = Callable[[Services, ClaimedJob], Coroutine[Any, Any, None]]

PRUNE_JOBS = "jobs.prune"


async def prune_jobs(services: Services, job: ClaimedJob) -> None:
    """Delete finished jobs (and heartbeats of stopped workers) older than their retention; the cutoff is
    counted from the run's slot, not from now, so a rerun of the same slot deletes the same set."""
    from worker.schedule import retention_by_kind  # the schedule names handlers' kinds: import late

    slot = datetime.fromisoformat(job.payload["slot"])
    await jobs.prune(services.db, before=slot, retention=retention_by_kind())


async def send_mail(services: Services, job: ClaimedJob) -> None:
    """One more try of a message the delivery after commit could not send (resolvers/mail.py)."""
    error, tries = await services.mailer.retry(int(job.key))
    if error is not None:
        raise Retry(error, utcnow() + mail.retry_delay(services.settings.mail_retry_seconds, tries))


HANDLERS: dict[str, Handler] = {
    PRUNE_JOBS: prune_jobs,
    changes.PRUNE_CHANGES_JOB: changes.prune_changes_job,  # the change feed's retention (daily)
    mail.SEND_KIND: send_mail,
    invoice_run.RUN_KIND: invoice_run.run_job,  # the invoice run of the companies whose invoice day it is (daily)
    webhook_dispatch.DISPATCH_KIND: webhook_dispatch.dispatch_job,  # the change feed into deliveries (every second)
    webhook_dispatch.DELIVER_KIND: webhook_delivery.deliver_job,  # one attempt of one delivery
    webhook_delivery.PRUNE_KIND: webhook_delivery.prune_job,  # the delivery log's retention (daily)
    approval_reminder.REMIND_KIND: approval_reminder.remind_job,  # waiting approval steps (every 5 minutes)
    invoice_reminder.REMIND_KIND: invoice_reminder.remind_job,  # invoice reminders and overdue notices (daily)
    # Add kinds here, one line each: "webhook.deliver": webhook_jobs.deliver, ...
}
