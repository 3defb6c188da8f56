"""KID, the Norwegian payment reference: digits identifying the invoice and a MOD10 (Luhn) check digit."""

from __future__ import annotations

from stdnum import luhn

KID_DIGITS = 9  # the invoice number, zero-padded; the KID is one digit longer


def kid_for(invoice_number: int) -> str:
    """The KID of an invoice: its number padded to KID_DIGITS digits and the Luhn check digit; unique because the
    number is."""
    digits = f"{invoice_number:0{KID_DIGITS}d}"
    return digits + luhn.calc_check_digit(digits)


def is_valid_kid(kid: str) -> bool:
    return kid.isdigit() and 2 <= len(kid) <= 25 and luhn.is_valid(kid)
