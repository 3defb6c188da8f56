"""models.approval.applies_to and match_reason: which rules an order meets (pure, no database)."""

from __future__ import annotations

import pytest

from models.approval import ApprovalRule, OrderFacts, RuleCondition, applies_to, approver_keys, match_reason


def facts(**overrides) -> OrderFacts:
    values = dict(gross_minor=500_00, buyer_role="customer", group_id=7, cost_centre_id=3,
                  categories=frozenset({"Office", "Food"}), over_budgets=(), over_purchase_limit=None)
    values.update(overrides)
    return OrderFacts(**values)


def rule(condition: RuleCondition, **overrides) -> ApprovalRule:
    values = dict(name="Rule", condition=condition.value, threshold_minor=None, cost_centre_id=None, category=None,
                  applies_to_roles=[], applies_to_group_ids=[], active=True)
    values.update(overrides)
    return ApprovalRule(**values)


def test_empty_role_and_group_lists_apply_to_everyone():
    r = rule(RuleCondition.TOTAL_ABOVE, threshold_minor=0)
    for role in ("customer", "manager", "admin", "order_approver"):
        assert applies_to(r, facts(buyer_role=role, group_id=99))


def test_roles_restrict_whom_a_rule_applies_to():
    r = rule(RuleCondition.TOTAL_ABOVE, threshold_minor=0, applies_to_roles=["customer", "manager"])
    assert applies_to(r, facts(buyer_role="customer"))
    assert applies_to(r, facts(buyer_role="manager"))
    assert not applies_to(r, facts(buyer_role="admin"))
    assert match_reason(r, facts(buyer_role="admin")) is None


def test_groups_restrict_whom_a_rule_applies_to():
    r = rule(RuleCondition.TOTAL_ABOVE, threshold_minor=0, applies_to_group_ids=[7, 8])
    assert applies_to(r, facts(group_id=8))
    assert not applies_to(r, facts(group_id=9))
    assert match_reason(r, facts(group_id=9)) is None


def test_roles_and_groups_must_both_hold():
    r = rule(RuleCondition.TOTAL_ABOVE, threshold_minor=0, applies_to_roles=["customer"], applies_to_group_ids=[7])
    assert applies_to(r, facts(buyer_role="customer", group_id=7))
    assert not applies_to(r, facts(buyer_role="manager", group_id=7))
    assert not applies_to(r, facts(buyer_role="customer", group_id=8))


@pytest.mark.parametrize("gross, matches", [(999_99, False), (1000_00, False), (1000_01, True), (5000_00, True)])
def test_total_above_matches_strictly_above_the_threshold(gross, matches):
    reason = match_reason(rule(RuleCondition.TOTAL_ABOVE, threshold_minor=1000_00), facts(gross_minor=gross))
    assert reason == ("Order total above the rule's amount" if matches else None)


def test_total_above_zero_matches_any_order_with_a_total():
    assert match_reason(rule(RuleCondition.TOTAL_ABOVE, threshold_minor=0), facts(gross_minor=1)) is not None
    assert match_reason(rule(RuleCondition.TOTAL_ABOVE, threshold_minor=0), facts(gross_minor=0)) is None


def test_over_budget_names_the_budgets_exceeded():
    r = rule(RuleCondition.OVER_BUDGET)
    assert match_reason(r, facts()) is None
    assert match_reason(r, facts(over_budgets=("Q1 office", "Team"))) == "Over budget: Q1 office, Team"


def test_over_purchase_limit_gives_the_limit_reason():
    r = rule(RuleCondition.OVER_PURCHASE_LIMIT)
    assert match_reason(r, facts()) is None
    assert match_reason(r, facts(over_purchase_limit="Above the purchase limit per order (100.00)")) == \
        "Above the purchase limit per order (100.00)"


def test_cost_centre_matches_only_its_cost_centre():
    r = rule(RuleCondition.COST_CENTRE, cost_centre_id=3)
    assert match_reason(r, facts(cost_centre_id=3)) == "Booked to the rule's cost centre"
    assert match_reason(r, facts(cost_centre_id=4)) is None
    assert match_reason(r, facts(cost_centre_id=None)) is None


def test_product_category_matches_when_any_line_has_it():
    r = rule(RuleCondition.PRODUCT_CATEGORY, category="Food")
    assert match_reason(r, facts()) == "Contains products of the category Food"
    assert match_reason(r, facts(categories=frozenset({"Office"}))) is None
    assert match_reason(r, facts(categories=frozenset())) is None


def test_an_inactive_rule_never_matches():
    r = rule(RuleCondition.TOTAL_ABOVE, threshold_minor=0, active=False)
    assert match_reason(r, facts()) is None


def test_conditions_do_not_leak_into_each_other():
    # A TOTAL_ABOVE rule is not met by being over budget, and an OVER_BUDGET rule not by the total.
    assert match_reason(rule(RuleCondition.TOTAL_ABOVE, threshold_minor=10_000_00),
                        facts(over_budgets=("B",), over_purchase_limit="x")) is None
    assert match_reason(rule(RuleCondition.OVER_BUDGET), facts(gross_minor=10**9, over_purchase_limit="x")) is None


def test_approver_keys_are_space_delimited_for_exact_matching():
    keys = approver_keys(["admin", "order_approver"], [12, 3])
    assert keys == " role:admin role:order_approver member:12 member:3 "
    assert " member:1 " not in keys  # member 1 does not match member 12
    assert approver_keys([], []) == "  "
