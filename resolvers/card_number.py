"""Company card numbers: made once when a card is ordered, then known only by their last four digits and a keyed
digest.

The digest is HMAC-SHA256 under a key of its own, derived from JWT_SECRET with a label no other use shares (so a
card digest is never an access token's or an approval link's signature, and a stolen database without the secret
does not let anyone test a guessed number against it). A purchase finds its card by the digest of the number the
store sends.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import date

from stdnum import luhn

from settings import Settings

CARD_NUMBER_LENGTH = 16
KEY_LABEL = b"procura card number digest v1"


def _key(settings: Settings) -> bytes:
    return hmac.new(settings.jwt_secret.encode(), KEY_LABEL, hashlib.sha256).digest()


def card_number_digest(settings: Settings, number: str) -> str:
    """The stored digest of a card number (hex, 64 characters); spaces and dashes a store may send are ignored."""
    digits = "".join(character for character in number if character not in " -")
    return hmac.new(_key(settings), digits.encode(), hashlib.sha256).hexdigest()


def new_card_number(settings: Settings) -> str:
    """A fresh 16-digit number: the issuer prefix, random digits, and the Luhn check digit."""
    prefix = settings.card_number_prefix
    body = prefix + "".join(secrets.choice("0123456789") for _ in range(CARD_NUMBER_LENGTH - 1 - len(prefix)))
    return body + luhn.calc_check_digit(body)


def is_card_number(number: str) -> bool:
    """Sixteen digits with a valid Luhn check digit (the issuer prefix is not checked here)."""
    return len(number) == CARD_NUMBER_LENGTH and number.isdigit() and luhn.is_valid(number)


def card_expiry(today: date, years: int = 4) -> date:
    """The last day of the month `years` ahead: a card ordered on 2026-12-01 expires on 2030-12-31."""
    year, month = today.year + years, today.month
    following = date(year + 1, 1, 1) if month == 12 else date(year, month + 1, 1)
    return date.fromordinal(following.toordinal() - 1)
