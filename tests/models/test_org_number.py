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
    adjective = {Country.NO: "Norwegian", Country.SE: "Swedish"}[country]
    assert caught.value.message == (f"The check digit does not match: this is not a valid {adjective} organisation "
                                    "number (look for a mistyped or swapped digit)")
    assert caught.value.persist is False


@pytest.mark.parametrize(
    ("country", "raw", "message"),
    [
        (Country.NO, "92360901", "A Norwegian organisation number has 9 digits; this one has 8"),
        (Country.NO, "9236090160", "A Norwegian organisation number has 9 digits; this one has 10"),
        # a Swedish number is not Norwegian
        (Country.NO, "556036-0793", "A Norwegian organisation number has 9 digits; this one has 10"),
        (Country.SE, "556036079", "A Swedish organisation number has 10 digits; this one has 9"),
        (Country.SE, "55603607930", "A Swedish organisation number has 10 digits; this one has 11"),
        # a Norwegian number is not Swedish
        (Country.SE, "923 609 016", "A Swedish organisation number has 10 digits; this one has 9"),
    ],
)
def test_a_wrong_length_is_an_invalid_org_number(country, raw, message):
    with pytest.raises(DomainError) as caught:
        validate_org_number(country, raw)
    assert (caught.value.code, caught.value.message, caught.value.field) == (
        ErrorCode.INVALID_ORG_NUMBER, message, "orgNumber")


DIGITS_ONLY = "A {} organisation number has digits only ({} of them; spaces, dashes and dots may separate them)"
NO_DIGITS_ONLY, SE_DIGITS_ONLY = DIGITS_ONLY.format("Norwegian", 9), DIGITS_ONLY.format("Swedish", 10)


@pytest.mark.parametrize(
    ("country", "raw", "message"),
    [
        (Country.NO, "92360901A", NO_DIGITS_ONLY),
        (Country.SE, "55603607X3", SE_DIGITS_ONLY),
        (Country.NO, "abc", NO_DIGITS_ONLY),
        (Country.NO, "923609016\u0661", NO_DIGITS_ONLY),  # an Arabic-Indic one is not an ASCII digit
        (Country.NO, "", "The organisation number is required (9 digits)"),
        (Country.SE, "   ", "The organisation number is required (10 digits)"),
        (Country.SE, " -. ", "The organisation number is required (10 digits)"),
    ],
)
def test_letters_or_nothing_are_an_invalid_org_number(country, raw, message):
    with pytest.raises(DomainError) as caught:
        validate_org_number(country, raw)
    assert (caught.value.code, caught.value.message, caught.value.field) == (
        ErrorCode.INVALID_ORG_NUMBER, message, "orgNumber")


@pytest.mark.parametrize("raw", ["5560360794", "abc", "'; DROP", "55603607"])
def test_the_message_is_the_apis_own_and_does_not_repeat_the_input(raw):
    with pytest.raises(DomainError) as caught:
        validate_org_number(Country.SE, raw)
    message = caught.value.message
    assert raw not in message and "'" not in message
    # python-stdnum's own texts ("The number has an invalid length.", "...checksum...") never show.
    assert "invalid length" not in message and "checksum" not in message and "The number" not in message


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
