"""Two administrators order a card at once when the account has one place left: exactly one gets it (the company
row's lock on PostgreSQL, the write lock on SQLite), on both databases."""

from __future__ import annotations

import asyncio

from models import Role
from models.card import CardStatus
from tests.schema.test_cards import call, card_rows, code_of, order


async def test_two_concurrent_orders_for_the_last_place_give_exactly_one_card(api, services):
    tenant = await api.tenant([Role.ADMIN, Role.CUSTOMER])
    admin, customer = tenant[Role.ADMIN], tenant[Role.CUSTOMER]
    second_admin = await api.tenant([Role.ADMIN])  # another account's cards do not count
    for _ in range(services.settings.max_live_cards - 1):
        await order(services, admin, customer)

    results = await asyncio.gather(*(call(api, "orderCard", {"holderId": customer.gid, "monthlyLimit": "100"},
                                          admin.token) for _ in range(2)))

    assert sorted(code_of(result) for result in results) == ["CARD_LIMIT_REACHED", "ok"]
    live = [card for card in await card_rows(services) if card.company_id == tenant.company_id
            and card.status != CardStatus.CANCELLED.value]
    assert len(live) == services.settings.max_live_cards
    assert code_of(await call(api, "orderCard", {"holderId": second_admin[Role.ADMIN].gid, "monthlyLimit": "100"},
                              second_admin[Role.ADMIN].token)) == "ok"
