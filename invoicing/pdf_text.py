"""What the invoice PDF prints, and how: amounts, dates, account and organisation numbers, and text made drawable
in the PDF core fonts and fitted or broken into lines.

Text is drawn in the PDF core font Helvetica, which every PDF reader has, so the file embeds no font (none is
guaranteed on the machine) and stays small. The core fonts are encoded as Windows-1252: Norwegian and Swedish
letters, the euro sign, typographic quotes and dashes are drawn as written. Any other character (Cyrillic, Greek,
emoji in a name or reference somebody typed) is drawn as its unaccented letter when it has one (ł is l) and as "?"
otherwise; control characters become spaces. The EHF document keeps every text exactly as written.
"""

from __future__ import annotations

import unicodedata
from datetime import date

from fpdf import FPDF

from models.company import Company, Country, format_org_number
from models.money import to_amount
from settings import Settings

ENCODING = "cp1252"  # fpdf2's core-font encoding (WinAnsiEncoding in the PDF)
LINE = 4.2  # height of a text line of the lines table, mm
# Letters and dashes that have no decomposition to fall back on, and their nearest Windows-1252 character.
_NEAREST = str.maketrans("ŁłĐđĦħıŦŧ\u2010\u2011\u2012\u2212", "LlDdHhiTt----")


def printable(text: object) -> str:
    """`text` as the core fonts can draw it (see the module's text): never raises, whatever the input."""
    out = []
    for char in str(text).translate(_NEAREST):
        if unicodedata.category(char).startswith("C"):
            out.append(" ")
            continue
        try:
            char.encode(ENCODING)
            out.append(char)
            continue
        except UnicodeEncodeError:
            pass
        base = "".join(c for c in unicodedata.normalize("NFKD", char) if not unicodedata.combining(c))
        try:
            out.append(base.encode(ENCODING).decode(ENCODING) if base else "?")
        except UnicodeEncodeError:
            out.append("?")
    return "".join(out)


def money(minor: int) -> str:
    """1234550 -> '12 345.50' (a space between thousands, as Norwegian and Swedish readers expect)."""
    return f"{to_amount(minor):,.2f}".replace(",", " ")


def day(value: date) -> str:
    return value.isoformat()


def bank_account(number: str) -> str:
    """A Norwegian account number as it is printed: 1503.20.80119."""
    digits = number.replace(" ", "").replace(".", "")
    return f"{digits[:4]}.{digits[4:6]}.{digits[6:]}" if len(digits) == 11 and digits.isdigit() else number


def iban(value: str) -> str:
    compact = value.replace(" ", "")
    return " ".join(compact[i:i + 4] for i in range(0, len(compact), 4))


def seller_org_number(settings: Settings) -> str:
    """'Org.nr. 912 345 688 MVA': the Norwegian seller's number with MVA, as the bookkeeping rules want it."""
    return f"Org.nr. {format_org_number(Country.NO, settings.supplier_org_number)} MVA"


def buyer_org_number(company: Company) -> str:
    try:
        return f"Org.nr. {format_org_number(Country(company.country), company.org_number)}"
    except (ValueError, KeyError):
        return f"Org.nr. {company.org_number}"


def fit(pdf: FPDF, text: str, width: float) -> str:
    """`text` cut with '...' to fit a cell `width` mm wide in the current font (less the cell's padding)."""
    room = width - 2 * pdf.c_margin
    if pdf.get_string_width(text) <= room:
        return text
    while text and pdf.get_string_width(text + "...") > room:
        text = text[:-1]
    return text + "..."


def _as_drawn(line: str) -> str:
    """fpdf2 gives the broken lines back decoded as Latin-1, so the Windows-1252 characters of 0x80-0x9F
    (€, …, curly quotes) come back as C1 control characters, which the font then refuses: decode them again."""
    return "".join(bytes([ord(c)]).decode(ENCODING, "replace") if "\x80" <= c <= "\x9f" else c for c in line)


def wrapped(pdf: FPDF, text: str, width: float, max_lines: int) -> list[str]:
    """`text` broken into at most `max_lines` lines of `width` mm in the current font."""
    if pdf.get_string_width(text) <= width - 2 * pdf.c_margin:  # most names: one line, without the line breaker
        return [text]
    drawn = pdf.multi_cell(width, LINE, text, dry_run=True, output="LINES", align="L")
    lines = [_as_drawn(str(one)) for one in drawn] if isinstance(drawn, list) and drawn else [""]
    if len(lines) > max_lines:
        lines = [*lines[:max_lines - 1], fit(pdf, " ".join(lines[max_lines - 1:]), width)]
    return lines
