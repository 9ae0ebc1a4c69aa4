"""A tenant's products and the names customers use for them, in English and Chinese.

Product mentions are matched against the tenant's own catalogue rather than guessed by a model:
a product entity is only useful to the generator when it names a product id it can look up.
Customers write the same product many ways ("Guess jeans", "guess  jeans", "Guess牛仔裤",
"Guess 的牛仔裤", "盖尔斯牛仔裤", "盖尔斯的牛仔裤"), so each name becomes a pattern that tolerates
spacing, a middle dot or a 的 between its parts, and ignores case. A Chinese name is one run of
characters with no space to split at, so the split comes from the catalogue itself: the longest
beginning that names of two or more products of one brand share ("盖尔斯" in 盖尔斯夹克 and
盖尔斯靴子) is the brand, and the rest is the product type.
"""

from __future__ import annotations

import json
import pathlib
import re
from collections.abc import Iterator
from dataclasses import dataclass

_HAN = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
# A name's parts: runs of Latin letters/digits, or runs of Han characters.
_PARTS = re.compile(rf"[A-Za-z0-9'&+.]+|[{_HAN}]+")
_SEPARATOR = r"[\s·・\-_]*(?:的[\s]*)?"


@dataclass(frozen=True)
class Product:
    """One sellable product; `names` maps a language code to the names shown in that language."""

    id: str
    names: dict[str, tuple[str, ...]]
    aliases: tuple[str, ...] = ()
    brand: str = ""
    category: str = ""

    def all_names(self) -> tuple[str, ...]:
        return tuple(n for names in self.names.values() for n in names) + self.aliases


def _is_han(part: str) -> bool:
    return re.fullmatch(rf"[{_HAN}]+", part) is not None


def _brand_words(products: list[Product]) -> list[str]:
    """Han beginnings that names of two or more products of the same brand share, longest first."""
    owners: dict[tuple[str, str], set[str]] = {}
    for product in products:
        for name in product.all_names():
            for run in filter(_is_han, _PARTS.findall(name)):
                for end in range(1, len(run)):
                    owners.setdefault((product.brand, run[:end]), set()).add(product.id)
    shared = {prefix for (brand, prefix), ids in owners.items() if brand and len(ids) > 1}
    return sorted(shared, key=len, reverse=True)


def _split_brand(part: str, brand_words: list[str]) -> list[str]:
    """A Han run as brand and product type ("盖尔斯夹克" -> "盖尔斯", "夹克"), or whole."""
    for word in brand_words:
        if len(part) > len(word) and part.startswith(word):
            return [word, part[len(word) :]]
    return [part]


def _name_pattern(name: str, brand_words: list[str] = ()) -> re.Pattern[str] | None:
    parts = [
        piece
        for part in _PARTS.findall(name)
        for piece in (_split_brand(part, brand_words) if _is_han(part) else [part])
    ]
    if not parts:
        return None
    body = _SEPARATOR.join(re.escape(p) for p in parts)
    # A Latin edge must not sit inside a longer Latin word ("guesses"), though an English plural
    # still names the product ("guess jackets"); a Han edge needs no boundary.
    left = r"(?<![A-Za-z0-9])" if parts[0][0].isascii() else ""
    right = r"(?:e?s)?(?![A-Za-z0-9])" if parts[-1][-1].isascii() else ""
    return re.compile(left + body + right, re.IGNORECASE)


class Catalogue:
    """Products with their name patterns, compiled once per tenant catalogue."""

    def __init__(self, products: list[Product]) -> None:
        ids = [p.id for p in products]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"catalogue lists product ids more than once: {duplicates}; make each id unique")
        self.products = {p.id: p for p in products}
        brand_words = _brand_words(products)
        self._patterns = [
            (pattern, p.id)
            for p in products
            for name in dict.fromkeys(p.all_names())
            if (pattern := _name_pattern(name, brand_words)) is not None
        ]

    @classmethod
    def load(cls, path: str | pathlib.Path) -> Catalogue:
        """Read a catalogue JSON file: {"products": [{"id", "names": {lang: [..]}, "aliases", ...}]}."""
        path = pathlib.Path(path)
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FileNotFoundError(
                f"product catalogue {path} does not exist; check the catalogue path setting"
            ) from None
        except json.JSONDecodeError as exc:
            raise ValueError(f"product catalogue {path} is not valid JSON ({exc}); fix the file") from None
        try:
            products = [
                Product(
                    id=item["id"],
                    names={lang: tuple(names) for lang, names in item["names"].items()},
                    aliases=tuple(item.get("aliases", ())),
                    brand=item.get("brand", ""),
                    category=item.get("category", ""),
                )
                for item in raw["products"]
            ]
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(
                f"product catalogue {path} does not have the expected shape (missing {exc}); each product "
                'needs "id" and "names" ({"en": [...], "zh": [...]})'
            ) from None
        return cls(products)

    def find(self, text: str) -> Iterator[tuple[int, int, str]]:
        """Every mention of a product as (start, end, product id); mentions may overlap."""
        for pattern, product_id in self._patterns:
            for m in pattern.finditer(text):
                yield m.start(), m.end(), product_id
