"""The process-wide reader of the order change feed that wakes live subscribers (GraphQL subscriptions).

One broker per server process reads the feed (models/change.py) from a position of its own, starting
at the feed's end when the process starts, and hands each change to the subscribers of the change's
company (platform operators subscribe to every company). It reads only settled changes
(resolvers/changes.py), so it never skips a change that commits late, and it reads whatever woke it:

- on PostgreSQL a dedicated asyncpg connection LISTENs on the channel the feed's trigger NOTIFYs on
  commit, in whichever process the change was written; it reconnects (with back-off) when the
  connection is lost, a database restart included, and the broker then catches up from its position;
- on SQLite, which has no NOTIFY, `committed()` is called after each mutation of this process commits;
- on both, a short periodic poll (SUBSCRIPTION_POLL_SECONDS): changes written by another process on
  SQLite (the worker, a second server), and on PostgreSQL changes written while nobody listened.
On PostgreSQL a committed change that is not settled yet (an older transaction still runs) is looked for
again soon (backing off to once a second) until it is, rather than at the next poll.

The broker knows companies, not callers: what each subscriber may see is decided by the subscriber,
with SQL, per batch (resolvers/subscription.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from dataclasses import dataclass
from datetime import datetime

import structlog
from sqlalchemy import make_url, select

from models import OrderChange
from models.change import CHANGE_CHANNEL
from models.db import Database, plain_rows
from policies.scopes import cross_company
from resolvers.changes import START, Position, after, settled, settled_changes

log = structlog.get_logger("procura.changes")

BATCH_SIZE = 500
# A subscriber further behind than this many changes is ended (it resubscribes and catches up with
# the change feed): memory stays bounded whatever a slow client does.
MAX_PENDING_CHANGES = 10_000
SETTLE_RETRY_SECONDS = (0.01, 1.0)  # first and longest wait for a committed change to settle
LISTEN_CHECK_SECONDS = 5.0  # how often an idle LISTEN connection is checked (a dead peer shows only when used)
RECONNECT_SECONDS = (0.5, 10.0)  # first and longest wait before connecting LISTEN again
LISTENER_NAME = "procura-change-listener"  # the LISTEN connection's application_name (pg_stat_activity)
READ_REASON = "the subscription broker reads every company's changes and hands each to its company's subscribers"


@dataclass(frozen=True, slots=True)
class Change:
    """One change of the feed, as plain values (no session holds it)."""

    id: int
    company_id: int
    order_id: int
    kind: str
    occurred_at: datetime
    txid: int = 0  # with `id`, the change's position in the feed (resolvers/changes.py)

    @property
    def position(self) -> Position:
        return Position(self.txid, self.id)


class FellBehind(Exception):
    """The subscriber did not take its changes fast enough; the broker stopped queueing them."""


class Subscriber:
    """One live subscription's queue of changes, filled by the broker."""

    def __init__(self, broker: ChangeBroker, company_id: int | None) -> None:
        self.company_id = company_id  # None: every company's changes (platform operators)
        self._broker = broker
        self._batches: asyncio.Queue[list[Change]] = asyncio.Queue()
        self._pending = 0
        self.fell_behind = False
        self.live = False  # set by the subscription once set up (its first read done): it misses nothing after

    def offer(self, changes: list[Change]) -> None:
        if self.fell_behind:
            return
        if self._pending + len(changes) > MAX_PENDING_CHANGES:
            self.fell_behind = True
            self._batches.put_nowait([])  # wakes the waiting subscriber, which then raises FellBehind
            return
        self._pending += len(changes)
        self._batches.put_nowait(changes)

    async def next_batch(self, timeout: float) -> list[Change]:
        """The changes handed over since the last call, oldest first, waiting up to `timeout` seconds
        for some ([] when none came). Raises FellBehind once the subscriber has fallen too far behind."""
        if self.fell_behind:
            raise FellBehind()
        changes: list[Change] = []
        if self._batches.empty():
            try:
                changes.extend(await asyncio.wait_for(self._batches.get(), timeout))
            except TimeoutError:
                return []
        while not self._batches.empty():
            changes.extend(self._batches.get_nowait())
        self._pending -= len(changes)
        if self.fell_behind:
            raise FellBehind()
        return changes

    def close(self) -> None:
        self._broker._unsubscribe(self)

    def __enter__(self) -> Subscriber:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class ChangeBroker:
    """Reads the change feed after its position whenever woken, and hands the changes to subscribers."""

    def __init__(self, db: Database, database_url: str, *, poll_seconds: float, batch_size: int = BATCH_SIZE) -> None:
        self.db, self.database_url = db, database_url
        self.poll_seconds, self.batch_size = poll_seconds, batch_size
        self.position: Position | None = None  # None until started
        self.listening = False  # PostgreSQL: whether the LISTEN connection is up
        self.settling = False  # PostgreSQL: a committed change waits for an older transaction to end
        self._wake = asyncio.Event()
        # Weak: a subscription dropped before it ever ran (its client left at once) never closes its
        # subscriber, which then goes with it.
        self._by_company: dict[int, weakref.WeakSet[Subscriber]] = {}
        self._everywhere: weakref.WeakSet[Subscriber] = weakref.WeakSet()
        self._tasks: list[asyncio.Task] = []
        self._listened = False

    # --- lifecycle (the application's lifespan) ------------------------------------------------------------------

    async def start(self) -> None:
        try:
            self.position = await self._feed_end()
        except Exception:  # the database is not reachable yet: the API starts anyway, the reader retries
            log.warning("change_feed_unreachable_at_start", exc_info=True)
        self._tasks.append(asyncio.create_task(self._read_forever(), name="change-broker"))
        if self.db.dialect == "postgresql":
            self._tasks.append(asyncio.create_task(self._listen_forever(), name="change-broker-listen"))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    @property
    def running(self) -> bool:
        return bool(self._tasks)

    def committed(self) -> None:
        """A write transaction of this process committed: read the feed now (SQLite has no NOTIFY;
        on PostgreSQL the trigger's NOTIFY wakes every process, this one included)."""
        if self.db.dialect != "postgresql":
            self._wake.set()

    # --- subscribers ---------------------------------------------------------------------------------------------

    def subscribe(self, company_id: int | None) -> Subscriber:
        """A queue of the changes of `company_id` (None: of every company) read from now on."""
        subscriber = Subscriber(self, company_id)
        if company_id is None:
            self._everywhere.add(subscriber)
        else:
            self._by_company.setdefault(company_id, weakref.WeakSet()).add(subscriber)
        return subscriber

    def live_subscribers(self) -> int:
        """How many subscriptions of this process are set up and listening."""
        everyone = [*self._everywhere, *(s for subscribers in self._by_company.values() for s in subscribers)]
        return sum(1 for subscriber in everyone if subscriber.live)

    def _unsubscribe(self, subscriber: Subscriber) -> None:
        if subscriber.company_id is None:
            self._everywhere.discard(subscriber)
            return
        subscribers = self._by_company.get(subscriber.company_id)
        if subscribers is not None:
            subscribers.discard(subscriber)
            if not subscribers:
                del self._by_company[subscriber.company_id]

    def hand_out(self, changes: list[Change]) -> None:
        """Queue `changes` (in feed order) for the subscribers of their companies."""
        if not changes:
            return
        by_company: dict[int, list[Change]] = {}
        for change in changes:
            by_company.setdefault(change.company_id, []).append(change)
        for company_id, batch in by_company.items():
            for subscriber in list(self._by_company.get(company_id, ())):
                subscriber.offer(batch)
        for subscriber in list(self._everywhere):
            subscriber.offer(changes)

    # --- reading the feed ----------------------------------------------------------------------------------------

    async def _feed_end(self) -> Position:
        """The position of the last settled change: subscribers hear of what settles after start-up."""
        statement = cross_company(
            select(OrderChange.txid, OrderChange.id).where(settled(self.db.dialect))
            .order_by(OrderChange.txid.desc(), OrderChange.id.desc()).limit(1), READ_REASON)
        async with self.db.read_sessions() as session:
            rows = await plain_rows(session, statement)
        return Position(rows[0].txid, rows[0].id) if rows else START

    async def read_once(self) -> int:
        """Read and hand out every settled change after the position; how many there were."""
        if self.position is None:
            self.position = await self._feed_end()
            return 0
        total = 0
        while True:
            async with self.db.read_sessions() as session:
                rows = (await session.scalars(
                    settled_changes(self.db.dialect, self.position, self.batch_size, reason=READ_REASON))).all()
                changes = [Change(row.id, row.company_id, row.order_id, row.kind, row.created_at, row.txid)
                           for row in rows]
                if rows:
                    self.position = Position(rows[-1].txid, rows[-1].id)
            self.hand_out(changes)
            total += len(changes)
            if len(changes) < self.batch_size:
                return total

    async def _read_forever(self) -> None:
        retry: float | None = None
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), retry or self.poll_seconds)
            self._wake.clear()
            try:
                found = await self.read_once()
                unsettled = not found and await self._unsettled()
            except Exception:  # the database is unreachable (restarting?): try again at the next poll
                log.warning("change_feed_read_failed", exc_info=True)
                retry = None
                continue
            # A committed change that is not settled yet (on PostgreSQL an older transaction still runs) is
            # looked for again soon, backing off to once a second, rather than at the next poll.
            self.settling = unsettled
            retry = min((retry or SETTLE_RETRY_SECONDS[0]) * 2, SETTLE_RETRY_SECONDS[1]) if unsettled else None

    async def _unsettled(self) -> bool:
        """Whether a committed change after the position waits for an older transaction to end."""
        if self.db.dialect != "postgresql" or self.position is None:
            return False
        statement = cross_company(
            select(OrderChange.id).where(after(self.position), ~settled(self.db.dialect)).limit(1), READ_REASON)
        async with self.db.read_sessions() as session:
            return bool(await plain_rows(session, statement))

    # --- PostgreSQL: LISTEN ---------------------------------------------------------------------------------------

    async def _listen_forever(self) -> None:
        dsn = make_url(self.database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        wait = RECONNECT_SECONDS[0]
        while True:
            try:
                await self._listen(dsn)
                log.warning("change_listener_lost")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("change_listener_failed", exc_info=True)
            # A listener that stayed up a while starts over with the short wait.
            wait = RECONNECT_SECONDS[0] if self._listened else min(wait * 2, RECONNECT_SECONDS[1])
            await asyncio.sleep(wait)

    async def _listen(self, dsn: str) -> None:
        """LISTEN until the connection is lost (closed by the server, or found dead when checked)."""
        import asyncpg

        self._listened = False
        connection = await asyncpg.connect(dsn, server_settings={"application_name": LISTENER_NAME})
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(CHANGE_CHANNEL, lambda *_: self._wake.set())
            self.listening = self._listened = True
            self._wake.set()  # whatever committed while nobody listened
            while not lost.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(lost.wait(), LISTEN_CHECK_SECONDS)
                if not lost.is_set():
                    await asyncio.wait_for(connection.execute("SELECT 1"), LISTEN_CHECK_SECONDS)
        finally:
            self.listening = False
            connection.terminate()
