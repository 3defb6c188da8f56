"""Demo spend controls: cost centres, budgets, purchase limits, credit, an approval rule."""

from __future__ import annotations

from datetime import date

from models import (
    ApprovalRule,
    ApprovalTier,
    Budget,
    CostCentre,
    CreditAccount,
    InvoiceApplication,
    MemberCostCentre,
    Membership,
    Role,
)
from models.base import utcnow
from resolvers.context import Services


async def load_spend_controls(services: Services, session, company, members: dict, groups: dict) -> None:
    main = CostCentre(company_id=company.id, name="Nordlys Omsorg, head office", code="MAIN", street=company.street,
                      postal_code=company.postal_code, city=company.city)
    care = CostCentre(company_id=company.id, name="Home care", code="CARE", street="Trondheimsveien 100",
                      postal_code="0565", city="Oslo")
    session.add_all([main, care])
    await session.flush()
    for role, actor in members.items():
        centres = [care, main] if role is Role.CUSTOMER else [main]
        session.add_all(MemberCostCentre(membership_id=actor.membership_id, cost_centre_id=c.id, is_default=i == 0)
                        for i, c in enumerate(centres))
    session.add(CreditAccount(company_id=company.id, credit_limit_minor=services.settings.default_credit_limit))
    session.add(InvoiceApplication(company_id=company.id, status="approved", message="Monthly invoice, please",
                                   decision_note="Approved", decided_at=utcnow()))
    year = utcnow().year
    session.add_all([
        Budget(company_id=company.id, name="Home care north, monthly", owner_type="group",
               owner_id=groups["Home care north"].id, period="monthly", amount_minor=25_000_00,
               action="require_approval"),
        Budget(company_id=company.id, name="Home care, yearly", owner_type="cost_centre", owner_id=care.id,
               period="yearly", amount_minor=250_000_00, action="block"),
        Budget(company_id=company.id, name="Kari's personal budget", owner_type="user",
               owner_id=members[Role.CUSTOMER].membership_id, period="fixed", starts_on=date(year, 1, 1),
               ends_on=date(year, 12, 31), amount_minor=5_000_00, action="warn"),
    ])
    buyer = await session.get(Membership, members[Role.CUSTOMER].membership_id)
    buyer.order_limit_minor, buyer.monthly_limit_minor = 10_000_00, 40_000_00
    rule = ApprovalRule(company_id=company.id, name="Orders above 2 000 NOK", condition="total_above",
                        threshold_minor=2_000_00, applies_to_roles=[], applies_to_group_ids=[])
    rule.tiers = [ApprovalTier(level=1, roles=["order_approver"], membership_ids=[]),
                  ApprovalTier(level=2, roles=["admin"], membership_ids=[])]
    session.add(rule)
    await session.flush()
