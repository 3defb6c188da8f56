"""Fixtures of the policy tests.

The role matrix runs more than a thousand requests. Building an application per request (as the
`app` fixture of tests/conftest.py does) would cost most of the run, so the matrix gets one
application per test module, `matrix_api`: the same `create_app`, test settings and HTTP client
as the `api` fixture. Isolation comes from the data instead: every case acts on companies and
people of its own (or on a cached world that a case may only read, which is re-checked after
every request). When the module is done, its tables are emptied exactly as after any other test.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app import create_app
from tests.conftest import _empty_tables
from tests.conftest import test_settings as make_settings
from tests.factories import Api


@pytest.fixture(scope="module")
async def matrix_app(database_url: str) -> AsyncIterator:
    application = create_app(make_settings(database_url))
    services = application.state.services
    await _empty_tables(services.db)  # start clean, whatever ran before
    yield application
    await services.mailer.drain()
    await _empty_tables(services.db)
    await services.db.dispose()


@pytest.fixture(scope="module")
async def matrix_api(matrix_app) -> AsyncIterator[Api]:
    transport = httpx.ASGITransport(app=matrix_app, client=("203.0.113.9", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield Api(http, matrix_app.state.services)


@pytest.fixture(scope="module")
async def matrix(matrix_api) -> dict:
    """The matrix's shared state: the global catalogue, a platform operator and the cached worlds."""
    from tests.policies.world import create_matrix_state

    return await create_matrix_state(matrix_api)
