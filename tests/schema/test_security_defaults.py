"""Safe by default: production unless told otherwise (and then a strong JWT_SECRET or no start),
request bodies above a limit refused with 413 before they are read whole, and X-Forwarded-For
believed from configured proxies only. Checked through the ASGI app and a real `procura serve`."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import jwt
import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

from app import create_app
from models import LoginThrottle, OutboxMessage, Role
from settings import DEV_SECRET, Settings, UnsafeSettings
from tests.conftest import test_settings as make_settings
from tests.factories import Api, create_company, create_member

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROCURA = Path(sys.executable).parent / "procura"
STRONG_SECRET = "k3Qv9-production-secret-of-40-bytes-xyz1"
WRONG_LOGIN = 'mutation { login(input: {email: "%s", password: "wrong-password"}) { __typename } }'
# Settings a test must not inherit from the developer's shell.
OWN_VARIABLES = {"PROCURA_ENV", "JWT_SECRET", "DATABASE_URL", "TEST_DATABASE_URL", "TRUSTED_PROXIES",
                 "MAX_REQUEST_BYTES", "SMTP_URL", "HOST", "PORT", "PUBLIC_URL"}


def too_large(limit: int) -> dict:
    message = f"The request body is larger than {limit} bytes"
    return {"data": None, "errors": [{"message": message, "extensions": {"code": "REQUEST_TOO_LARGE"}}]}


# --- production by default --------------------------------------------------------------------------

def test_settings_default_to_production_and_want_a_jwt_secret(monkeypatch):
    for name in OWN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert settings.procura_env == "production" and settings.is_production
    assert settings.jwt_secret == ""
    assert settings.production_problem().startswith(
        "JWT_SECRET is not set and PROCURA_ENV is production (the default): set JWT_SECRET to a random value of "
        "at least 32 bytes")
    assert settings.trusted_proxies == [] and settings.max_request_bytes == 1024 * 1024


def test_development_keeps_its_own_key_and_a_misspelt_environment_is_refused(monkeypatch):
    for name in OWN_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    development = Settings(_env_file=None, procura_env="development")
    assert development.jwt_secret == DEV_SECRET and development.production_problem() is None
    with pytest.raises(ValidationError, match="procura_env"):
        Settings(_env_file=None, procura_env="prod")


@pytest.mark.parametrize(("secret", "problem"), [
    ("", "JWT_SECRET is not set and PROCURA_ENV is production (the default): "),
    (DEV_SECRET, "JWT_SECRET is the development value, which is public: "),
    ("x" * 31, "JWT_SECRET is 31 bytes, too short for production: "),
    ("ø" * 15, "JWT_SECRET is 30 bytes, too short for production: "),
])
def test_a_production_app_refuses_a_missing_public_or_short_secret(database_url, secret, problem):
    settings = make_settings(database_url, procura_env="production", jwt_secret=secret)
    with pytest.raises(UnsafeSettings) as refused:
        create_app(settings)
    assert str(refused.value).startswith(problem)
    assert "or PROCURA_ENV=development to run locally" in str(refused.value)


async def test_a_production_app_with_a_strong_secret_signs_with_it(database_url, services):
    company_id, group_id = await create_company(services)
    member = await create_member(services, company_id, group_id, Role.CUSTOMER)
    secret = "ø" * 16  # 32 bytes
    application = create_app(make_settings(database_url, procura_env="production", jwt_secret=secret))
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://prod") as http:
            login = await Api(http, application.state.services).login(member.email)
    finally:
        await application.state.services.db.dispose()
    claims = jwt.decode(login["accessToken"], secret, algorithms=["HS256"], audience="procura-api")
    assert claims["sub"] == str(member.user_id)
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(login["accessToken"], DEV_SECRET, algorithms=["HS256"], audience="procura-api")


# --- `procura serve`, for real ------------------------------------------------------------------------

def procura_environment(tmp_path: Path, **settings: str) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k not in OWN_VARIABLES}
    environment.update(
        PYTHONPATH=str(PROJECT_ROOT), DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'procura.db'}",
        ARGON2_TIME_COST="1", ARGON2_MEMORY_COST="1024", ARGON2_PARALLELISM="1", **settings,
    )
    return environment


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize(("settings", "problem"), [
    ({}, "JWT_SECRET is not set and PROCURA_ENV is production (the default)"),
    ({"PROCURA_ENV": "production", "JWT_SECRET": DEV_SECRET}, "JWT_SECRET is the development value"),
    ({"JWT_SECRET": "short-secret"}, "JWT_SECRET is 12 bytes, too short for production"),
    ({"PROCURA_ENV": "prod"}, "procura_env"),
])
def test_serve_refuses_to_start_without_a_strong_secret(tmp_path, settings, problem):
    port = free_port()
    result = subprocess.run([str(PROCURA), "serve", "--port", str(port)], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, env=procura_environment(tmp_path, **settings))
    assert result.returncode == 1
    assert result.stderr.startswith("procura serve: refusing to start: ")
    assert problem in result.stderr
    assert not (tmp_path / "procura.db").exists()  # refused before migrating anything
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)


@contextmanager
def served(tmp_path: Path, **settings: str) -> Iterator[str]:
    """`procura serve` on a free port, until the block ends; yields its base URL."""
    port, log = free_port(), (tmp_path / "server.log").open("wb")
    process = subprocess.Popen([str(PROCURA), "serve", "--port", str(port)], cwd=tmp_path, stdout=log,
                               stderr=subprocess.STDOUT, env=procura_environment(tmp_path, **settings))
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
                time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def raw_exchange(port: int, head: bytes, body_chunks: list[bytes]) -> tuple[int, dict]:
    """Send a request head and some body bytes (never finishing the body), then read the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except OSError:
            pass  # the server may answer and close while the body is still coming
        answer = b""
        while part := sock.recv(65536):
            answer += part
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def test_serve_with_a_strong_secret_limits_bodies_and_ignores_forwarded_for(tmp_path):
    limit = 65536
    with served(tmp_path, JWT_SECRET=STRONG_SECRET, MAX_REQUEST_BYTES=str(limit)) as base_url:
        port = int(base_url.rsplit(":", 1)[1])
        # Production: no introspection; the ordinary query is answered.
        assert httpx.post(f"{base_url}/graphql", json={"query": "{ __typename }"}).json()["data"] == {
            "__typename": "Query"}
        # A declared length over the limit is answered at once, without one byte of the body.
        head = (b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 50000000\r\n\r\n")
        assert raw_exchange(port, head, []) == (413, too_large(limit))
        # A chunked body is refused as soon as it passes the limit, though it never ends.
        head = (b"POST /graphql HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n")
        chunks = [b"2000\r\n" + b" " * 0x2000 + b"\r\n"] * 9  # 9 x 8192 bytes > 65536
        assert raw_exchange(port, head, chunks) == (413, too_large(limit))
        # A chunked body under the limit is handed to the API whole.
        query = json.dumps({"query": "{ __typename }"}).encode()
        response = httpx.post(f"{base_url}/graphql", content=iter([query[:5], query[5:]]),
                              headers={"content-type": "application/json"})
        assert "content-length" not in response.request.headers
        assert response.json()["data"] == {"__typename": "Query"}
        # X-Forwarded-For from a client of this very host does not choose its throttling key.
        response = httpx.post(f"{base_url}/graphql", json={"query": WRONG_LOGIN % "someone@example.com"},
                              headers={"x-forwarded-for": "198.51.100.77"})
        assert response.json()["data"] == {"login": {"__typename": "MutationError"}}
    with sqlite3.connect(tmp_path / "procura.db") as database:
        keys = {key for (key,) in database.execute("SELECT key FROM login_throttles")}
    assert keys == {"email:someone@example.com", "ip:127.0.0.1"}


def test_serve_in_development_needs_no_secret(tmp_path):
    with served(tmp_path, PROCURA_ENV="development") as base_url:
        page = httpx.get(f"{base_url}/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "graphiql" in page.text.lower()


# --- the body limit through the ASGI app ---------------------------------------------------------------

LIMIT = 4096


def padded(payload: dict, size: int) -> bytes:
    """`payload` as JSON, padded with insignificant spaces to exactly `size` bytes."""
    encoded = json.dumps(payload).encode()
    return encoded[:-1] + b" " * (size - len(encoded)) + b"}"


class TestBodyLimit:
    @pytest.fixture
    def settings(self, database_url):
        return make_settings(database_url, max_request_bytes=LIMIT)

    async def test_a_body_of_exactly_the_limit_is_served(self, client):
        body = padded({"query": "{ __typename }"}, LIMIT)
        response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
        assert len(body) == LIMIT and response.request.headers["content-length"] == str(LIMIT)
        assert response.status_code == 200
        assert response.json()["data"] == {"__typename": "Query"}

    async def test_a_declared_length_over_the_limit_is_refused_and_not_run(self, client, services):
        body = padded({"query": 'mutation { requestPasswordReset(input: {email: "a@example.com"}) { __typename } }'},
                      LIMIT + 1)
        response = await client.post("/graphql", content=body, headers={"content-type": "application/json"})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/json"
        assert response.json() == too_large(LIMIT)
        async with services.db.read_sessions() as session:
            assert await session.scalar(select(func.count()).select_from(LoginThrottle)) == 0
            assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0

    async def test_a_chunked_body_is_refused_as_soon_as_it_passes_the_limit(self, client):
        pulled = 0

        async def megabyte():
            nonlocal pulled
            for _ in range(1000):
                await asyncio.sleep(0)  # a point where a timeout can strike
                pulled += 1
                yield b" " * 1000

        response = await asyncio.wait_for(
            client.post("/graphql", content=megabyte(), headers={"content-type": "application/json"}), timeout=10)
        assert "content-length" not in response.request.headers
        assert response.status_code == 413
        assert response.json() == too_large(LIMIT)
        assert pulled == 5  # 5 000 bytes are over 4 096: not one chunk more was read


# --- X-Forwarded-For ----------------------------------------------------------------------------------

async def failed_login_from(app, peer: str, forwarded_for: str | None, email: str = "someone@example.com") -> set[str]:
    """The throttle keys after a failed sign-in from `peer` with this X-Forwarded-For."""
    transport = httpx.ASGITransport(app=app, client=(peer, 40000))
    headers = {"x-forwarded-for": forwarded_for} if forwarded_for else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        response = await http.post("/graphql", json={"query": WRONG_LOGIN % email}, headers=headers)
    assert response.json()["data"] == {"login": {"__typename": "MutationError"}}
    async with app.state.services.db.read_sessions() as session:
        return set((await session.scalars(select(LoginThrottle.key).where(LoginThrottle.key.like("ip:%")))).all())


async def test_forwarded_for_is_ignored_when_no_proxy_is_trusted(app):
    assert await failed_login_from(app, "203.0.113.7", "198.51.100.1") == {"ip:203.0.113.7"}


class TestTrustedProxies:
    @pytest.fixture
    def settings(self, database_url):
        return make_settings(database_url, trusted_proxies="203.0.113.0/24, 2001:db8::1")

    async def test_the_right_most_address_not_of_a_trusted_proxy_is_the_client(self, app):
        # The client claimed 192.0.2.66 itself; the trusted proxies saw 198.51.100.9, then each other.
        chain = "192.0.2.66, 198.51.100.9, 203.0.113.8"
        assert await failed_login_from(app, "203.0.113.7", chain) == {"ip:198.51.100.9"}

    async def test_forwarded_for_from_a_peer_that_is_not_trusted_is_ignored(self, app):
        assert await failed_login_from(app, "192.0.2.10", "198.51.100.9") == {"ip:192.0.2.10"}

    async def test_a_trusted_ipv6_proxy(self, app):
        assert await failed_login_from(app, "2001:db8::1", "198.51.100.44") == {"ip:198.51.100.44"}


def test_trusted_proxies_are_read_from_the_environment_and_checked(monkeypatch):
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.1, 10.1.0.0/16,fd00::/8")
    assert [str(network) for network in Settings(_env_file=None).trusted_proxies] == [
        "10.0.0.1/32", "10.1.0.0/16", "fd00::/8"]
    monkeypatch.setenv("TRUSTED_PROXIES", "10.0.0.1/8")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(_env_file=None)
    monkeypatch.setenv("TRUSTED_PROXIES", "proxy.example.com")
    with pytest.raises(ValidationError, match="trusted_proxies"):
        Settings(_env_file=None)
