"""The invoice run from the worker (the daily entry, catching up on missed invoice days) and from the command
line (`procura invoice-run`, run as a user runs it: the console script in a fresh process)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from invoicing.run import RUN_KIND
from models import Job
from models.base import utcnow
from resolvers.jobs import enqueue
from tests.invoicing.run_helpers import documents, fulfilled, invoice_of, invoice_shop, product, runs
from tests.test_cli import procura
from worker.runner import run_due_jobs
from worker.schedule import ENTRIES, DailyAt

DEVELOPMENT = {"PROCURA_ENV": "development"}  # the demo supplier's details stand in for the real ones


async def run_job_of(services, slot: str) -> None:
    async with services.db.transaction() as session:
        await enqueue(session, RUN_KIND, slot, {"slot": slot}, run_at=utcnow() - timedelta(seconds=1), max_attempts=5)
    await run_due_jobs(services, kinds=[RUN_KIND], schedule=False)


def test_the_run_is_scheduled_every_day_shortly_after_midnight():
    [entry] = [entry for entry in ENTRIES if entry.kind == RUN_KIND]
    assert entry.cadence == DailyAt(0, 5) and entry.max_attempts > 1


async def test_the_daily_job_invoices_the_days_companies_and_catches_up_on_missed_days(api, services):
    fifteenth = await invoice_shop(api)
    tenth = await invoice_shop(api, op=fifteenth.op, invoice_days=[10])
    goods = await product(api, 10_00)
    on_the_fifteenth = await fulfilled(api, fifteenth, goods)
    on_the_tenth = await fulfilled(api, tenth, goods)

    await run_job_of(services, "2026-12-15T00:05:00+00:00")

    # The worker was not running on the 10th (no run of that date): the job ran it first, with its own date.
    issued = await documents(services)
    assert [(invoice.number, invoice.company_id, invoice.issue_date) for invoice in issued] == [
        (1, tenth.company_id, date(2026, 12, 10)), (2, fifteenth.company_id, date(2026, 12, 15))]
    assert await invoice_of(services, on_the_tenth["id"]) == issued[0].id
    assert await invoice_of(services, on_the_fifteenth["id"]) == issued[1].id
    assert [run.run_date for run in await runs(services)] == [date(2026, 12, 8) + timedelta(days=d) for d in range(8)]
    assert {run.status for run in await runs(services)} == {"finished"}

    await fulfilled(api, tenth, goods)
    await run_job_of(services, "2026-12-16T00:05:00+00:00")
    assert len(await documents(services)) == 2  # the 10th was run already: the new order waits for 10 January
    assert len(await runs(services)) == 9


async def test_the_job_fails_when_the_suppliers_details_are_missing(api, services, monkeypatch):
    shop = await invoice_shop(api)
    await fulfilled(api, shop, await product(api, 10_00))
    monkeypatch.setattr(services.settings, "supplier_org_number", "")

    await run_job_of(services, "2026-12-15T00:05:00+00:00")

    async with services.db.read_sessions() as session:
        job = (await session.scalars(select(Job).where(Job.kind == RUN_KIND))).one()
    assert job.attempts == 1 and "SUPPLIER_ORG_NUMBER" in (job.last_error or "")
    assert await documents(services) == []


async def test_the_command_invoices_prints_the_numbers_and_refuses_an_earlier_date(api, services, database_url,
                                                                                   tmp_path):
    shop = await invoice_shop(api)
    order = await fulfilled(api, shop, await product(api, 100_00))
    today = utcnow().date()

    # In production (the default) the supplier's details must be set first.
    refused = procura("invoice-run", "--all-companies", cwd=tmp_path, database_url=database_url)
    assert refused.returncode == 1
    assert "nothing issued; the supplier settings SUPPLIER_NAME, SUPPLIER_ORG_NUMBER" in refused.stdout
    assert await documents(services) == []

    result = procura("invoice-run", "--all-companies", cwd=tmp_path, database_url=database_url, **DEVELOPMENT)

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [f"Invoice run {today}: 1 companies, 1 invoices, 0 credit notes",
                                          "  invoices: 1"]
    [invoice] = await documents(services)
    assert (invoice.issue_date, await invoice_of(services, order["id"])) == (today, invoice.id)

    again = procura("invoice-run", "--date", today.isoformat(), "--all-companies", cwd=tmp_path,
                    database_url=database_url, **DEVELOPMENT)
    assert (again.returncode, again.stdout.splitlines()[0]) == (
        0, f"Invoice run {today}: 1 companies, 0 invoices, 0 credit notes")

    earlier = procura("invoice-run", "--date", (today - timedelta(days=1)).isoformat(), "--all-companies",
                      cwd=tmp_path, database_url=database_url, **DEVELOPMENT)
    assert earlier.returncode == 1
    assert "nothing issued; invoices dated" in earlier.stdout

    future = procura("invoice-run", "--date", (today + timedelta(days=1)).isoformat(), cwd=tmp_path,
                     database_url=database_url)
    assert future.returncode == 2 and "is in the future" in future.stderr
    assert procura("invoice-run", "--date", "15.12.2026", cwd=tmp_path, database_url=database_url).returncode == 2
