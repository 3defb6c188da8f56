"""Expected failures of the domain, each with a stable code that clients can rely on."""

from __future__ import annotations

from enum import StrEnum


class ErrorCode(StrEnum):
    INVALID_INPUT = "INVALID_INPUT"
    NOT_FOUND = "NOT_FOUND"
    INVALID_ORG_NUMBER = "INVALID_ORG_NUMBER"
    UNSUPPORTED_COUNTRY = "UNSUPPORTED_COUNTRY"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    INVALID_TOKEN = "INVALID_TOKEN"
    TOKEN_REUSED = "TOKEN_REUSED"
    LAST_ADMIN = "LAST_ADMIN"
    ROLE_NOT_ALLOWED = "ROLE_NOT_ALLOWED"
    SELF_ACTION = "SELF_ACTION"
    SHARED_ACCOUNT = "SHARED_ACCOUNT"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    GROUP_NAME_TAKEN = "GROUP_NAME_TAKEN"
    GROUP_NOT_EMPTY = "GROUP_NOT_EMPTY"
    UNKNOWN_PERMISSION = "UNKNOWN_PERMISSION"
    INVALID_STATE = "INVALID_STATE"
    CONFLICT = "CONFLICT"
    INVALID_TRANSITION = "INVALID_TRANSITION"
    SKU_TAKEN = "SKU_TAKEN"
    PRODUCT_UNAVAILABLE = "PRODUCT_UNAVAILABLE"
    EMPTY_CART = "EMPTY_CART"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    INVALID_DELIVERY = "INVALID_DELIVERY"
    SAVED_CART_NAME_TAKEN = "SAVED_CART_NAME_TAKEN"
    RETURN_EXCEEDS_QUANTITY = "RETURN_EXCEEDS_QUANTITY"
    PAYMENT_METHOD_NOT_ALLOWED = "PAYMENT_METHOD_NOT_ALLOWED"
    BUDGET_EXCEEDED = "BUDGET_EXCEEDED"
    PURCHASE_LIMIT_EXCEEDED = "PURCHASE_LIMIT_EXCEEDED"
    CREDIT_LIMIT_EXCEEDED = "CREDIT_LIMIT_EXCEEDED"
    SELF_APPROVAL = "SELF_APPROVAL"
    NOT_AN_APPROVER = "NOT_AN_APPROVER"
    INVOICE_NOT_APPROVED = "INVOICE_NOT_APPROVED"
    APPLICATION_PENDING = "APPLICATION_PENDING"
    NO_APPROVER = "NO_APPROVER"
    URL_NOT_ALLOWED = "URL_NOT_ALLOWED"
    CHANGES_EXPIRED = "CHANGES_EXPIRED"


class DomainError(Exception):
    """An expected, explainable failure; the API returns it as a typed error result.

    `persist` marks the rare failure whose bookkeeping must survive (a failed sign-in
    counter, a revoked token family): the transaction is committed before the error is
    returned. Everything else is rolled back, so a failed mutation writes nothing.
    """

    def __init__(self, code: ErrorCode, message: str, field: str | None = None, *, persist: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.persist = persist
