"""GET /export/invoices/{id}.xml and .pdf over HTTP through the ASGI app: the EHF document byte for byte, the PDF,
their headers, who may download them (the readers of the `invoice` field), the one 404 for everything else, 401
without a caller, HEAD, and an API client's rate limit."""

from __future__ import annotations

import re
import zlib
from base64 import urlsafe_b64encode
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import httpx
import pytest
from sqlalchemy import insert

from app import create_app
from models import InvoiceLine, PermissionRestriction, Role
from models.invoice import InvoiceKind
from policies.permissions import Permission
from schema.relay import to_global_id
from tests.conftest import test_settings as make_test_settings
from tests.factories import Api, operator
from tests.invoicing.invoice_factory import create_invoice

# As issued: an XML declaration, non-ASCII text, a CRLF and no final newline, all kept exactly.
EHF = ('<?xml version="1.0" encoding="UTF-8"?>\n<Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:'
       'Invoice-2"><cbc:Note>Blåbær &amp; tyttebær\r\n</cbc:Note></Invoice>').encode()
CREATE_CLIENT = "__typename ... on ApiClientSecretPayload { secret } ... on MutationError { code message }"


async def get(client: httpx.AsyncClient, path: str, token: str | None, method: str = "GET") -> httpx.Response:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    return await client.request(method, path, headers=headers)


def url(invoice_id: int, extension: str, type_name: str = "Invoice") -> str:
    return f"/export/invoices/{to_global_id(type_name, invoice_id)}.{extension}"


def pdf_text(data: bytes) -> str:
    """The strings drawn in a (compressed) PDF, one a line."""
    strings = []
    for stream in re.findall(rb"stream\n(.*?)\nendstream", data, re.S):
        try:
            content = zlib.decompress(stream)
        except zlib.error:
            continue
        strings += [re.sub(rb"\\(.)", rb"\1", s).decode("cp1252")
                    for s in re.findall(rb"\(((?:\\.|[^\\)])*)\) Tj", content)]
    return "\n".join(strings)


async def new_client(api: Api, token: str, *scopes: str) -> str:
    body = await api.mutate("createApiClient", "CreateApiClientInput", CREATE_CLIENT,
                            {"name": "+".join(scopes), "scopes": list(scopes)}, token)
    return body["data"]["createApiClient"]["secret"]


async def add_lines(services, invoice_id: int, count: int) -> None:
    async with services.db.transaction() as session:
        await session.execute(insert(InvoiceLine), [dict(
            invoice_id=invoice_id, sku=f"SKU-{i}", name=f"Product {i} <&>", unit="pcs", quantity=2,
            unit_price_minor=50_000, vat_rate=25, net_minor=100_000, order_number="2026-000042",
            order_reference="Ward 3", delivered_on=date(2026, 11, 20)) for i in range(count)])


@pytest.fixture
async def world(api, services) -> dict:
    """A company with a member of each role and an invoice (with lines) and its credit note; another company with
    an invoice of its own; API clients of both; a platform operator."""
    tenant = await api.tenant([Role.ADMIN, Role.MANAGER, Role.ACCOUNTANT, Role.CUSTOMER, Role.ORDER_APPROVER])
    other = await api.tenant([Role.ADMIN])
    invoice = await create_invoice(services, tenant.company_id, gross="2500.00", ehf_xml=EHF,
                                   recipient_reference="Avd. 42")
    await add_lines(services, invoice.id, 2)
    note = await create_invoice(services, tenant.company_id, gross="1250.00", kind=InvoiceKind.CREDIT_NOTE,
                                credited_invoice_id=invoice.id, ehf_xml=b"<CreditNote/>")
    await add_lines(services, note.id, 1)
    theirs = await create_invoice(services, other.company_id, ehf_xml=b"<Invoice>theirs</Invoice>")
    admin = tenant[Role.ADMIN].token
    return {
        "tenant": tenant, "other": other, "invoice": invoice, "note": note, "theirs": theirs,
        "op": await operator(api),
        "invoices_client": await new_client(api, admin, "INVOICES_READ"),
        "orders_client": await new_client(api, admin, "ORDERS_READ", "CATALOGUE_READ"),
        "their_client": await new_client(api, other[Role.ADMIN].token, "INVOICES_READ"),
    }


