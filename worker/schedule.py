"""The scheduling table: which kinds of job run on a cadence, and the key of each run.

Every worker ticks the table about once a second and queues the current slot of each entry with
`enqueue`, whose (kind, key) is unique: the key names the slot the run covers ("2026-12-01T03:00Z"),
never the moment a worker noticed it, so however many workers tick, each run is queued once. Only
the latest due slot is queued: a worker that was down for three days runs a daily entry once when it
comes back, so a handler covers everything up to its slot (e.g. "every invoice due by the slot's
date"), not just that slot's share.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Protocol

from invoicing.run import RUN_KIND as INVOICE_RUN
from models.db import Database
from resolvers.approval_reminder import REMIND_KIND as APPROVAL_REMIND
from resolvers.changes import PRUNE_CHANGES_JOB
from resolvers.invoice_reminder import REMIND_KIND as INVOICE_REMIND
from resolvers.jobs import enqueue
from resolvers.webhook_delivery import PRUNE_KIND as WEBHOOK_PRUNE
from resolvers.webhook_dispatch import DISPATCH_KIND as WEBHOOK_DISPATCH
from worker.handlers import PRUNE_JOBS

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Cadence(Protocol):
    def slot(self, now: datetime) -> datetime:
        """The latest slot at or before `now`."""
        ...

    def key(self, slot: datetime) -> str:
        """The slot written as the run's key."""
        ...


@dataclass(frozen=True)
class Every:
    """Every `seconds`, on slots counted from the Unix epoch (so every worker computes the same ones)."""

    seconds: int

    def slot(self, now: datetime) -> datetime:
        elapsed = int((now - EPOCH).total_seconds())
        return EPOCH + timedelta(seconds=elapsed - elapsed % self.seconds)

    def key(self, slot: datetime) -> str:
        return slot.strftime("%Y-%m-%dT%H:%MZ" if self.seconds % 60 == 0 else "%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DailyAt:
    """Every day at hour:minute UTC."""

    hour: int
    minute: int = 0

    def slot(self, now: datetime) -> datetime:
        today = datetime.combine(now.date(), time(self.hour, self.minute), tzinfo=UTC)
        return today if today <= now else today - timedelta(days=1)

    def key(self, slot: datetime) -> str:
        return slot.strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class MonthlyOn:
    """Every month on `day` (1-28, so that every month has it) at hour:minute UTC."""

    day: int
    hour: int = 0
    minute: int = 0

    def __post_init__(self) -> None:
        if not 1 <= self.day <= 28:
            raise ValueError("MonthlyOn day must be 1-28")

    def slot(self, now: datetime) -> datetime:
        this_month = datetime(now.year, now.month, self.day, self.hour, self.minute, tzinfo=UTC)
        if this_month <= now:
            return this_month
        year, month = (now.year, now.month - 1) if now.month > 1 else (now.year - 1, 12)
        return this_month.replace(year=year, month=month)

    def key(self, slot: datetime) -> str:
        return slot.strftime("%Y-%m-%dT%H:%MZ")


@dataclass(frozen=True)
class Entry:
    kind: str
    cadence: Cadence
    # A run that fails is tried again with back-off up to this many times in all; for a frequent entry
    # the next slot comes sooner than a retry would, hence 1.
    max_attempts: int = 1
    # How long finished runs of this kind are kept before the prune deletes them: a run every second
    # makes 86,400 rows a day.
    keep: timedelta = field(default=timedelta(days=30))


ENTRIES: tuple[Entry, ...] = (
    Entry(PRUNE_JOBS, DailyAt(3, 0), max_attempts=3),
    Entry(PRUNE_CHANGES_JOB, DailyAt(3, 30), max_attempts=3),  # the change feed's retention
    Entry(INVOICE_RUN, DailyAt(0, 5), max_attempts=5),  # invoices and credit notes of the day's invoice day
    Entry(WEBHOOK_DISPATCH, Every(1), keep=timedelta(days=1)),  # new changes into webhook deliveries
    Entry(WEBHOOK_PRUNE, DailyAt(4, 0), max_attempts=3),  # the webhook delivery log's retention
    Entry(APPROVAL_REMIND, Every(300), keep=timedelta(days=2)),  # reminders and escalation of waiting steps
    Entry(INVOICE_REMIND, DailyAt(7, 0), max_attempts=5),  # invoice payment reminders and overdue notices
    # Add entries here, one line each, e.g.
    # Entry("invoice.run", MonthlyOn(1, 2, 0), max_attempts=5),
    # Entry("webhook.dispatch", Every(1), keep=timedelta(days=1)),
)


def retention_by_kind() -> dict[str, timedelta]:
    """How long finished jobs of each scheduled kind are kept (the prune's table); others: 30 days."""
    return {entry.kind: entry.keep for entry in ENTRIES}


class Scheduler:
    """Queues each entry's current slot; remembers what it queued, so that a tick in the same slot as the last
    one writes nothing (most ticks, for all but per-second entries)."""

    def __init__(self, entries: tuple[Entry, ...] | None = None) -> None:
        self.entries = ENTRIES if entries is None else entries
        self._queued: dict[str, datetime] = {}

    async def tick(self, db: Database, now: datetime, kinds: list[str] | None = None) -> int:
        """Queue the due slots not queued by this scheduler yet; returns how many it offered (a slot another
        worker queued first is offered and ignored)."""
        due = [(entry, entry.cadence.slot(now)) for entry in self.entries if kinds is None or entry.kind in kinds]
        due = [(entry, slot) for entry, slot in due if self._queued.get(entry.kind) != slot]
        if not due:
            return 0
        async with db.transaction() as session:
            for entry, slot in due:
                await enqueue(session, entry.kind, entry.cadence.key(slot), {"slot": slot.isoformat()},
                              run_at=slot, max_attempts=entry.max_attempts)
        self._queued.update((entry.kind, slot) for entry, slot in due)
        return len(due)
