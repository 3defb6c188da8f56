"""Organisation numbers: national check digits, lengths and formatting (pure, no database)."""

from __future__ import annotations

import pytest

from models.company import CURRENCY_BY_COUNTRY, Country, format_org_number, validate_org_number
from models.errors import DomainError, ErrorCode

VALID_NO = ["923609016", "974760673", "981544315", "889640782", "971526157"]
VALID_SE = ["5560360793", "2021005489", "5565475489"]


@pytest.mark.parametrize("number", VALID_NO)
def test_valid_norwegian_numbers_are_returned_compact(number):
    assert validate_org_number(Country.NO, number) == number


@pytest.mark.parametrize("number", VALID_SE)
def test_valid_swedish_numbers_are_returned_compact(number):
    assert validate_org_number(Country.SE, number) == number


@pytest.mark.parametrize(
    ("country", "raw", "compact"),
    [
        (Country.NO, "923 609 016", "923609016"),
        (Country.NO, " 923609016 ", "923609016"),
        (Country.SE, "556036-0793", "5560360793"),
        (Country.SE, "556036 0793", "5560360793"),
        (Country.SE, " 5560360793", "5560360793"),
        (Country.SE, "556036.0793", "5560360793"),
    ],
)
def test_spaces_and_dashes_are_removed(country, raw, compact):
    assert validate_org_number(country, raw) == compact


@pytest.mark.parametrize(
    ("country", "raw"),
    [
        (Country.NO, "923609017"),  # last digit changed
        (Country.NO, "923609061"),  # two digits swapped
        (Country.NO, "556036079"),  # nine digits, but not a Norwegian check digit
        (Country.SE, "5560360794"),
        (Country.SE, "5560360739"),
        (Country.SE, "2021005488"),
    ],
)
def test_a_wrong_check_digit_is_an_invalid_org_number(country, raw):
    with pytest.raises(DomainError) as caught:
        validate_org_number(country, raw)
    assert caught.value.code == ErrorCode.INVALID_ORG_NUMBER
    assert caught.value.field == "orgNumber"
    assert "check digit" in caught.value.message
    assert caught.value.persist is False


@pytest.mark.parametrize(
    ("country", "raw"),
    [
        (Country.NO, "92360901"),
        (Country.NO, "9236090160"),
        (Country.NO, "5560360793"),  # a Swedish number is not Norwegian
        (Country.SE, "556036079"),
        (Country.SE, "55603607930"),
        (Country.SE, "923609016"),  # a Norwegian number is not Swedish
    ],
)
def test_a_wrong_length_is_an_invalid_org_number(country, raw):
    with pytest.raises(DomainError) as caught:
        validate_org_number(country, raw)
    assert caught.value.code == ErrorCode.INVALID_ORG_NUMBER
    assert caught.value.field == "orgNumber"
    assert "length" in caught.value.message


@pytest.mark.parametrize(
    ("country", "raw"),
    [(Country.NO, "92360901A"), (Country.SE, "55603607X3"), (Country.NO, "abc"), (Country.NO, ""), (Country.SE, "   ")],
)
def test_letters_or_nothing_are_an_invalid_org_number(country, raw):
    with pytest.raises(DomainError) as caught:
        validate_org_number(country, raw)
    assert caught.value.code == ErrorCode.INVALID_ORG_NUMBER
    assert caught.value.field == "orgNumber"


def test_the_message_names_the_number_and_the_country():
    with pytest.raises(DomainError) as caught:
        validate_org_number(Country.SE, "5560360794")
    assert caught.value.message.startswith("'5560360794' is not a valid SE organisation number")


@pytest.mark.parametrize(
    ("country", "compact", "formatted"),
    [
        (Country.NO, "923609016", "923 609 016"),
        (Country.NO, "974760673", "974 760 673"),
        (Country.SE, "5560360793", "556036-0793"),
        (Country.SE, "2021005489", "202100-5489"),
    ],
)
def test_formatting_the_national_way(country, compact, formatted):
    assert format_org_number(country, compact) == formatted
    # Formatting and validating are inverse: the formatted number validates back to the compact one.
    assert validate_org_number(country, formatted) == compact


def test_each_country_has_its_currency():
    assert CURRENCY_BY_COUNTRY == {Country.NO: "NOK", Country.SE: "SEK"}
