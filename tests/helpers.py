"""Helpers that test modules of every area share: reading what a mutation answered (its payload,
its typed error, a refusal) and reading the database directly, to prove what a request changed
and, above all, what a refused one left alone. Area helpers build on these
(`tests/ordering_helpers.py`, `tests/spend_helpers.py`)."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

import models
from tests.factories import error_code

# --- what a mutation answered ---------------------------------------------------------------------


def outcome(body: dict, name: str) -> str:
    """'ok', a MutationError code, or a top-level error code such as FORBIDDEN."""
    if body.get("errors"):
        return error_code(body)
    result = body["data"][name]
    return result["code"] if result["__typename"] == "MutationError" else "ok"


def succeeded(body: dict, name: str) -> dict:
    """The payload of a mutation that must succeed."""
    assert "errors" not in body, body
    result = body["data"][name]
    assert result["__typename"] != "MutationError", result
    return result


def failed(body: dict, name: str) -> dict:
    """The MutationError of a mutation that must fail as data."""
    assert "errors" not in body, body
    result = body["data"][name]
    assert result["__typename"] == "MutationError", result
    return result


def assert_forbidden(body: dict) -> None:
    """A FORBIDDEN error and no data (null, or null for a nullable root field)."""
    assert error_code(body) == "FORBIDDEN", body
    assert body["data"] is None or set(body["data"].values()) == {None}, body


def new_key() -> str:
    """A fresh idempotency key for submitOrder."""
    return f"key-{uuid.uuid4().hex}"


# --- the database, read directly ------------------------------------------------------------------


async def snapshot(services) -> dict[str, list[tuple]]:
    """Every row of every table (after pending mail has been delivered): a denied or failed
    mutation must leave all of it as it was, audit log included."""
    await services.mailer.drain()
    async with services.db.read_sessions() as session:
        result = {}
        for table in models.Base.metadata.sorted_tables:
            rows = await session.execute(select(table).order_by(*table.primary_key.columns))
            result[table.name] = [tuple(row) for row in rows]
    return result


async def count(services, model, *where) -> int:
    """How many rows of `model` meet the conditions."""
    async with services.db.read_sessions() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))
