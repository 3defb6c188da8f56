"""Input cleaning shared by the use cases: trimmed text with limits, valid email addresses."""

from __future__ import annotations

from typing import Literal, overload

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
# Names that email-validator refuses in every environment (RFC 6761 and 6762, .arpa, .onion).
RESERVED_TLDS = frozenset({"arpa", "local", "onion"})
MAX_EMAIL_LENGTH = 254  # RFC 5321 as email-validator applies it


def special_use_domains_allowed(settings: Settings) -> bool:
    return settings.procura_env in SPECIAL_USE_ENVIRONMENTS


@overload
def clean_text(value: str | None, field: str, max_length: int, *, required: Literal[True] = True) -> str: ...
@overload
def clean_text(value: str | None, field: str, max_length: int, *, required: bool) -> str | None: ...
def clean_text(value: str | None, field: str, max_length: int, *, required: bool = True) -> str | None:
    """Trimmed text with inner whitespace collapsed; None when empty and not `required`."""
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
        return normalize_email(_validated(address, address, field).normalized)
    if not special_use_domains_allowed(settings):
        raise DomainError(ErrorCode.INVALID_INPUT, _special_use(tld), field)
    # email-validator's test mode lets only .test through: check the address with .test in place of the
    # special-use name, then put the name back.
    stem = domain.rstrip(".")[: -len(tld)]
    result = _validated(f"{local}@{stem}test", address, field, test_environment=True)
    return normalize_email(f"{result.local_part}@{result.ascii_domain[: -len('test')]}{tld}")


def _special_use(tld: str) -> str:
    return f"Not a valid email address: .{tld} is a special-use domain that receives no mail"


def _validated(checked: str, typed: str, field: str, *, test_environment: bool = False) -> ValidatedEmail:
    """email-validator's verdict on `checked`; a refusal is told in the API's words about what was `typed`."""
    try:
        return validate_email(checked, check_deliverability=False, test_environment=test_environment)
    except EmailNotValidError as exc:
        raise DomainError(ErrorCode.INVALID_INPUT, _what_is_wrong(typed), field) from exc


def _what_is_wrong(address: str) -> str:
    """The API's own words for a refused address (email-validator's texts are its own, and may change
    between versions): the common mistakes by name, anything else in general."""
    local, at, domain = address.rpartition("@")
    tld = domain.rstrip(".").rpartition(".")[2].lower()
    if not address:
        return "This field is required"
    if not at:
        return "Not a valid email address: it needs an @ between the name and the domain"
    if not local or not domain:
        return "Not a valid email address: it needs a name before the @ and a domain after it"
    if any(c.isspace() for c in address):
        return "Not a valid email address: it may not contain spaces"
    if len(address) > MAX_EMAIL_LENGTH:
        return f"Not a valid email address: it may have at most {MAX_EMAIL_LENGTH} characters"
    if "." not in domain.strip("."):
        return "Not a valid email address: the domain after the @ needs a dot, as in example.com"
    if tld in RESERVED_TLDS:
        return _special_use(tld)
    return "Not a valid email address: check the characters and dots of the name and the domain"
