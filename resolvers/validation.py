"""Input cleaning shared by the use cases: trimmed text with limits, valid email addresses."""

from __future__ import annotations

from email_validator import EmailNotValidError, ValidatedEmail, validate_email

from models.errors import DomainError, ErrorCode
from models.user import normalize_email
from settings import Settings

# Special-use top-level names (RFC 6761): no mail is ever delivered to them. The demo company and the
# test suite use them (demo.procura.test), so they are accepted only where nobody real is mailed:
# PROCURA_ENV development or test, named explicitly, so that production and any environment this rule
# does not know refuse them.
SPECIAL_USE_TLDS = frozenset({"test", "example", "invalid", "localhost"})
SPECIAL_USE_ENVIRONMENTS = frozenset({"development", "test"})


def special_use_domains_allowed(settings: Settings) -> bool:
    return settings.procura_env in SPECIAL_USE_ENVIRONMENTS


def clean_text(value: str | None, field: str, max_length: int, *, required: bool = True) -> str | None:
    text = " ".join((value or "").split())
    if not text:
        if required:
            raise DomainError(ErrorCode.INVALID_INPUT, "This field is required", field)
        return None
    if len(text) > max_length:
        raise DomainError(ErrorCode.INVALID_INPUT, f"At most {max_length} characters", field)
    return text


def clean_email(value: str, field: str, settings: Settings) -> str:
    address = value.strip()
    local, at, domain = address.rpartition("@")
    tld = domain.rstrip(".").rpartition(".")[2].lower()
    if not (at and tld in SPECIAL_USE_TLDS):
        return normalize_email(_validated(address, field).normalized)
    if not special_use_domains_allowed(settings):
        raise DomainError(ErrorCode.INVALID_INPUT,
                          f"Not a valid email address: .{tld} is a special-use domain that receives no mail", field)
    # email-validator's test mode lets only .test through: check the address with .test in place of the
    # special-use name, then put the name back.
    stem = domain.rstrip(".")[: -len(tld)]
    result = _validated(f"{local}@{stem}test", field, test_environment=True)
    return normalize_email(f"{result.local_part}@{result.ascii_domain[: -len('test')]}{tld}")


def _validated(address: str, field: str, *, test_environment: bool = False) -> ValidatedEmail:
    try:
        return validate_email(address, check_deliverability=False, test_environment=test_environment)
    except EmailNotValidError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, f"Not a valid email address: {exc}", field) from exc
