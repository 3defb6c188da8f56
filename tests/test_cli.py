"""The `procura` command, run as a user runs it: the installed console script in a fresh process,
configured through the environment, against a temporary SQLite database."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
from sqlalchemy import func, select

from app import create_app
from models import ApiClientSecret, Company, Group, Membership, User
from schema import build_schema
from settings import Settings
from tests.conftest import test_settings as make_test_settings
from tests.factories import Api

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROCURA = Path(sys.executable).parent / "procura"
SIGN_IN = re.compile(r"^\s+(\w+)\s+(\S+@\S+)\s+password: (\S+)\s*$", re.MULTILINE)


def procura(*args: str, cwd: Path, database_url: str | None = None, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PROCURA_ENV", "TEST_DATABASE_URL"}}
    environment.update(
        PYTHONPATH=str(PROJECT_ROOT),  # this checkout's code, whatever the venv was installed from
        ARGON2_TIME_COST="1", ARGON2_MEMORY_COST="1024", ARGON2_PARALLELISM="1",
        **({"DATABASE_URL": database_url} if database_url else {}), **env,
    )
    # Run outside the project so that no developer's .env file leaks into the test.
    return subprocess.run([str(PROCURA), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=180)


def migrated(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'var' / 'procura.db'}"
    result = procura("db", "upgrade", cwd=tmp_path, database_url=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "Database at head."
    return url


def test_export_schema_writes_the_sdl(tmp_path):
    output = tmp_path / "out" / "schema.graphql"
    output.parent.mkdir()
    result = procura("export-schema", "--output", str(output), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Schema written to {output}."
    assert output.read_text() == build_schema(Settings(_env_file=None)).as_str() + "\n"


async def _counts(database_url: str) -> dict[str, int]:
    application = create_app(make_test_settings(database_url))
    try:
        async with application.state.services.db.read_sessions() as session:
            return {model.__name__: await session.scalar(select(func.count()).select_from(model))
                    for model in (Company, Group, User, Membership)}
    finally:
        await application.state.services.db.dispose()


async def test_demo_data_is_refused_in_production(tmp_path):
    url = migrated(tmp_path)
    result = procura("demo-data", cwd=tmp_path, database_url=url, JWT_SECRET="s" * 40)
    assert result.returncode == 1
    assert "refusing to load demo accounts" in result.stderr
    assert (await _counts(url))["User"] == 0


async def test_demo_data_is_loaded_once_and_its_sign_ins_work(tmp_path):
    url = migrated(tmp_path)
    first = procura("demo-data", cwd=tmp_path, database_url=url, PROCURA_ENV="development")
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("Demo data loaded.")
    sign_ins = SIGN_IN.findall(first.stdout)
    assert {"admin", "manager", "customer", "order_approver"} <= {role for role, _, _ in sign_ins}
    counts = await _counts(url)
    members = [sign_in for sign_in in sign_ins if sign_in[0] != "operator"]
    assert counts["Company"] >= 1 and counts["User"] >= len(sign_ins) and counts["Membership"] >= len(members)

    second = procura("demo-data", cwd=tmp_path, database_url=url, PROCURA_ENV="development")
    assert second.returncode == 0, second.stderr
    assert second.stdout.startswith("Demo data already present.")
    assert SIGN_IN.findall(second.stdout) == sign_ins
    assert await _counts(url) == counts

    application = create_app(make_test_settings(url))
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
            api = Api(http, application.state.services)
            for role, email, password in sign_ins:
                login = await api.login(email, password)
                assert login["__typename"] == "AuthPayload", (email, login)
                me = (await api.query("{ me { email isOperator user { role } company { name } } }",
                                      token=login["accessToken"]))["me"]
                assert me["email"] == email
                if role == "operator":  # the platform's own staff, outside every company
                    assert me["isOperator"] is True and me["company"] is None and me["user"] is None
                else:
                    assert me["user"]["role"] == role.upper() and me["company"]["name"]
    finally:
        await application.state.services.db.dispose()


DEMO_SECRET = re.compile(r"^\s+secret: (prc_\S+)\s*$", re.MULTILINE)


async def test_demo_data_prints_a_working_api_client_secret_every_time(tmp_path):
    url = migrated(tmp_path)
    first = procura("demo-data", cwd=tmp_path, database_url=url, PROCURA_ENV="development")
    assert first.returncode == 0, first.stderr
    (secret,) = DEMO_SECRET.findall(first.stdout)
    second = procura("demo-data", cwd=tmp_path, database_url=url, PROCURA_ENV="development")
    assert DEMO_SECRET.findall(second.stdout) == [secret] and "curl -H 'Authorization: Bearer" in second.stdout

    application = create_app(make_test_settings(url))
    try:
        async with application.state.services.db.read_sessions() as session:
            stored = list(await session.scalars(select(ApiClientSecret.secret_hash)))
        assert stored == [hashlib.sha256(secret.encode()).hexdigest()]  # one client, its secret hashed
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://demo") as http:
            api = Api(http, application.state.services)
            orders = (await api.query("{ orders(first: 50) { edges { node { number } } } }", token=secret))["orders"]
            assert len(orders["edges"]) >= 5  # the whole demo company's orders
            # Revoked in the demo: the next run says so instead of printing a secret that opens nothing.
            admin = await api.login("admin@demo.procura.test", "demo-password-1")
            (client_id,) = [edge["node"]["id"] for edge in (await api.query(
                "{ apiClients { edges { node { id } } } }", token=admin["accessToken"]))["apiClients"]["edges"]]
            revoke = await api.mutate("revokeApiClient", "ApiClientIdInput", "__typename", {"id": client_id},
                                      admin["accessToken"])
            assert revoke["data"]["revokeApiClient"]["__typename"] == "ApiClientPayload"
    finally:
        await application.state.services.db.dispose()
    third = procura("demo-data", cwd=tmp_path, database_url=url, PROCURA_ENV="development")
    assert "revoked or rotated in this database" in third.stdout and "curl" not in third.stdout


async def test_create_operator(tmp_path):
    url = migrated(tmp_path)
    created = procura("create-operator", "--email", "Ops@Example.com", "--password", "operator-password-1",
                      cwd=tmp_path, database_url=url)
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "Operator ops@example.com ready."

    again = procura("create-operator", "--email", "ops@example.com", "--password", "operator-password-1",
                    cwd=tmp_path, database_url=url)
    assert again.returncode == 1
    assert again.stderr.strip() == "EMAIL_TAKEN: This person is already an operator"

    weak = procura("create-operator", "--email", "weak@example.com", "--password", "short", cwd=tmp_path,
                   database_url=url)
    assert weak.returncode == 1
    assert weak.stderr.strip().startswith("WEAK_PASSWORD:")

    # The password may come from the environment instead of the command line.
    from_env = procura("create-operator", "--email", "second.ops@example.com", cwd=tmp_path, database_url=url,
                       PROCURA_OPERATOR_PASSWORD="operator-password-2")
    assert from_env.returncode == 0, from_env.stderr

    application = create_app(make_test_settings(url))
    try:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://ops") as http:
            api = Api(http, application.state.services)
            operators = (("ops@example.com", "operator-password-1"), ("second.ops@example.com", "operator-password-2"))
            for email, password in operators:
                login = await api.login(email, password)
                assert login["__typename"] == "AuthPayload" and login["companyId"] is None, login
                me = await api.query("{ me { email isOperator company { id } user { id } } }",
                                     token=login["accessToken"])
                assert me["me"] == {"email": email, "isOperator": True, "company": None, "user": None}
            assert (await api.login("weak@example.com", "short"))["__typename"] == "MutationError"
        async with application.state.services.db.read_sessions() as session:
            operators = (await session.scalars(select(User.email).where(User.is_operator).order_by(User.id))).all()
        assert operators == ["ops@example.com", "second.ops@example.com"]
    finally:
        await application.state.services.db.dispose()
