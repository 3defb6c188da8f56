"""The server-side request forgery guard (resolvers/webhook_address.py): which addresses a webhook may go
to, refused as a typed error when an endpoint is created or changed in production, and refused again at
delivery when the name has come to resolve elsewhere (DNS rebinding); a delivery connects to the address
that was checked."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from models import Role
from resolvers import webhook_address
from resolvers.webhook_address import AddressRefused, parse_url, target, why_not_public
from resolvers.webhook_delivery import attempt_delivery
from tests.helpers import snapshot
from tests.ordering_helpers import create_product, place_order, shop
from tests.schema.test_api_conventions import other_app
from tests.webhook_helpers import (
    ENDPOINT_RESULT,
    SECRET_RESULT,
    Receiver,
    create_endpoint,
    deliver,
    deliveries_of,
    mutate,
    stored_deliveries,
)

NOT_PUBLIC = [
    ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"), ("0.0.0.0", "unspecified"),
    ("::", "unspecified"), ("10.0.0.5", "private"), ("172.16.3.4", "private"), ("192.168.1.1", "private"),
    ("fc00::1", "private"), ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
    ("224.0.0.1", "multicast"), ("ff02::1", "multicast"), ("240.0.0.1", "private"),
    ("255.255.255.255", "private"), ("100.64.0.1", "not globally routable"), ("192.0.2.1", "private"),
    ("::ffff:127.0.0.1", "loopback"), ("::ffff:10.0.0.1", "private"), ("2002:7f00:1::1", "loopback"),
    ("fec0::1", "site-local"),
]
NOT_ASCII = "A webhook URL is written in ASCII without spaces (punycode for international names)"
PUBLIC = ["93.184.216.34", "1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "2001:4860:4860::8888"]


@pytest.mark.parametrize(("address", "reason"), NOT_PUBLIC)
def test_non_public_addresses_are_named_for_what_they_are(address, reason):
    assert why_not_public(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address):
    assert why_not_public(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(("url", "message"), [
    ("http://93.184.216.34/hooks", "A webhook URL must use https"),
    ("https://", "A webhook URL names a host"),
    ("https://user@erp.example.com/", "A webhook URL carries no user name or password: authenticate by the signature"),
    ("https://erp.example.com:99999/", "Not a valid URL"),
    ("https://erp.example.com:0/", "Not a valid port"),
    ("https://erp.example.com/#top", "A webhook URL has no #fragment"),
    ("javascript:alert(1)", "A webhook URL starts with https://"),
    ("https://erp.example.com/\x00", NOT_ASCII),
    ("https://bücher.example/", NOT_ASCII),
])
def test_malformed_urls_are_refused(url, message):
    with pytest.raises(AddressRefused) as refused:
        parse_url(url, allow_http=False)
    assert str(refused.value) == message


async def test_every_address_a_name_resolves_to_is_checked(monkeypatch):
    async def resolve(host, port):
        return [ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.1.2.3")]
    monkeypatch.setattr(webhook_address, "resolve", resolve)
    with pytest.raises(AddressRefused) as refused:
        await target("https://erp.example.com/hooks", private_allowed=False)
    assert str(refused.value) == ("The host erp.example.com resolves to 10.1.2.3, a private address: webhooks go to "
                                  "public addresses only")


async def test_a_name_that_does_not_resolve_is_refused():
    with pytest.raises(AddressRefused) as refused:
        await target("https://nothing-here.invalid/hooks", private_allowed=False)
    assert str(refused.value) == "The host nothing-here.invalid does not resolve"


async def test_localhost_is_loopback_by_its_name():
    with pytest.raises(AddressRefused) as refused:
        await target("https://localhost:8443/hooks", private_allowed=False)
    assert "a loopback address" in str(refused.value)


# --- through the API, with production settings ----------------------------------------------------------

REFUSED_IN_PRODUCTION = [
    ("http://93.184.216.34/hooks", "A webhook URL must use https"),
    ("https://127.0.0.1/hooks", "The host 127.0.0.1 resolves to 127.0.0.1, a loopback address: webhooks go to public "
                                "addresses only"),
    ("https://localhost/hooks", "The host localhost resolves to 127.0.0.1, a loopback address: webhooks go to public "
                                "addresses only"),
    ("https://169.254.169.254/latest/meta-data", "The host 169.254.169.254 resolves to 169.254.169.254, a link-local "
                                                 "address: webhooks go to public addresses only"),
    ("https://[::1]:8443/hooks", "The host ::1 resolves to ::1, a loopback address: webhooks go to public addresses "
                                 "only"),
    ("https://[::ffff:10.0.0.1]/hooks", "The host ::ffff:10.0.0.1 resolves to ::ffff:10.0.0.1, a private address: "
                                        "webhooks go to public addresses only"),
    ("https://10.20.30.40/hooks", "The host 10.20.30.40 resolves to 10.20.30.40, a private address: webhooks go to "
                                  "public addresses only"),
]


async def test_production_refuses_non_public_and_plain_http_endpoints_and_writes_nothing(database_url):
    async with other_app(database_url, procura_env="production") as (_, prod):
        admin = (await prod.tenant([Role.ADMIN]))[Role.ADMIN]
        accepted = await create_endpoint(prod, admin, "https://93.184.216.34/hooks")
        endpoint = accepted["webhookEndpoint"]["id"]
        before = await snapshot(prod.services)
        for url, message in REFUSED_IN_PRODUCTION:
            if url.startswith("https://localhost"):
                message = message.replace("127.0.0.1", str((await webhook_address.resolve("localhost", 443))[0]))
            created = await mutate(prod, "createWebhookEndpoint", "CreateWebhookEndpointInput", SECRET_RESULT,
                                   {"url": url, "events": ["ORDER_APPROVED"]}, admin)
            assert (created["code"], created["message"], created["field"]) == ("URL_NOT_ALLOWED", message, "url")
            changed = await mutate(prod, "updateWebhookEndpoint", "UpdateWebhookEndpointInput", ENDPOINT_RESULT,
                                   {"id": endpoint, "url": url}, admin)
            assert (changed["code"], changed["message"], changed["field"]) == ("URL_NOT_ALLOWED", message, "url")
        assert await snapshot(prod.services) == before


async def test_production_may_be_told_to_allow_private_networks(database_url):
    async with other_app(database_url, procura_env="production", webhook_allow_private_networks=True) as (_, prod):
        admin = (await prod.tenant([Role.ADMIN]))[Role.ADMIN]
        created = await create_endpoint(prod, admin, "http://10.0.0.5:8080/hooks")
        assert created["webhookEndpoint"]["url"] == "http://10.0.0.5:8080/hooks"


async def test_development_and_tests_allow_local_receivers(api):
    admin = (await api.tenant([Role.ADMIN]))[Role.ADMIN]
    created = await create_endpoint(api, admin, "http://127.0.0.1:9/hooks")
    assert created["webhookEndpoint"]["url"] == "http://127.0.0.1:9/hooks"


# --- at delivery --------------------------------------------------------------------------------------------

@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


async def test_a_delivery_connects_to_the_address_that_was_checked(api, services, receiver, monkeypatch):
    """A name resolved once, checked, and connected to by address: the receiver sees the name as Host."""
    port = int(receiver.url().rsplit(":", 1)[1].split("/")[0])
    lookups = []

    async def resolve(host, port_):
        lookups.append(host)
        return [ipaddress.ip_address("127.0.0.1")] if host == "erp.procura-test.example" else []
    monkeypatch.setattr(webhook_address, "resolve", resolve)
    tenant = await shop(api)
    created = await create_endpoint(api, tenant[Role.ADMIN], f"http://erp.procura-test.example:{port}/hooks",
                                    ["ORDER_APPROVED"])
    receiver.secrets.append(created["secret"])
    await place_order(api, tenant[Role.CUSTOMER], [(await create_product(services), 1)])

    await deliver(services)

    [request] = receiver.received
    assert request.headers["host"] == f"erp.procura-test.example:{port}"
    assert request.verified_by == receiver.secrets
    assert lookups == ["erp.procura-test.example"]  # once, for the attempt: httpx was given the address


async def test_a_name_that_resolves_to_a_private_address_at_delivery_is_not_called(
    api, services, receiver, monkeypatch,
):
    """DNS rebinding: public when the endpoint was saved, loopback when the delivery is made."""
    port = int(receiver.url().rsplit(":", 1)[1].split("/")[0])
    answers = {"erp.example.com": "93.184.216.34"}

    async def resolve(host, port_):
        return [ipaddress.ip_address(answers[host])]
    monkeypatch.setattr(webhook_address, "resolve", resolve)
    tenant = await shop(api)
    await create_endpoint(api, tenant[Role.ADMIN], f"https://erp.example.com:{port}/hooks", ["ORDER_APPROVED"])
    await place_order(api, tenant[Role.CUSTOMER], [(await create_product(services), 1)])
    answers["erp.example.com"] = "127.0.0.1"
    services.settings.webhook_allow_private_networks = False  # production's rule, in this test's app

    await deliver(services)

    assert receiver.received == []
    [delivery] = await stored_deliveries(services)
    [logged] = await deliveries_of(api, tenant[Role.ADMIN], _gid(delivery.endpoint_id))
    assert (logged["status"], logged["attemptCount"], logged["lastResponseCode"], logged["lastError"]) == (
        "PENDING", 1, None,
        "The host erp.example.com resolves to 127.0.0.1, a loopback address: webhooks go to public addresses only")
    assert await attempt_delivery(services, delivery.id, 1) == "skipped"  # that attempt is recorded


def _gid(pk: int) -> str:
    from schema.relay import to_global_id
    return to_global_id("WebhookEndpoint", pk)


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback to listen on")
async def test_a_delivery_reaches_an_ipv6_address(api, services):
    receiver = Receiver(host="::1").start()
    try:
        tenant = await shop(api)
        created = await create_endpoint(api, tenant[Role.ADMIN], receiver.url(), ["ORDER_APPROVED"])
        receiver.secrets.append(created["secret"])
        await place_order(api, tenant[Role.CUSTOMER], [(await create_product(services), 1)])
        await deliver(services)
    finally:
        receiver.stop()
    [request] = receiver.received
    assert request.headers["host"] == receiver.url().removeprefix("http://").removesuffix("/hooks")
    assert request.verified_by == receiver.secrets
