"""A realistic demo catalogue (a few hundred products) for a Nordic grocery and care supplier."""

from __future__ import annotations

from decimal import Decimal
from itertools import product as combinations

from models import Product

FOOD_VAT, GOODS_VAT = 15, 25
# category -> (VAT rate, unit, [(name, base price in kroner)], [(variant, price factor)])
CATALOGUE = {
    "Dairy": (FOOD_VAT, "pcs", [("Whole milk", 21.9), ("Lactose-free milk", 26.9), ("Skimmed milk", 20.5),
                                ("Natural yoghurt", 24.9), ("Greek yoghurt", 32.9), ("Butter", 54.9),
                                ("Gouda cheese", 89.0), ("Brown cheese", 79.9), ("Cottage cheese", 29.9),
                                ("Sour cream", 22.5), ("Cream 38%", 31.9)],
              [("0.5 l", 0.6), ("1 l", 1.0), ("1.75 l", 1.6)]),
    "Bread and bakery": (FOOD_VAT, "pcs", [("Wholegrain bread", 39.9), ("Rye bread", 42.9), ("White loaf", 29.9),
                                           ("Crispbread", 34.9), ("Gluten-free bread", 59.9), ("Cinnamon buns", 49.9),
                                           ("Flatbread", 32.9), ("Breakfast rolls", 44.9)],
                         [("small", 0.7), ("regular", 1.0), ("family pack", 1.8)]),
    "Fruit and vegetables": (FOOD_VAT, "kg", [("Apples", 32.9), ("Bananas", 24.9), ("Oranges", 29.9), ("Pears", 36.9),
                                              ("Potatoes", 19.9), ("Carrots", 17.9), ("Onions", 16.9),
                                              ("Tomatoes", 49.9), ("Cucumber", 39.9), ("Broccoli", 44.9),
                                              ("Lettuce", 59.9), ("Grapes", 69.9)],
                             [("loose", 1.0), ("organic", 1.35), ("pre-packed 500 g", 0.55)]),
    "Meat and fish": (FOOD_VAT, "pcs", [("Minced beef", 79.9), ("Chicken fillet", 99.9), ("Pork chops", 89.9),
                                         ("Salmon fillet", 129.9), ("Cod loin", 119.9), ("Fish cakes", 59.9),
                                         ("Meatballs", 64.9), ("Sliced ham", 34.9), ("Liver pâté", 27.9)],
                      [("400 g", 1.0), ("800 g", 1.85), ("catering 2 kg", 4.3)]),
    "Dry goods": (FOOD_VAT, "pcs", [("Oatmeal", 24.9), ("Rice", 34.9), ("Pasta", 19.9), ("Wheat flour", 22.9),
                                     ("Sugar", 21.9), ("Muesli", 44.9), ("Coffee, ground", 69.9), ("Black tea", 39.9),
                                     ("Tomato soup", 18.9), ("Canned tuna", 22.9), ("Strawberry jam", 36.9)],
                  [("standard", 1.0), ("large", 1.7), ("catering 5 kg", 4.6)]),
    "Beverages": (FOOD_VAT, "pcs", [("Orange juice", 29.9), ("Apple juice", 27.9), ("Mineral water", 15.9),
                                     ("Blackcurrant cordial", 34.9), ("Oat drink", 27.9)],
                  [("1 l", 1.0), ("6 x 0.5 l", 2.4)]),
    "Frozen": (FOOD_VAT, "pcs", [("Frozen peas", 24.9), ("Frozen berries", 49.9), ("Fish fingers", 44.9),
                                 ("Vanilla ice cream", 54.9), ("Ready meal, stew", 59.9),
                                 ("Ready meal, fish gratin", 62.9)],
               [("single", 1.0), ("multipack", 2.6)]),
    "Cleaning": (GOODS_VAT, "pcs", [("Dishwashing liquid", 32.9), ("All-purpose cleaner", 39.9),
                                    ("Laundry detergent", 99.9), ("Dishwasher tablets", 119.9),
                                    ("Bathroom cleaner", 44.9), ("Floor soap", 54.9), ("Disinfectant spray", 69.9)],
                 [("regular", 1.0), ("refill", 0.85), ("professional 5 l", 4.2)]),
    "Paper and hygiene": (GOODS_VAT, "pack", [("Toilet paper", 79.9), ("Kitchen towels", 49.9), ("Paper napkins", 29.9),
                                              ("Hand soap", 34.9), ("Shampoo", 44.9), ("Toothpaste", 29.9),
                                              ("Wet wipes", 39.9), ("Disposable gloves", 89.9)],
                          [("small pack", 1.0), ("bulk pack", 3.4)]),
    "Care and health": (GOODS_VAT, "pack", [("Incontinence pads", 149.0), ("Skin barrier cream", 89.0),
                                            ("Compression stockings", 299.0), ("Pill organiser", 79.0),
                                            ("Blood-pressure monitor", 649.0), ("Plasters", 39.9),
                                            ("Paracetamol 500 mg", 49.9)],
                        [("standard", 1.0), ("large", 1.8)]),
    "Office supplies": (GOODS_VAT, "pcs", [("Copy paper A4", 69.9), ("Ballpoint pens", 39.9), ("Binders", 29.9),
                                           ("Sticky notes", 24.9), ("Printer toner", 899.0), ("Envelopes C5", 59.9)],
                        [("single", 1.0), ("box of 10", 8.5)]),
}


def demo_products(currency: str) -> list[Product]:
    products = []
    for prefix, (category, (vat, unit, items, variants)) in enumerate(CATALOGUE.items(), start=10):
        for index, ((name, price), (variant, factor)) in enumerate(combinations(items, variants), start=1):
            product = Product(
                sku=f"{prefix}{index:04d}", name=f"{name}, {variant}",
                description=f"{name} ({variant}) for {category.lower()}.",
                unit=unit, category=category, unit_price_minor=_minor(price, factor), currency=currency,
                vat_rate=vat, active=True,
            )
            product.refresh_search_text()
            products.append(product)
    return products


def _minor(price: float, factor: float) -> int:
    """Kroner price times a pack factor, rounded to 10 øre, as minor units."""
    amount = (Decimal(str(price)) * Decimal(str(factor))).quantize(Decimal("0.1"))
    return int(amount * 100)
