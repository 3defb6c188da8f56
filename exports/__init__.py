"""Bulk exports over plain HTTP (not GraphQL): streamed files for integrators, authenticated and scoped
exactly like the API (schema/context.py, policies/scopes.py). A package of its own because these are
responses of another shape than GraphQL's, served next to /graphql; the rows come from resolvers/."""

from __future__ import annotations

from starlette.routing import BaseRoute, Route

from exports.invoice_documents import download_invoice
from exports.orders import export_orders
from exports.transactions import export_transactions


def routes() -> list[BaseRoute]:
    """GET /export/orders.ndjson and GET /export/orders.csv (exports/orders.py); GET /export/invoices/{id}.xml and
    GET /export/invoices/{id}.pdf (exports/invoice_documents.py); GET /export/transactions.csv
    (exports/transactions.py). HEAD answers wherever GET does."""
    return [Route("/export/orders.{format:str}", export_orders, methods=["GET"]),
            Route("/export/invoices/{document:str}", download_invoice, methods=["GET"]),
            Route("/export/transactions.csv", export_transactions, methods=["GET"])]
