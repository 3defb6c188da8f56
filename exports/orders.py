"""GET /export/orders.ndjson and GET /export/orders.csv: the caller's orders with their lines, streamed.

Authenticated like /graphql, through the same Context (a signed-in user's access token or an API
client's secret as `Authorization: Bearer ...`): 401 without a caller, 403 for a caller who may read no
orders (an API client without ORDERS_READ). What is exported is what `orders` shows the caller.

Query parameters are the `orders` filter's (statuses, submittedFrom, submittedTo, updatedFrom,
updatedTo, buyerId, groupId, endCustomerId, reference, poNumber, minTotal, maxTotal, search) plus
`after`, a change-feed cursor: only orders changed after it. A bad or unknown parameter is 400, a cursor
behind the feed's retention 410, each with a JSON error. The response carries the change-feed cursor to
continue from in the X-Procura-Feed-Cursor header (and, in NDJSON, in the end line).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import datetime

from sqlalchemy import select
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from exports.order_format import csv_rows, ndjson
from models import Company
from models.base import utcnow
from models.company import Country, validate_org_number
from models.errors import DomainError, ErrorCode
from models.money import parse_amount
from models.order_state import OrderStatus
from policies.errors import AccessError, NotAuthenticated
from resolvers import order_export
from resolvers.changes import Position, decode_cursor, encode_cursor
from resolvers.order_changes import reader_scope
from resolvers.order_history import OrderFilter
from schema.context import Context
from schema.relay import decode_id

CURSOR_HEADER = "X-Procura-Feed-Cursor"
FORMATS = {
    "ndjson": ("application/x-ndjson", ndjson),
    "csv": ("text/csv; charset=utf-8", lambda batches, cursor: csv_rows(batches)),
}
_TIMES = ("submittedFrom", "submittedTo", "updatedFrom", "updatedTo")
_IDS = {"buyerId": "User", "groupId": "Group", "endCustomerId": "EndCustomer"}
_TEXTS = ("reference", "poNumber", "search")
PARAMETERS = frozenset({"statuses", *_TIMES, *_IDS, *_TEXTS, "minTotal", "maxTotal", "after"})


class BadParameter(Exception):
    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter, self.message = parameter, message


def error(status: int, code: str, message: str, parameter: str | None = None, **headers: str) -> JSONResponse:
    body = {"error": {"code": code, "message": message, "parameter": parameter}}
    return JSONResponse(body, status_code=status, headers=headers or None)


def _one(params: QueryParams, name: str) -> str:
    values = params.getlist(name)
    if len(values) != 1:
        raise BadParameter(name, f"{name} is given {len(values)} times; give it once")
    return values[0]


def _time(params: QueryParams, name: str) -> datetime:
    text = _one(params, name)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise BadParameter(name, f"{name} is not an ISO 8601 date and time: {text!r}") from None
    if value.utcoffset() is None:
        raise BadParameter(name, f"{name} needs a UTC offset, such as 2026-12-01T00:00:00Z")
    return value


def _statuses(params: QueryParams) -> list[OrderStatus]:
    names = [name.strip() for value in params.getlist("statuses") for name in value.split(",") if name.strip()]
    known = {status.name: status for status in OrderStatus}
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise BadParameter("statuses", f"statuses takes {', '.join(known)} (comma-separated or repeated); "
                                       f"unknown: {', '.join(unknown) or 'none given'}")
    return [known[name] for name in names]


def parse_parameters(params: QueryParams) -> tuple[OrderFilter, Position | None]:
    """The filter and the feed cursor of an export's query string (BadParameter for anything wrong)."""
    unknown = sorted(set(params) - PARAMETERS)
    if unknown:
        raise BadParameter(unknown[0], f"Unknown parameter {unknown[0]!r}; the parameters are "
                                       f"{', '.join(sorted(PARAMETERS))}")
    f = OrderFilter()
    if "statuses" in params:
        f.statuses = _statuses(params)
    for name in _TIMES:
        if name in params:
            setattr(f, {"submittedFrom": "submitted_from", "submittedTo": "submitted_to",
                        "updatedFrom": "updated_from", "updatedTo": "updated_to"}[name], _time(params, name))
    for name, type_name in _IDS.items():
        if name in params:
            key = decode_id(_one(params, name), type_name)
            if key is None:
                raise BadParameter(name, f"{name} is not the id of a {type_name}")
            setattr(f, {"buyerId": "buyer_id", "groupId": "group_id", "endCustomerId": "end_customer_id"}[name], key)
    f.reference = _one(params, "reference") if "reference" in params else None
    f.po_number = _one(params, "poNumber") if "poNumber" in params else None
    f.search = _one(params, "search") if "search" in params else None
    for name in ("minTotal", "maxTotal"):
        if name in params:
            try:
                minor = parse_amount(_one(params, name), name)
            except DomainError as problem:
                raise BadParameter(name, f"{name}: {problem.message}") from None
            if name == "minTotal":
                f.min_total_minor = minor
            else:
                f.max_total_minor = minor
    after = None
    if "after" in params:
        try:
            after = decode_cursor(_one(params, "after"))
        except DomainError:
            raise BadParameter("after", "after is not a change-feed cursor (a pageInfo.endCursor of orderChanges, "
                                        "or the cursor of an export)") from None
    f.changed_after = after
    return f, after