async def not_found_body(client: httpx.AsyncClient, token: str) -> dict:
    """What a missing invoice answers this caller: every refusal below must look exactly like it."""
    response = await get(client, url(2**31 - 1, "xml"), token)
    assert response.status_code == 404
    assert response.json() == {"error": {"code": "NOT_FOUND", "message": "No such invoice", "parameter": "id"}}
    return response.json()


# --- what is downloaded -------------------------------------------------------------------------------------------

async def test_the_xml_is_the_stored_ehf_document_byte_for_byte(client, world):
    invoice, note, admin = world["invoice"], world["note"], world["tenant"][Role.ADMIN].token
    response = await get(client, url(invoice.id, "xml"), admin)
    assert response.status_code == 200
    assert response.content == EHF
    assert response.headers["content-type"] == "application/xml"
    assert response.headers["content-length"] == str(len(EHF))
    assert response.headers["content-disposition"] == f'attachment; filename="invoice-{invoice.number}.xml"'
    assert response.headers["cache-control"] == "private, no-store"
    credit = await get(client, url(note.id, "xml"), admin)
    assert credit.content == b"<CreditNote/>"
    assert credit.headers["content-disposition"] == f'attachment; filename="credit-note-{note.number}.xml"'


async def test_the_pdf_is_drawn_from_the_invoice(client, world):
    invoice, note, admin = world["invoice"], world["note"], world["tenant"][Role.ADMIN].token
    response = await get(client, url(invoice.id, "pdf"), admin)
    assert response.status_code == 200
    assert response.content.startswith(b"%PDF-") and response.content.rstrip().endswith(b"%%EOF")
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == f'attachment; filename="invoice-{invoice.number}.pdf"'
    assert response.headers["cache-control"] == "private, no-store"
    words = pdf_text(response.content)
    for expected in (str(invoice.number), invoice.kid, "Avd. 42", "Product 0 <&>", "SKU-1", "Order 2026-000042",
                     "Org.nr. 912 345 688 MVA", "Total NOK", "2 500.00"):
        assert expected in words, expected
    credit = await get(client, url(note.id, "pdf"), admin)
    assert credit.headers["content-disposition"] == f'attachment; filename="credit-note-{note.number}.pdf"'
    words = pdf_text(credit.content)
    assert "CREDIT NOTE" in words and f"{invoice.number} of {invoice.issue_date.isoformat()}" in words


async def test_head_answers_the_headers_of_a_get_without_the_body(client, world):
    admin = world["tenant"][Role.ADMIN].token
    head = await get(client, url(world["invoice"].id, "xml"), admin, "HEAD")
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(len(EHF))
    assert head.headers["content-type"] == "application/xml"
    pdf = await get(client, url(world["invoice"].id, "pdf"), admin, "HEAD")
    assert pdf.status_code == 200 and pdf.content == b"" and int(pdf.headers["content-length"]) > 1000
    assert (await get(client, url(world["theirs"].id, "xml"), admin, "HEAD")).status_code == 404
    assert (await get(client, url(world["invoice"].id, "xml"), None, "HEAD")).status_code == 401


# --- who may download ---------------------------------------------------------------------------------------------

async def test_readers_of_the_invoice_field_download_it(client, world):
    tenant = world["tenant"]
    readers = {"admin": tenant[Role.ADMIN].token, "manager": tenant[Role.MANAGER].token,
               "accountant": tenant[Role.ACCOUNTANT].token, "INVOICES_READ client": world["invoices_client"],
               "operator": world["op"].token}
    for who, token in readers.items():
        for extension in ("xml", "pdf"):
            response = await get(client, url(world["invoice"].id, extension), token)
            assert response.status_code == 200, (who, extension, response.text)
    # An operator reads every company's; a client reads its own company's.
    assert (await get(client, url(world["theirs"].id, "xml"), world["op"].token)).content == \
        b"<Invoice>theirs</Invoice>"
    assert (await get(client, url(world["theirs"].id, "xml"), world["their_client"])).status_code == 200


