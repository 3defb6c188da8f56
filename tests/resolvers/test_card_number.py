"""Card numbers: 16 Luhn-valid digits under the issuer prefix, a digest keyed apart from every other use, expiry."""

from __future__ import annotations

import hashlib
import hmac
from datetime import date

import pytest
from pydantic import ValidationError
from stdnum import luhn

from resolvers.approval_link import _key as approval_link_key
from resolvers.card_number import card_expiry, card_number_digest, is_card_number, new_card_number
from settings import Settings

SETTINGS = Settings(_env_file=None, procura_env="test", jwt_secret="test-secret-" + "x" * 32)


def test_a_new_number_is_sixteen_luhn_valid_digits_under_the_prefix():
    numbers = {new_card_number(SETTINGS) for _ in range(200)}
    assert len(numbers) == 200
    for number in numbers:
        assert len(number) == 16 and number.isdigit() and number.startswith(SETTINGS.card_number_prefix)
        assert luhn.is_valid(number) and is_card_number(number)


def test_the_prefix_is_a_setting():
    settings = Settings(_env_file=None, procura_env="test", card_number_prefix="12345678")
    assert new_card_number(settings).startswith("12345678")
    with pytest.raises(ValidationError):
        Settings(_env_file=None, procura_env="test", card_number_prefix="12a456")


def test_a_changed_digit_fails_the_check():
    number = new_card_number(SETTINGS)
    wrong = number[:-1] + str((int(number[-1]) + 1) % 10)
    assert not is_card_number(wrong) and not is_card_number(number[:-1]) and not is_card_number("x" * 16)


def test_the_digest_is_keyed_and_labelled_apart():
    number = new_card_number(SETTINGS)
    digest = card_number_digest(SETTINGS, number)
    assert len(digest) == 64 and number not in digest
    assert digest == card_number_digest(SETTINGS, " ".join(number[i:i + 4] for i in range(0, 16, 4)))
    assert digest != hashlib.sha256(number.encode()).hexdigest()
    assert digest != hmac.new(SETTINGS.jwt_secret.encode(), number.encode(), hashlib.sha256).hexdigest()
    assert digest != hmac.new(approval_link_key(SETTINGS), number.encode(), hashlib.sha256).hexdigest()
    other = Settings(_env_file=None, procura_env="test", jwt_secret="another-secret-" + "y" * 32)
    assert card_number_digest(other, number) != digest


@pytest.mark.parametrize(("today", "expires"), [
    (date(2026, 12, 1), date(2030, 12, 31)), (date(2026, 2, 10), date(2030, 2, 28)),
    (date(2024, 2, 29), date(2028, 2, 29)), (date(2026, 1, 31), date(2030, 1, 31)),
])
def test_a_card_expires_at_the_end_of_the_month_four_years_ahead(today, expires):
    assert card_expiry(today) == expires
