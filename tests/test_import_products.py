"""`procura import-products FILE`: upsert by SKU, all or nothing, bad rows reported by line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from models import Product
from resolvers.product_import import ImportResult, ProductImportError, import_products
from tests.ordering_helpers import create_product

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PROCURA = Path(sys.executable).parent / "procura"

HEADER = "sku,name,description,unit,category,unit_price,vat_rate,active\n"
FIRST = HEADER + (
    "MILK-1L,Milk 1 l,Whole milk,piece,Dairy,12.50,15,true\n"
    "GLOVES,\"Gloves, nitrile\",Size M,pack,Care,99.9,25,\n"
    "OLD,Old product,,piece,Misc,1,0,false\n"
)
SECOND = HEADER + (
    "MILK-1L,Milk 1 litre,Whole milk,piece,Dairy,13.10,15,yes\n"
    "TEA,Green tea,,box,Drinks,45,25,1\n"
)


async def catalogue(services) -> dict[str, tuple]:
    async with services.db.read_sessions() as session:
        rows = (await session.scalars(select(Product).order_by(Product.sku))).all()
        return {
            p.sku: (p.id, p.name, p.description, p.unit, p.category, p.unit_price_minor, p.vat_rate, p.active,
                    p.currency)
            for p in rows
        }


async def test_import_creates_then_updates_by_sku(services):
    assert await import_products(services, FIRST) == ImportResult(created=3, updated=0)
    first = await catalogue(services)
    assert {sku: row[1:] for sku, row in first.items()} == {
        "GLOVES": ("Gloves, nitrile", "Size M", "pack", "Care", 9990, 25, True, "NOK"),
        "MILK-1L": ("Milk 1 l", "Whole milk", "piece", "Dairy", 1250, 15, True, "NOK"),
        "OLD": ("Old product", "", "piece", "Misc", 100, 0, False, "NOK"),
    }
    assert await import_products(services, SECOND) == ImportResult(created=1, updated=1)
    second = await catalogue(services)
    milk_id = first["MILK-1L"][0]
    assert second["MILK-1L"] == (milk_id, "Milk 1 litre", "Whole milk", "piece", "Dairy", 1310, 15, True, "NOK")
    assert second["TEA"][1:] == ("Green tea", "", "box", "Drinks", 4500, 25, True, "NOK")
    assert second["GLOVES"] == first["GLOVES"]  # not in the file: left alone
    async with services.db.read_sessions() as session:
        milk = await session.scalar(select(Product).where(Product.sku == "MILK-1L"))
        assert milk.search_text == "milk-1l milk 1 litre whole milk dairy"


async def test_optional_columns_may_be_left_out_and_a_byte_order_mark_is_ignored(services):
    content = "\ufeffsku,name,unit,category,unit_price,vat_rate\nBREAD,Rye bread,piece,Bakery,39.90,15%\n"
    assert await import_products(services, content) == ImportResult(created=1, updated=0)
    assert (await catalogue(services))["BREAD"][1:] == ("Rye bread", "", "piece", "Bakery", 3990, 15, True, "NOK")


BAD_FILES = {
    "bad VAT rate": (HEADER + "A,Apple,,piece,Fruit,5.00,25,true\nB,Banana,,piece,Fruit,5.00,20,true\n", 3, "vatRate"),
    "VAT not a number": (HEADER + "A,Apple,,piece,Fruit,5.00,high,true\n", 2, "vat_rate 'high' is not a whole number"),
    "price with three decimals": (HEADER + "A,Apple,,piece,Fruit,5.00,25,\nB,B,,piece,Fruit,5.001,25,\n", 3,
                                  "at most two decimals"),
    "price not a number": (HEADER + "A,Apple,,piece,Fruit,five,25,\n", 2, "unit_price 'five'"),
    "negative price": (HEADER + "A,Apple,,piece,Fruit,5.00,25,\nB,B,,piece,Fruit,5.00,25,\n"
                       "C,C,,piece,Fruit,-1,25,\n", 4, "A price cannot be negative"),
    "missing column": ("sku,name,unit,category,vat_rate\nA,Apple,piece,Fruit,25\n", 1, "missing column(s): unit_price"),
    "duplicate SKU": (HEADER + "A,Apple,,piece,Fruit,5.00,25,\nB,Banana,,piece,Fruit,5.00,25,\n"
                      "A,Again,,piece,Fruit,6,25,\n", 4, "SKU A appears twice in the file"),
    "empty name": (HEADER + "A,Apple,,piece,Fruit,5.00,25,\nB,,,piece,Fruit,5.00,25,\n", 3,
                   "name: This field is required"),
    "bad active flag": (HEADER + "A,Apple,,piece,Fruit,5.00,25,maybe\n", 2, "active 'maybe' is not true or false"),
    "space in SKU": (HEADER + "A B,Apple,,piece,Fruit,5.00,25,\n", 2, "A SKU has no spaces"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
async def test_a_bad_row_names_its_line_and_nothing_of_the_file_is_written(services, case):
    await create_product(services, "A", 100, name="Existing apple", category="Fruit", vat_rate=15)
    before = await catalogue(services)
    content, line, message = BAD_FILES[case]
    with pytest.raises(ProductImportError) as caught:
        await import_products(services, content)
    assert caught.value.line == line
    assert message in caught.value.message
    assert str(caught.value).startswith(f"line {line}: ")
    assert await catalogue(services) == before  # the earlier, good rows were not written either


def run_cli(*args: str, cwd: Path, database_url: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "PROCURA_ENV", "TEST_DATABASE_URL"}}
    environment.update(PYTHONPATH=str(PROJECT_ROOT), DATABASE_URL=database_url)
    return subprocess.run([str(PROCURA), *args], cwd=cwd, env=environment, capture_output=True, text=True, timeout=120)


async def test_the_command_imports_a_file_and_refuses_a_bad_one_whole(services, database_url, tmp_path):
    good = tmp_path / "products.csv"
    good.write_text(FIRST, encoding="utf-8")
    result = run_cli("import-products", str(good), cwd=tmp_path, database_url=database_url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"Imported {good}: 3 created, 0 updated."
    imported = await catalogue(services)
    assert sorted(imported) == ["GLOVES", "MILK-1L", "OLD"]

    bad = tmp_path / "bad.csv"
    bad.write_text(SECOND + "COFFEE,Coffee,,bag,Drinks,89.00,24,true\n", encoding="utf-8")
    result = run_cli("import-products", str(bad), cwd=tmp_path, database_url=database_url)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.strip() == (f"{bad}: line 4: vatRate: VAT rate must be one of 25, 15, 12, 6, 0; "
                                     "nothing was imported.")
    assert await catalogue(services) == imported  # MILK-1L keeps 12.50, TEA was not created