class ExportResponse(StreamingResponse):
    """A streamed response that releases what its body reads from (the database snapshot) however the
    response ends: written out, failed, or the client gone before or while it was sent."""

    def __init__(self, body, close: Callable[[], Awaitable[object]], **kwargs) -> None:
        super().__init__(body, **kwargs)
        self.close = close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self.close()


async def export_orders(request: Request) -> Response:
    services = request.app.state.services
    if request.path_params["format"] not in FORMATS:
        return error(404, "NOT_FOUND", "Orders are exported as /export/orders.ndjson or /export/orders.csv")
    media_type, encode = FORMATS[request.path_params["format"]]
    context = Context.for_request(services, request)
    try:
        async with context.reading() as ctx:
            scope, scope_params = reader_scope(ctx)
    except NotAuthenticated as refusal:
        return error(401, refusal.code, str(refusal), **{"WWW-Authenticate": "Bearer"})
    except AccessError as refusal:
        return error(403, refusal.code, str(refusal))
    finally:
        await context.close()
    try:
        order_filter, after = parse_parameters(request.query_params)
    except BadParameter as bad:
        return error(400, ErrorCode.INVALID_INPUT.value, bad.message, bad.parameter)

    plan = order_export.ExportPlan(scope, scope_params, order_filter, services.settings.export_batch_size)
    resources = AsyncExitStack()
    try:
        session = await resources.enter_async_context(order_export.snapshot(services.db))
        cursor = await order_export.feed_cursor(session, after, services.settings.change_retention_days)
    except DomainError as expired:
        await resources.aclose()
        return error(410, expired.code.value, expired.message, "after")
    except BaseException:
        await resources.aclose()
        raise
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    headers = {CURSOR_HEADER: encode_cursor(cursor), "Cache-Control": "no-store",
               "Content-Disposition": f'attachment; filename="orders-{stamp}.{request.path_params["format"]}"'}
    if request.method == "HEAD":  # what a GET would answer, without reading a single order
        await resources.aclose()
        return Response(media_type=media_type, headers=headers)
    return ExportResponse(encode(order_export.batches(session, plan), cursor), resources.aclose,
                          media_type=media_type, headers=headers)


class ExportRefused(Exception):
    """Why `procura export-orders` exports nothing (an unknown company, a bad parameter, an expired cursor)."""


async def export_company_orders(services, *, org_number: str, country: str, format: str, params: QueryParams,
                                write: Callable[[bytes], object]) -> Position:
    """`procura export-orders`: every order of one company (what its administrators see), with the same
    parameters, formats and snapshot as the HTTP export; returns the change-feed cursor to continue from."""
    try:
        company = Country(country.upper())
        compact = validate_org_number(company, org_number)
        order_filter, after = parse_parameters(params)
    except (ValueError, DomainError, BadParameter) as problem:
        raise ExportRefused(getattr(problem, "message", f"Unknown country {country!r}")) from None
    async with services.db.read_sessions() as session:
        company_id = await session.scalar(
            select(Company.id).where(Company.country == company.value, Company.org_number == compact))
    if company_id is None:
        raise ExportRefused(f"No company with organisation number {org_number} ({company.value})")
    plan = order_export.ExportPlan(("company",), {"scope_company_id": company_id}, order_filter,
                                   services.settings.export_batch_size)
    async with order_export.snapshot(services.db) as session:
        try:
            cursor = await order_export.feed_cursor(session, after, services.settings.change_retention_days)
        except DomainError as expired:
            raise ExportRefused(expired.message) from None
        async for chunk in FORMATS[format][1](order_export.batches(session, plan), cursor):
            write(chunk)
    return cursor
