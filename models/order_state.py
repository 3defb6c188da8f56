"""The order lifecycle as an explicit state machine (no I/O).

    DRAFT -> SUBMITTED -> (PENDING_APPROVAL) -> APPROVED -> FULFILLED
    SUBMITTED | PENDING_APPROVAL -> REJECTED | CANCELLED

A buyer may cancel only before approval: a confirmed purchase is final.
"""

from __future__ import annotations

from enum import StrEnum

from models.errors import DomainError, ErrorCode


class OrderStatus(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    PENDING_APPROVAL = "pending_approval"
    APPROVED = "approved"
    FULFILLED = "fulfilled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Transition(StrEnum):
    SUBMIT = "submit"
    REQUIRE_APPROVAL = "require_approval"
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    FULFIL = "fulfil"


class OrderEventKind(StrEnum):
    """What one entry of an order's timeline records: a lifecycle step (stored as its Transition's
    value), or one of the events that do not change the status."""

    SUBMIT = "submit"
    REQUIRE_APPROVAL = "require_approval"
    APPROVE = "approve"
    REJECT = "reject"
    CANCEL = "cancel"
    FULFIL = "fulfil"
    APPROVE_STEP = "approve_step"
    RETURN = "return"
    WARNING = "warning"


assert {t.value for t in Transition} <= {k.value for k in OrderEventKind}

S = OrderStatus
TRANSITIONS: dict[Transition, tuple[frozenset[OrderStatus], OrderStatus]] = {
    Transition.SUBMIT: (frozenset({S.DRAFT}), S.SUBMITTED),
    Transition.REQUIRE_APPROVAL: (frozenset({S.SUBMITTED}), S.PENDING_APPROVAL),
    Transition.APPROVE: (frozenset({S.SUBMITTED, S.PENDING_APPROVAL}), S.APPROVED),
    Transition.REJECT: (frozenset({S.SUBMITTED, S.PENDING_APPROVAL}), S.REJECTED),
    Transition.CANCEL: (frozenset({S.SUBMITTED, S.PENDING_APPROVAL}), S.CANCELLED),
    Transition.FULFIL: (frozenset({S.APPROVED}), S.FULFILLED),
}
OPEN_STATUSES = frozenset({S.SUBMITTED, S.PENDING_APPROVAL, S.APPROVED, S.FULFILLED})


def next_status(current: OrderStatus, transition: Transition) -> OrderStatus:
    """The status after `transition`, or INVALID_TRANSITION when it is not allowed from `current`."""
    sources, target = TRANSITIONS[transition]
    if current not in sources:
        raise DomainError(
            ErrorCode.INVALID_TRANSITION,
            f"An order that is {current.value.replace('_', ' ')} cannot be {_past(transition)}",
            "id",
        )
    return target


def _past(transition: Transition) -> str:
    return {"submit": "submitted", "require_approval": "sent for approval", "approve": "approved",
            "reject": "rejected", "cancel": "cancelled", "fulfil": "fulfilled"}[transition.value]
