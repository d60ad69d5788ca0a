"""Text facts the SQL translation relies on: where ClickHouse's string functions and Python's agree.

The streaming engine folds case with ``str.casefold`` and matches regular expressions with Python's
``re``; ClickHouse has ``lower`` (ASCII only), ``lowerUTF8`` and RE2. They agree exactly on ASCII text
(``lower(s) == s.casefold()`` for ASCII ``s``), which is what the translation's *sure* bounds use. For
other text the translation only needs a safe over-approximation, built on these facts:

* :data:`ASCII_FOLDERS`: the non-ASCII characters whose casefold contains an ASCII character (``ß`` ->
  ``ss``, Kelvin sign -> ``k``, ligatures ...). Text without them has its ASCII characters exactly where
  its casefold has ASCII characters, so an ASCII needle found in the casefold is found, at the same
  place, in ``lowerUTF8`` of the text too.
* :func:`wildcard_parts`: the parts of a compiled Sigma wildcard pattern (``StringSet.patterns``), to
  rebuild it for RE2 without relying on how ``re.escape`` spells literals.
* :func:`re2_compatible`: whether a Python pattern means the same under RE2 on ASCII text (no
  look-around, back-references, verbose mode, Python-only escapes ...).
"""

from __future__ import annotations

import re
import sys
from typing import Final

import orjson


def _ascii_folders() -> str:
    out = []
    for c in range(0x80, sys.maxunicode + 1):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        if any(ord(x) < 0x80 for x in ch.casefold()) or any(ord(x) < 0x80 for x in ch.lower()):
            out.append(ch)
    return "".join(out)


ASCII_FOLDERS: Final = _ascii_folders()
"""Non-ASCII characters whose casefold (or lowercase) contains ASCII (19 with Python 3.13's Unicode)."""

ASCII_FOLDERS_RE2: Final = "[" + ASCII_FOLDERS + "]"
"""RE2 character class of :data:`ASCII_FOLDERS` (none of them is special inside a class)."""

NUMBER_CHARS: Final = frozenset("0123456789.-+e")
"""Characters of Python's and JSON's spellings of a float; a needle made only of these may occur in a
number whose JSON spelling differs from Python's (``1e16`` vs ``10000000000000000``)."""


def json_escaped(literal: str) -> str:
    """How ``literal`` is spelled inside a JSON string written by orjson (the ``fields`` column)."""
    return orjson.dumps(literal).decode()[1:-1]


def wildcard_parts(pattern: str) -> list[tuple[bool, str]]:
    """Parts of a pattern built by ``citysoc.detection.values.string_set``: ``re.escape``d literals,
    ``.*`` (any run) and ``.`` (one character). Returns ``(is_wildcard, text)`` pairs, text being the
    literal, or ``"*"``/``"?"`` for wildcards."""
    out: list[tuple[bool, str]] = []
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            out.append((False, pattern[i + 1]))
            i += 2
        elif c == "." and pattern[i + 1 : i + 2] == "*":
            out.append((True, "*"))
            i += 2
        elif c == ".":
            out.append((True, "?"))
            i += 1
        else:
            out.append((False, c))
            i += 1
    return out


def re2_literal(text: str) -> str:
    """``text`` as an RE2 literal: alphanumerics as they are, everything else ASCII as ``\\x{..}``."""
    return "".join(ch if ch.isalnum() or ord(ch) >= 0x80 else f"\\x{{{ord(ch):x}}}" for ch in text)


def wildcard_re2(pattern: str) -> str:
    """An RE2 full match (``(?s)^...$``) equivalent to a ``string_set`` pattern (DOTALL, full match)."""
    pieces = wildcard_parts(pattern)
    body = "".join((".*" if p == "*" else ".") if wild else re2_literal(p) for wild, p in pieces)
    return f"(?s)^{body}$"


_PY_ONLY = re.compile(
    r"""
      \(\?[=!>(\#]            # look-ahead, atomic group, conditional, comment
    | \(\?<[=!]               # look-behind
    | \(\?P=                  # named back-reference
    | \(\?[a-zA-Z]*[aLux]     # inline flags RE2 lacks (ascii, locale, unicode, verbose)
    | \\[1-9]                 # back-reference
    | \\[0ZuUNgG]             # octal, \Z, \u.... \U........ \N{...} \g<...>
    | \{,                     # {,n}: Python means {0,n}
    | [*+?}]\+                # possessive quantifiers
    | \[:                     # POSIX-like class (RE2 only)
    """,
    re.VERBOSE,
)


def re2_compatible(pattern: str) -> bool:
    """True when RE2 reads ``pattern`` (a Python ``re`` pattern) the same way on ASCII text.

    Conservative: ASCII patterns only, and none of the constructs in ``_PY_ONLY``. Text-dependent
    differences (Unicode classes, ``$`` before a final newline, whitespace classes) are handled by
    the caller's guards on the matched value, not here.
    """
    return pattern.isascii() and _PY_ONLY.search(pattern) is None
