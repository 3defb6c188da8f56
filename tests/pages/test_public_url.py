"""Links in emails start with PUBLIC_URL; unset, with the address the server is started on
(127.0.0.1 for 0.0.0.0). `make run` sets it from HOST and PORT."""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
from email import message_from_bytes
from email import policy as email_policy
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from models import Role
from settings import Settings
from tests.conftest import test_settings as make_settings
from tests.factories import create_company, create_member

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REQUEST_RESET = """mutation($email: String!) { requestPasswordReset(input: {email: $email}) {
  __typename ... on AcceptedPayload { message } } }"""


@pytest.mark.parametrize(("environment", "public_url"), [
    ({}, "http://127.0.0.1:8000"),
    ({"PORT": "9000"}, "http://127.0.0.1:9000"),
    ({"HOST": "0.0.0.0", "PORT": "9001"}, "http://127.0.0.1:9001"),
    ({"HOST": "procura.local", "PORT": "8080"}, "http://procura.local:8080"),
    ({"HOST": "::1", "PORT": "9002"}, "http://[::1]:9002"),
    ({"HOST": "0.0.0.0", "PORT": "9003", "PUBLIC_URL": "https://procura.example"}, "https://procura.example"),
])
def test_public_url_defaults_to_the_served_address(monkeypatch, environment, public_url):
    for name in ("HOST", "PORT", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    for name, value in environment.items():
        monkeypatch.setenv(name, value)

    assert Settings(_env_file=None).public_url == public_url


@pytest.mark.parametrize(("arguments", "public_url"), [
    (["PORT=9000"], "http://127.0.0.1:9000"),
    (["HOST=0.0.0.0", "PORT=9001"], "http://127.0.0.1:9001"),
    (["PORT=9002", "PUBLIC_URL=https://procura.example"], "https://procura.example"),
])
def test_make_run_passes_public_url_from_host_and_port(arguments, public_url):
    plan = subprocess.run(["make", "-n", "run", *arguments], cwd=PROJECT_ROOT, capture_output=True, text=True,
                          timeout=60, check=True, env={"PATH": "/usr/bin:/bin"})
    serve = [line for line in plan.stdout.splitlines() if " serve " in line]
    demo = [line for line in plan.stdout.splitlines() if line.endswith("procura demo-data")]
    assert len(serve) == 1 and f"PUBLIC_URL='{public_url}' " in serve[0], plan.stdout
    assert len(demo) == 1 and f"PUBLIC_URL='{public_url}' " in demo[0], plan.stdout


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def smtp_server():
    controller = Controller(Inbox(), hostname="127.0.0.1", port=_free_port())
    controller.start()
    yield controller
    controller.stop()


async def _mailed_reset_link(api, services, inbox: Inbox) -> str:
    company_id, group_id = await create_company(services)
    await create_member(services, company_id, group_id, Role.CUSTOMER, email="forgetful@example.com")
    answer = await api.query(REQUEST_RESET, {"email": "forgetful@example.com"})
    assert answer["requestPasswordReset"]["__typename"] == "AcceptedPayload"
    await asyncio.wait_for(services.mailer.drain(), timeout=10)
    for _ in range(100):
        if inbox.envelopes:
            break
        await asyncio.sleep(0.02)
    [envelope] = inbox.envelopes
    body = message_from_bytes(envelope.content, policy=email_policy.default).get_content()
    [link] = re.findall(r"\S+/reset-password\?token=[A-Za-z0-9_-]+", body)
    return link


class TestAnExplicitPublicUrl:
    @pytest.fixture
    def settings(self, database_url, smtp_server):
        smtp_server.handler.envelopes.clear()
        return make_settings(database_url, smtp_url=f"smtp://127.0.0.1:{smtp_server.port}",
                             public_url="http://127.0.0.1:9123/")

    async def test_links_start_with_it(self, api, services, smtp_server):
        link = await _mailed_reset_link(api, services, smtp_server.handler)

        assert re.fullmatch(r"http://127\.0\.0\.1:9123/reset-password\?token=[A-Za-z0-9_-]{43}", link), link


class TestNoPublicUrl:
    @pytest.fixture
    def settings(self, database_url, smtp_server):
        smtp_server.handler.envelopes.clear()
        return make_settings(database_url, smtp_url=f"smtp://127.0.0.1:{smtp_server.port}", public_url="",
                             host="0.0.0.0", port=9124)

    async def test_links_point_at_the_served_port(self, api, services, smtp_server):
        link = await _mailed_reset_link(api, services, smtp_server.handler)

        assert re.fullmatch(r"http://127\.0\.0\.1:9124/reset-password\?token=[A-Za-z0-9_-]{43}", link), link