async def test_everybody_else_gets_the_answer_of_a_missing_invoice(client, services, world):
    tenant, invoice = world["tenant"], world["invoice"]
    refused = {"customer": tenant[Role.CUSTOMER].token, "order approver": tenant[Role.ORDER_APPROVER].token,
               "client without INVOICES_READ": world["orders_client"],
               "another company's administrator": world["other"][Role.ADMIN].token,
               "another company's INVOICES_READ client": world["their_client"]}
    for who, token in refused.items():
        expected = await not_found_body(client, token)
        for extension in ("xml", "pdf"):
            response = await get(client, url(invoice.id, extension), token)
            assert (response.status_code, response.json()) == (404, expected), who
            assert "cache-control" not in response.headers or "private" not in response.headers["cache-control"]
    # The permission decides, not the role: an administrator whose invoice:read is taken away reads none.
    admin = tenant[Role.ADMIN]
    assert (await get(client, url(invoice.id, "xml"), admin.token)).status_code == 200
    async with services.db.transaction() as session:
        session.add(PermissionRestriction(membership_id=admin.membership_id, company_id=tenant.company_id,
                                          permission=Permission.INVOICE_READ.value))
    response = await get(client, url(invoice.id, "pdf"), admin.token)
    assert (response.status_code, response.json()) == (404, await not_found_body(client, admin.token))


async def test_a_bad_id_is_not_found_like_a_missing_invoice(client, world):
    admin, invoice = world["tenant"][Role.ADMIN].token, world["invoice"]
    expected = await not_found_body(client, admin)
    paths = [
        url(world["theirs"].id, "xml"),  # another company's
        url(invoice.id, "xml", "Order"), url(invoice.id, "pdf", "Company"),  # the key of another type
        "/export/invoices/not-an-id.xml", "/export/invoices/.pdf", "/export/invoices/pdf",  # malformed
        f"/export/invoices/{urlsafe_b64encode(f'Invoice:0{invoice.id}'.encode()).decode()}.pdf",  # a leading zero
        f"/export/invoices/{to_global_id('Invoice', invoice.id)}=.xml",  # the id with stray padding
        url(invoice.id, "html"), url(invoice.id, "XML"),  # no such document
    ]
    for path in paths:
        response = await get(client, path, admin)
        assert (response.status_code, response.json()) == (404, expected), path


async def test_without_a_caller_it_is_401_whatever_the_id(client, world):
    for token in (None, "not-a-token", "prc_" + "x" * 43):
        for path in (url(world["invoice"].id, "xml"), url(world["invoice"].id, "pdf"), "/export/invoices/x.xml"):
            response = await get(client, path, token)
            assert response.status_code == 401, (token, path)
            assert response.headers["www-authenticate"] == "Bearer"
            assert response.json()["error"]["code"] == "UNAUTHENTICATED"


# --- an API client's rate limit -----------------------------------------------------------------------------------

@asynccontextmanager
async def limited_server(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Another application on the same database whose API clients hold 150 points and gain 1 a second."""
    application = create_app(make_test_settings(database_url, api_rate_limit_capacity=150, max_query_cost=150,
                                                api_rate_limit_refill_per_second=1))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=application), base_url="http://t") as http:
            yield http
    finally:
        await application.state.services.mailer.drain()
        await application.state.services.db.dispose()


async def test_a_download_draws_on_the_clients_rate_limit(world, database_url):
    secret, invoice = world["invoices_client"], world["invoice"]
    async with limited_server(database_url) as http:
        assert (await get(http, url(invoice.id, "pdf"), secret)).status_code == 200  # 100 points: 50 left
        refused = await get(http, url(invoice.id, "pdf"), secret)
        assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1
        assert refused.json()["error"]["code"] == "RATE_LIMITED"
        assert (await get(http, url(invoice.id, "xml"), secret)).status_code == 200  # 10 points still fit
        # People are not limited.
        for _ in range(3):
            assert (await get(http, url(invoice.id, "pdf"), world["tenant"][Role.ADMIN].token)).status_code == 200
