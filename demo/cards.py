"""The demo's company cards: the customer's and the manager's, both with the PIN 4821 (README "Company cards"); the
manager's blocked by its holder."""

from __future__ import annotations

from policies.actor import Actor
from resolvers import card as cards
from resolvers.context import Services, UseCaseContext

DEMO_PIN = "4821"
OTHER_PIN = "5930"  # where a card's last four digits happen to be the demo PIN


async def load_demo_cards(services: Services, company_id: int, members: dict, operator: Actor) -> None:
    from models import Role

    async def as_(actor: Actor, use_case):
        async with services.db.write_sessions() as session:
            await session.begin()
            result = await use_case(UseCaseContext(services=services, session=session, actor=actor))
            await session.commit()
        return result

    admin = members[Role.ADMIN]
    for role, limit in ((Role.CUSTOMER, 5_000_00), (Role.MANAGER, 10_000_00)):
        holder = members[role]
        ordered = await as_(admin, lambda ctx, h=holder, m=limit: cards.order_card(
            ctx, holder_id=h.membership_id, monthly_limit_minor=m))
        card_id = ordered.view.card.id
        pin = OTHER_PIN if ordered.number.endswith(DEMO_PIN) else DEMO_PIN
        await as_(holder, lambda ctx, c=card_id, p=pin: cards.set_card_pin(ctx, card_id=c, pin=p))
        if role == Role.MANAGER:
            await as_(holder, lambda ctx, c=card_id: cards.block_card(ctx, card_id=c, note="Left it at a cafe"))
