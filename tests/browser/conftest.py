"""Browser tests: real server in a subprocess, Debian Chromium driven by Playwright.

They need /usr/bin/chromium and the `playwright` package, so the default `pytest` run (testpaths=["tests"])
does not collect them. They are collected when PROCURA_BROWSER_TEST=1 is set (as `make browser-test` does)
or when this directory (or a file in it) is named explicitly on the command line: `pytest tests/browser`.
Once collected they never skip: a missing Chromium or Playwright is a failure.

The server delivers mail to a real SMTP server (aiosmtpd) run by the tests, so a test can take a link
from a message and open it. PUBLIC_URL is not set: links must point at the port the server was started on.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROJECT_ROOT = HERE.parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def _explicitly_requested(config: pytest.Config) -> bool:
    invocation_dir = Path(config.invocation_params.dir)
    for arg in config.invocation_params.args:
        if arg.startswith("-"):
            continue
        path = (invocation_dir / arg.split("::", 1)[0]).resolve()
        if path == HERE or HERE in path.parents:
            return True
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config):
    if collection_path.parent != HERE or not collection_path.name.startswith("test_"):
        return None
    if os.environ.get("PROCURA_BROWSER_TEST") == "1" or _explicitly_requested(config):
        return None
    return True


@dataclass
class Server:
    base_url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


@dataclass
class Mailbox:
    """What the server sent through SMTP (an aiosmtpd handler; it runs in the controller's thread)."""

    port: int = 0
    envelopes: list = field(default_factory=list)

    async def handle_DATA(self, server, session, envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def wait_for(self, address: str, count: int = 1, timeout: float = 15) -> list[EmailMessage]:
        deadline = time.monotonic() + timeout
        while True:
            messages = [message_from_bytes(e.content, policy=email_policy.default)
                        for e in list(self.envelopes) if e.rcpt_tos == [address]]
            if len(messages) >= count or time.monotonic() > deadline:
                assert len(messages) == count, f"{len(messages)} messages to {address}, expected {count}"
                return messages
            time.sleep(0.05)

    def link(self, address: str, path: str) -> str:
        """The one link to `path` in the one message sent to `address`."""
        [message] = self.wait_for(address)
        links = re.findall(rf"\S+/{re.escape(path)}\?token=\S+", message.get_content())
        assert len(links) == 1, message.get_content()
        return links[0]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _procura_command() -> str:
    candidate = Path(sys.executable).with_name("procura")
    if candidate.exists():
        return str(candidate)
    venv_candidate = PROJECT_ROOT / ".venv" / "bin" / "procura"
    if venv_candidate.exists():
        return str(venv_candidate)
    pytest.fail("the `procura` command is not installed (run `make test` or `pip install -e .` first)")


@pytest.fixture(scope="session")
def mailbox() -> Iterator[Mailbox]:
    from aiosmtpd.controller import Controller

    box = Mailbox(port=_free_port())
    controller = Controller(box, hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@pytest.fixture(scope="session")
def server(mailbox: Mailbox) -> Iterator[Server]:
    """`procura db upgrade`, `procura demo-data`, then `procura serve` on a free port of 127.0.0.1."""
    workdir = Path(tempfile.mkdtemp(prefix="procura-browser-"))
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'procura.db'}",
        "PROCURA_ENV": "development",  # GraphiQL is only served outside production
        "SMTP_URL": f"smtp://127.0.0.1:{mailbox.port}",
    }
    for inherited in ("PUBLIC_URL", "HOST", "PORT"):  # links must follow `--port` alone
        env.pop(inherited, None)
    procura = _procura_command()
    for step in (["db", "upgrade"], ["demo-data"]):
        done = subprocess.run([procura, *step], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                              timeout=120, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            pytest.fail(f"`procura {' '.join(step)}` failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")

    port = _free_port()
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [procura, "serve", "--host", "127.0.0.1", "--port", str(port), "--no-migrate"],
            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )
    running = Server(base_url=f"http://127.0.0.1:{port}", log_path=log_path)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"`procura serve` exited with {process.returncode}:\n{running.log()}")
            try:
                with urllib.request.urlopen(f"{running.base_url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`procura serve` did not answer /healthz within 30 s:\n{running.log()}")
            time.sleep(0.2)
        yield running
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@pytest.fixture(scope="session")
def browser_context() -> Iterator:
    """Debian's Chromium, headless, with a fresh profile; never Playwright's own download."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as error:
        pytest.fail(f"Python Playwright is missing ({error}): `make browser-test` installs it")
    profile = tempfile.mkdtemp(prefix="procura-chromium-")
    with sync_playwright() as playwright:
        # A persistent context is how Playwright takes a --user-data-dir of our choosing.
        context = playwright.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 900}, service_workers="block",
        )
        try:
            yield context
        finally:
            context.close()
