"""GET /export/transactions.csv?from=YYYY-MM-DD&to=YYYY-MM-DD: the caller's `transactions`, streamed as CSV.

Authenticated and authorised like the GraphQL field, through the same Context (a person's access token or an API
client's secret as `Authorization: Bearer ...`): 401 without a caller, 403 for one who may read no transactions,
400 (JSON error) for a bad parameter, such as a `from` more than five years back. Platform operators add
`companyId`. The rows are read page by page from one snapshot, so memory stays flat however long the period.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import date

from starlette.requests import Request
from starlette.responses import Response

from exports.orders import BadParameter, ExportResponse, error
from models.base import utcnow
from models.errors import DomainError, ErrorCode
from models.money import to_amount
from policies.errors import AccessError, NotAuthenticated
from resolvers import order_export
from resolvers import transactions as use_cases
from resolvers.context import UseCaseContext
from schema.context import Context
from schema.relay import decode_id, to_global_id

PARAMETERS = frozenset({"from", "to", "companyId"})
HEADER = ["date", "at", "kind", "number", "reference", "amount", "balance", "currency", "order_id", "invoice_id"]
BATCH = 500


def _one(request: Request, name: str) -> str:
    values = request.query_params.getlist(name)
    if len(values) != 1:
        raise BadParameter(name, f"{name} is given {len(values)} times; give it once")
    return values[0]


def _date(request: Request, name: str) -> date:
    text = _one(request, name)
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadParameter(name, f"{name} is not a date (YYYY-MM-DD): {text!r}") from None


def parse_parameters(request: Request) -> tuple[date, date, int | None]:
    unknown = sorted(set(request.query_params) - PARAMETERS)
    if unknown:
        raise BadParameter(unknown[0], f"Unknown parameter {unknown[0]!r}; the parameters are from, to, companyId")
    for name in ("from", "to"):
        if name not in request.query_params:
            raise BadParameter(name, f"{name} is required (YYYY-MM-DD)")
    company_id = None
    if "companyId" in request.query_params:
        company_id = decode_id(_one(request, "companyId"), "Company")
        if company_id is None:
            raise BadParameter("companyId", "companyId is not the id of a Company")
    return _date(request, "from"), _date(request, "to"), company_id


def _row(entry: use_cases.Entry) -> list[str]:
    return [entry.at.date().isoformat(), entry.at.isoformat(), entry.kind.value, entry.number, entry.reference,
            str(to_amount(entry.amount_minor)),
            str(to_amount(entry.balance_minor)) if entry.balance_minor is not None else "", entry.currency,
            to_global_id("Order", entry.order_id) if entry.order_id else "",
            to_global_id("Invoice", entry.invoice_id) if entry.invoice_id else ""]


def _csv(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()


async def _rows(ctx: UseCaseContext, start: date, end: date, company_id: int | None) -> AsyncIterator[bytes]:
    yield _csv([HEADER])
    after = None
    while True:
        page = await use_cases.list_transactions(ctx, start=start, end=end, first=BATCH, after=after,
                                                 company_id=company_id, maximum=BATCH)
        if page.entries:
            yield _csv([_row(entry) for entry in page.entries])
        if not page.has_next_page:
            return
        after = page.entries[-1].key


async def export_transactions(request: Request) -> Response:
    services = request.app.state.services
    try:
        start, end, company_id = parse_parameters(request)
    except BadParameter as bad:
        return error(400, ErrorCode.INVALID_INPUT.value, bad.message, bad.parameter)
    context = Context.for_request(services, request)
    try:
        async with context.reading() as ctx:
            actor = ctx.actor
            # The first page checks who may read and the period, before anything is sent.
            await use_cases.list_transactions(ctx, start=start, end=end, first=0, after=None, company_id=company_id)
    except NotAuthenticated as refusal:
        return error(401, refusal.code, str(refusal), **{"WWW-Authenticate": "Bearer"})
    except AccessError as refusal:
        return error(403, refusal.code, str(refusal))
    except DomainError as problem:
        status = 404 if problem.code is ErrorCode.NOT_FOUND else 400
        return error(status, problem.code.value, problem.message, problem.field)
    finally:
        await context.close()

    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    headers = {"Cache-Control": "no-store",
               "Content-Disposition": f'attachment; filename="transactions-{start}-{end}-{stamp}.csv"'}
    if request.method == "HEAD":  # what a GET would answer, without reading a row
        return Response(media_type="text/csv; charset=utf-8", headers=headers)
    resources = AsyncExitStack()
    session = await resources.enter_async_context(order_export.snapshot(services.db))
    ctx = UseCaseContext(services=services, session=session, actor=actor)
    return ExportResponse(_rows(ctx, start, end, company_id), resources.aclose,
                          media_type="text/csv; charset=utf-8", headers=headers)
