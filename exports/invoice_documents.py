"""GET /export/invoices/{id}.xml and GET /export/invoices/{id}.pdf: one invoice or credit note as its EHF document
(exactly the bytes issued) or as a PDF to read and print. `Invoice.ehfUrl` and `Invoice.pdfUrl` give these addresses.

Authenticated like /graphql, through the same Context (a person's access token or an API client's secret as
`Authorization: Bearer ...`), and authorised like the `invoice` field (resolvers/invoice_view.py): members with
`invoice:read` read their company's invoices, API clients with INVOICES_READ theirs, platform operators every
company's. No caller is 401. Everything else that does not give the document (a missing invoice, another
company's, a caller who may read no invoices, an id that is not an Invoice's) is the same 404, so the answer tells
nobody whether an invoice exists. An API client is charged DOWNLOAD_COST points of its rate limit first (429 with
Retry-After when its bucket is empty), as a GraphQL request is charged its cost.
"""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from exports.orders import error
from invoicing.pdf import render_invoice_pdf
from models import Company
from models.errors import ErrorCode
from models.invoice import InvoiceKind
from policies.errors import AccessError, NotAuthenticated
from resolvers import invoice_view, rate_limit
from schema.context import Context
from schema.rate_limit import CODE as RATE_LIMITED
from schema.rate_limit import rate_limited
from schema.relay import decode_id

MEDIA_TYPES = {"xml": "application/xml", "pdf": "application/pdf"}
# Points of an API client's rate limit per download: the stored XML is one read, a PDF is drawn on each request.
DOWNLOAD_COST = {"xml": 10, "pdf": 100}
NOT_FOUND_MESSAGE = "No such invoice"


def not_found() -> Response:
    return error(404, ErrorCode.NOT_FOUND.value, NOT_FOUND_MESSAGE, "id")


def filename(kind: str, number: int, extension: str) -> str:
    return f"{'credit-note' if kind == InvoiceKind.CREDIT_NOTE.value else 'invoice'}-{number}.{extension}"


async def _charge_client(context: Context, extension: str) -> Response | None:
    """Charge an API client for the download; the refusal to send when its bucket is empty."""
    if context.client_secret_digest is None:
        return None
    budget = rate_limit.budget_of(context.services)
    async with context.read_session() as session:
        charge = await rate_limit.charge(context.services, context.client_secret_digest, DOWNLOAD_COST[extension],
                                         budget, session)
    if charge.limited:
        return error(429, RATE_LIMITED, rate_limited(charge, budget).message,
                     **{"Retry-After": str(charge.retry_after_seconds)})
    context.use_client(charge.actor)
    return None


async def download_invoice(request: Request) -> Response:
    identifier, _, extension = request.path_params["document"].rpartition(".")
    services = request.app.state.services
    context = Context.for_request(services, request)
    try:
        refused = await _charge_client(context, extension) if extension in MEDIA_TYPES else None
        if refused is not None:
            return refused
        async with context.reading() as ctx:
            ctx.require_signed_in()
            invoice_id = decode_id(identifier, "Invoice")
            if extension not in MEDIA_TYPES or invoice_id is None:
                return not_found()
            try:
                view = await invoice_view.get_invoice(ctx, invoice_id, lines=extension == "pdf")
            except AccessError as refusal:
                if isinstance(refusal, NotAuthenticated):
                    raise
                return not_found()  # a caller who may read no invoice learns nothing about this one
            if view is None:
                return not_found()
            invoice = view.invoice
            if extension == "pdf":
                company = await ctx.session.get_one(Company, invoice.company_id)
                credited = await invoice_view.credited_invoice_of(ctx, invoice)
    except NotAuthenticated as refusal:
        return error(401, refusal.code, str(refusal), **{"WWW-Authenticate": "Bearer"})
    finally:
        await context.close()
    if extension == "pdf":
        # Drawing a long invoice takes a while: off the event loop, from rows the closed session left loaded.
        body = await asyncio.to_thread(render_invoice_pdf, invoice, view.lines or [], company, services.settings,
                                       credited)
    else:
        body = invoice.ehf_xml
    headers = {"Cache-Control": "private, no-store", "Content-Length": str(len(body)),
               "Content-Disposition": f'attachment; filename="{filename(invoice.kind, invoice.number, extension)}"'}
    if request.method == "HEAD":  # what a GET would answer, without the body
        return Response(media_type=MEDIA_TYPES[extension], headers=headers)
    return Response(body, media_type=MEDIA_TYPES[extension], headers=headers)
