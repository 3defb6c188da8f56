"""The `procura` command: serve, migrate, load demo data, create operators, export the schema."""

from __future__ import annotations

import asyncio
import getpass
from pathlib import Path
from typing import Annotated

import typer

from settings import PROJECT_ROOT, Settings, UnsafeSettings

app = typer.Typer(help="Procura: B2B procurement over GraphQL.", no_args_is_help=True)
db_app = typer.Typer(help="Database migrations.", no_args_is_help=True)
app.add_typer(db_app, name="db")


def alembic_config(database_url: str | None = None):
    from alembic.config import Config

    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = database_url or Settings().database_url
    config.attributes["configure_logging"] = False
    return config


def ensure_sqlite_directory(url: str) -> None:
    if url.startswith("sqlite") and ":///" in url:
        path = url.split(":///", 1)[1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def upgrade_database(database_url: str | None = None, revision: str = "head") -> None:
    from alembic import command

    url = database_url or Settings().database_url
    ensure_sqlite_directory(url)
    command.upgrade(alembic_config(url), revision)


@db_app.command("upgrade")
def db_upgrade(revision: str = typer.Argument("head", help="Target revision.")) -> None:
    """Apply migrations up to REVISION (default: head)."""
    upgrade_database(revision=revision)
    typer.echo(f"Database at {revision}.")


@db_app.command("downgrade")
def db_downgrade(revision: str = typer.Argument(..., help="Target revision, e.g. base.")) -> None:
    """Revert migrations down to REVISION."""
    from alembic import command

    command.downgrade(alembic_config(), revision)
    typer.echo(f"Database at {revision}.")


def run_with_services(use_case):
    """Build the services from the environment, await `use_case(services)`, dispose the engine."""
    from app import build_services

    async def run():
        services = build_services(Settings())
        try:
            return await use_case(services)
        finally:
            await services.db.dispose()

    return asyncio.run(run())


def _print_sign_ins(sign_ins, url: str) -> None:
    typer.echo(f"\nProcura demo at {url}/graphql  (GraphiQL in a browser)\nSign in with the `login` mutation:")
    for sign_in in sign_ins:
        typer.echo(f"  {sign_in.role:<15} {sign_in.email:<32} password: {sign_in.password}")
    typer.echo("")


@app.command("demo-data")
def demo_data() -> None:
    """Load the demo company and its users (once; later runs change nothing)."""
    from demo.load import load_demo_data

    settings = Settings()
    if settings.is_production:
        # The demo accounts' passwords are printed in the README: never in a production database.
        typer.echo("procura demo-data: refusing to load demo accounts (their passwords are public) with "
                   "PROCURA_ENV=production; set PROCURA_ENV=development to run the demo", err=True)
        raise typer.Exit(1)
    from demo.api_client import ensure_demo_api_client
    from demo.load import DEMO_ORG_NUMBER, DEMO_USERS

    async def load(services):
        loaded = await load_demo_data(services)
        return loaded, await ensure_demo_api_client(services, DEMO_ORG_NUMBER, DEMO_USERS[0][0])

    (created, people), client = run_with_services(load)
    typer.echo("Demo data loaded." if created else "Demo data already present.")
    _print_sign_ins(people, settings.public_url.rstrip("/"))
    if client is not None:
        _print_demo_api_client(client, settings.public_url.rstrip("/"))


def _print_demo_api_client(client, url: str) -> None:
    scopes = ", ".join(scope.upper() for scope in client.scopes)
    typer.echo(f"API client {client.name!r} of the demo company ({scopes}), development only:")
    typer.echo(f"  secret: {client.secret}")
    if client.usable:
        typer.echo(f"  curl -H 'Authorization: Bearer {client.secret}' -H 'Content-Type: application/json' "
                   f"-d '{{\"query\": \"{{ orders(first: 5) {{ edges {{ node {{ number status }} }} }} }}\"}}' "
                   f"{url}/graphql")
    else:
        typer.echo("  (revoked or rotated in this database: create another one with createApiClient)")
    typer.echo("")


@app.command("create-operator")
def create_operator(
    email: str = typer.Option(..., help="Operator's email."),
    first_name: str = typer.Option("Platform", help="First name."),
    last_name: str = typer.Option("Operator", help="Last name."),
    password: str = typer.Option(None, help="Password (asked for when omitted; or set PROCURA_OPERATOR_PASSWORD)."),
) -> None:
    """Create a platform operator (the supplier's staff, outside every company)."""
    import os

    from models.errors import DomainError
    from resolvers.operator import create_operator as create

    password = password or os.environ.get("PROCURA_OPERATOR_PASSWORD") or getpass.getpass("Password: ")
    try:
        user = run_with_services(lambda services: create(
            services, email=email, first_name=first_name, last_name=last_name, password=password))
    except DomainError as error:
        typer.echo(f"{error.code.value}: {error.message}", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"Operator {user.email} ready.")


@app.command("import-products")
def import_products(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV file to import.")],
) -> None:
    """Upsert products by SKU from a CSV file; a bad row aborts the whole file with its line number.

    Columns: sku, name, description, unit, category, unit_price (decimal, excl. VAT), vat_rate, active.
    """
    from resolvers.product_import import ProductImportError
    from resolvers.product_import import import_products as run_import

    try:
        result = run_with_services(lambda services: run_import(services, file.read_text(encoding="utf-8")))
    except ProductImportError as error:
        typer.echo(f"{file}: {error}; nothing was imported.", err=True)
        raise typer.Exit(1) from error
    typer.echo(f"Imported {file}: {result.created} created, {result.updated} updated.")


@app.command("export-schema")
def export_schema(
    output: Annotated[Path, typer.Option(help="Where to write the SDL.")] = PROJECT_ROOT / "schema.graphql",
) -> None:
    """Write the GraphQL schema (SDL) to a file; schema.graphql is committed."""
    from schema import build_schema

    output.write_text(build_schema(Settings()).as_str() + "\n")
    typer.echo(f"Schema written to {output}.")


@app.command("worker")
def worker_command(
    migrate: bool = typer.Option(False, help="Apply migrations first."),
) -> None:
    """Run background jobs (mail retries, webhook deliveries, scheduled runs) until SIGTERM or Ctrl-C.

    Run as many as you like against one database: each job runs on one of them at a time."""
    from app import configure_logging
    from worker.runner import run_worker

    if migrate:
        upgrade_database()
    configure_logging(Settings())
    run_with_services(run_worker)


@app.command("export-orders")
def export_orders(
    company: Annotated[str, typer.Option(help="The company's organisation number, e.g. 923609016.")],
    country: Annotated[str, typer.Option(help="The company's country.")] = "NO",
    format: Annotated[str, typer.Option(help="ndjson (an order a line, lines nested) or csv (a row per line).")]
    = "ndjson",
    output: Annotated[Path | None, typer.Option(help="File to write (default: standard output).")] = None,
    status: Annotated[list[str] | None, typer.Option(help="Only these statuses (repeat it), e.g. APPROVED.")] = None,
    submitted_from: Annotated[str | None, typer.Option(help="Submitted at or after (ISO 8601 with offset).")] = None,
    submitted_to: Annotated[str | None, typer.Option(help="Submitted before.")] = None,
    updated_from: Annotated[str | None, typer.Option(help="Last changed at or after.")] = None,
    updated_to: Annotated[str | None, typer.Option(help="Last changed before.")] = None,
    reference: Annotated[str | None, typer.Option(help="Reference contains this.")] = None,
    po_number: Annotated[str | None, typer.Option(help="Purchase-order number equals this.")] = None,
    search: Annotated[str | None, typer.Option(help="Text in the order number or reference.")] = None,
    min_total: Annotated[str | None, typer.Option(help="Gross total at least (decimal).")] = None,
    max_total: Annotated[str | None, typer.Option(help="Gross total at most (decimal).")] = None,
    after: Annotated[str | None, typer.Option(help="Only orders changed after this change-feed cursor.")] = None,
) -> None:
    """Export a company's orders with their lines, as GET /export/orders.ndjson or .csv does (README "Bulk
    export"); the change-feed cursor to continue from is printed on standard error."""
    import sys

    from starlette.datastructures import QueryParams

    from exports.orders import FORMATS, ExportRefused, export_company_orders
    from resolvers.changes import encode_cursor

    if format not in FORMATS:
        typer.echo(f"--format is one of {', '.join(FORMATS)}", err=True)
        raise typer.Exit(2)
    given = {"submittedFrom": submitted_from, "submittedTo": submitted_to, "updatedFrom": updated_from,
             "updatedTo": updated_to, "reference": reference, "poNumber": po_number, "search": search,
             "minTotal": min_total, "maxTotal": max_total, "after": after}
    params = QueryParams([("statuses", value) for value in status or []]
                         + [(name, value) for name, value in given.items() if value is not None])
    target = output.open("wb") if output else sys.stdout.buffer
    try:
        cursor = run_with_services(lambda services: export_company_orders(
            services, org_number=company, country=country, format=format, params=params, write=target.write))
    except ExportRefused as refused:
        typer.echo(f"procura export-orders: {refused}", err=True)
        raise typer.Exit(1) from refused
    finally:
        if output:
            target.close()
    typer.echo(f"Feed cursor: {encode_cursor(cursor)}", err=True)


@app.command("invoice-run")
def invoice_run(
    date: Annotated[str | None, typer.Option(help="The invoice date, YYYY-MM-DD (default: today, UTC).")] = None,
    all_companies: Annotated[bool, typer.Option(help="Invoice every company, not only those whose invoice day "
                                                     "the date is.")] = False,
) -> None:
    """Run the invoicing of a date by hand, as the worker does every day (README "The invoice run"); exits 1 when
    a document was refused or nothing could be issued."""
    from datetime import date as Date

    from invoicing.run import describe, run_invoicing
    from models.base import utcnow

    today = utcnow().date()
    try:
        run_date = Date.fromisoformat(date) if date else today
    except ValueError as error:
        typer.echo(f"--date: {date!r} is not a date (YYYY-MM-DD)", err=True)
        raise typer.Exit(2) from error
    if run_date > today:
        typer.echo(f"--date: {run_date} is in the future; invoices are dated the day they are issued or earlier",
                   err=True)
        raise typer.Exit(2)
    report = run_with_services(lambda services: run_invoicing(services, run_date, all_companies=all_companies))
    for line in describe(report):
        typer.echo(line)
    if not report.companies and not report.refused and not all_companies:
        typer.echo(f"No company has {run_date.day} among its invoice days; --all-companies invoices every company.")
    if report.refused:
        raise typer.Exit(1)


@app.command("serve")
def serve(
    host: str = typer.Option(None, help="Interface (default: HOST or 127.0.0.1)."),
    port: int = typer.Option(None, help="Port (default: PORT or 8000)."),
    migrate: bool = typer.Option(True, help="Apply migrations first."),
    demo: bool = typer.Option(False, help="Load the demo data first (once)."),
    workers: int = typer.Option(1, help="Worker processes."),
    with_worker: bool = typer.Option(False, help="Also run `procura worker` (background jobs) as a child process, "
                                                 "stopped with the server."),
) -> None:
    """Serve the API (and GraphiQL outside production)."""
    import os

    import uvicorn
    from pydantic import ValidationError

    try:
        settings = Settings()
        settings.check_production_safety()
    except (ValidationError, UnsafeSettings) as error:
        typer.echo(f"procura serve: refusing to start: {error}", err=True)
        raise typer.Exit(1) from error
    host, port = host or settings.host, port or settings.port
    # uvicorn builds the app (in every worker) from the environment: give it the address it is served
    # on, which is where emailed links point unless PUBLIC_URL says otherwise.
    os.environ["HOST"], os.environ["PORT"] = host, str(port)
    if migrate:
        upgrade_database()
    if demo:
        demo_data()
    # proxy_headers=False: uvicorn's own handling trusts X-Forwarded-For from 127.0.0.1; the app
    # honours it from TRUSTED_PROXIES only.
    background = _start_worker() if with_worker else None
    try:
        # ws_max_size: a WebSocket message (a subscribe) is bounded like a request body (MAX_REQUEST_BYTES).
        uvicorn.run("app:create_app", factory=True, host=host, port=port, workers=workers, proxy_headers=False,
                    log_level="info", ws_max_size=settings.max_request_bytes)
    finally:
        if background is not None:
            _stop_worker(background, wait=settings.worker_grace_seconds + 10)


def _start_worker():
    """`procura worker` as a child process: a slow job never holds up a request, and uvicorn's --workers N do
    not start one each. uvicorn re-raises the signal that stopped it once it is done; exiting cleanly on it
    lets `_stop_worker` run (SIGTERM's default action would end this process and orphan the child)."""
    import signal
    import subprocess
    import sys

    def exit_cleanly(_signum, _frame):
        raise SystemExit(0)

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, exit_cleanly)
    return subprocess.Popen([sys.executable, "-m", "cli", "worker"])


def _stop_worker(process, *, wait: float) -> None:
    """SIGTERM (graceful; after the Ctrl-C the terminal also sent it, still graceful), then wait for it."""
    import subprocess

    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


if __name__ == "__main__":
    app()
