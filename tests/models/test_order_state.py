"""The order state machine (no I/O): every allowed and every forbidden transition."""

from __future__ import annotations

import itertools

import pytest

from models.errors import DomainError, ErrorCode
from models.order_state import OPEN_STATUSES, TRANSITIONS, OrderStatus, Transition, next_status

S, T = OrderStatus, Transition

ALLOWED: dict[tuple[OrderStatus, Transition], OrderStatus] = {
    (S.DRAFT, T.SUBMIT): S.SUBMITTED,
    (S.SUBMITTED, T.REQUIRE_APPROVAL): S.PENDING_APPROVAL,
    (S.SUBMITTED, T.APPROVE): S.APPROVED,
    (S.PENDING_APPROVAL, T.APPROVE): S.APPROVED,
    (S.SUBMITTED, T.REJECT): S.REJECTED,
    (S.PENDING_APPROVAL, T.REJECT): S.REJECTED,
    (S.SUBMITTED, T.CANCEL): S.CANCELLED,
    (S.PENDING_APPROVAL, T.CANCEL): S.CANCELLED,
    (S.APPROVED, T.FULFIL): S.FULFILLED,
}
FORBIDDEN = [pair for pair in itertools.product(OrderStatus, Transition) if pair not in ALLOWED]


@pytest.mark.parametrize("current, step", list(ALLOWED), ids=lambda v: v.value)
def test_allowed_transitions_lead_to_their_target(current, step):
    assert next_status(current, step) is ALLOWED[(current, step)]


@pytest.mark.parametrize("current, step", FORBIDDEN, ids=lambda v: v.value)
def test_every_other_transition_is_invalid(current, step):
    with pytest.raises(DomainError) as caught:
        next_status(current, step)
    assert caught.value.code is ErrorCode.INVALID_TRANSITION
    assert caught.value.field == "id"
    assert caught.value.message.startswith(f"An order that is {current.value.replace('_', ' ')} cannot be ")


def test_the_matrix_covers_every_pair():
    assert len(ALLOWED) + len(FORBIDDEN) == len(OrderStatus) * len(Transition) == 42
    assert len(FORBIDDEN) == 33


def test_the_table_is_exactly_the_expected_one():
    table = {(source, step): target for step, (sources, target) in TRANSITIONS.items() for source in sources}
    assert table == ALLOWED


def test_a_confirmed_purchase_cannot_be_cancelled():
    with pytest.raises(DomainError) as caught:
        next_status(S.APPROVED, T.CANCEL)
    assert caught.value.message == "An order that is approved cannot be cancelled"


def test_messages_name_the_step_in_plain_words():
    messages = {}
    for step in Transition:
        with pytest.raises(DomainError) as caught:
            next_status(S.CANCELLED, step)
        messages[step] = caught.value.message
    assert messages == {
        T.SUBMIT: "An order that is cancelled cannot be submitted",
        T.REQUIRE_APPROVAL: "An order that is cancelled cannot be sent for approval",
        T.APPROVE: "An order that is cancelled cannot be approved",
        T.REJECT: "An order that is cancelled cannot be rejected",
        T.CANCEL: "An order that is cancelled cannot be cancelled",
        T.FULFIL: "An order that is cancelled cannot be fulfilled",
    }


@pytest.mark.parametrize("status", [S.FULFILLED, S.REJECTED, S.CANCELLED])
def test_final_statuses_have_no_way_out(status):
    for step in Transition:
        with pytest.raises(DomainError):
            next_status(status, step)


def test_open_statuses_are_the_submitted_and_not_ended_ones():
    assert {S.SUBMITTED, S.PENDING_APPROVAL, S.APPROVED, S.FULFILLED} == OPEN_STATUSES
