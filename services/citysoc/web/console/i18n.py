"""Console languages: Vietnamese (the default) and English, every UI string from a JSON catalog
(``i18n/vi.json``, ``i18n/en.json``; both must hold the same keys, checked by tests), and times shown
in Asia/Ho_Chi_Minh.

The language is ``?lang=`` when given (and then remembered in a cookie), else the ``citysoc_lang``
cookie, else Vietnamese. A missing key renders as the key itself, so a gap is visible, never a crash.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from functools import cache
from importlib import resources
from typing import Literal, get_args
from zoneinfo import ZoneInfo

import orjson
from fastapi import Request

Lang = Literal["vi", "en"]
LANGS: tuple[Lang, ...] = get_args(Lang)
DEFAULT: Lang = "vi"
COOKIE = "citysoc_lang"
ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
_FORMATS: Mapping[Lang, tuple[str, str]] = {
    "vi": ("%d/%m/%Y %H:%M:%S", "%d/%m/%Y"),
    "en": ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d"),
}


@cache
def catalog(lang: Lang) -> Mapping[str, str]:
    """The flat ``key -> text`` catalog of ``lang`` (read once)."""
    data = resources.files(__package__).joinpath("i18n", f"{lang}.json").read_bytes()
    loaded = orjson.loads(data)
    if not isinstance(loaded, dict) or not all(isinstance(v, str) for v in loaded.values()):
        raise ValueError(f"catalog {lang}.json must be an object of strings")
    return loaded


def parse_lang(value: str | None) -> Lang | None:
    return next((lang for lang in LANGS if lang == value), None)


def choose(request: Request) -> tuple[Lang, bool]:
    """The request's language and whether it came from ``?lang=`` (so the cookie should be set)."""
    asked = parse_lang(request.query_params.get("lang"))
    if asked is not None:
        return asked, True
    return parse_lang(request.cookies.get(COOKIE)) or DEFAULT, False


class Translator:
    """``t(key, **values)``: the catalog text with ``{name}`` placeholders filled; dates in the
    centre's time zone in the language's format."""

    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self._texts = catalog(lang)

    def __call__(self, key: str, **values: object) -> str:
        text = self._texts.get(key, key)
        if values:
            try:
                return text.format(**values)
            except (KeyError, IndexError, ValueError):
                return text
        return text

    def has(self, key: str) -> bool:
        return key in self._texts

    def enum(self, prefix: str, value: object) -> str:
        """``t(prefix.value)`` when the catalog has it, else the raw value (e.g. a new level)."""
        key = f"{prefix}.{value}"
        return self(key) if key in self._texts else str(value)

    def datetime(self, value: datetime | None) -> str:
        if value is None:
            return ""
        aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
        return aware.astimezone(ZONE).strftime(_FORMATS[self.lang][0])

    def date(self, value: date | None) -> str:
        return value.strftime(_FORMATS[self.lang][1]) if value is not None else ""
