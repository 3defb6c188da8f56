"""Input cleaning shared by the use cases: trimmed text with limits, valid email addresses."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email

from models.errors import DomainError, ErrorCode
from models.user import normalize_email


def clean_text(value: str | None, field: str, max_length: int, *, required: bool = True) -> str | None:
    text = " ".join((value or "").split())
    if not text:
        if required:
            raise DomainError(ErrorCode.INVALID_INPUT, "This field is required", field)
        return None
    if len(text) > max_length:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {max_length} characters", field)
    return text


def clean_email(value: str, field: str) -> str:
    try:
        result = validate_email(value.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Not a valid email address: {exc}", field) from exc
    return normalize_email(result.normalized)
