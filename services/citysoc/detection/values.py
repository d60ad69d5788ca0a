"""Compiled value tests: the leaves of a compiled Sigma rule.

Contract:

* A value test (:class:`ValueTest`) answers "does any value of this present field match?". Tests are
  built once at compile time from pySigma value objects and never see YAML.
* String matching is case-insensitive (both sides ``str.casefold``) unless the rule used ``|cased``;
  regular expressions follow their own flags (case-sensitive by default, as in Sigma).
* Non-string event values are matched through their string form and numbers also through their
  numeric reading (see :mod:`citysoc.detection.view`): rule ``4688`` equals event ``"4688"``.

Everything here is pure: no I/O, no global state.
"""

from __future__ import annotations

import importlib
import ipaddress
import operator
import re
from collections.abc import Callable
from typing import Any, Final

from sigma.types import (
    CompareOperators,
    Placeholder,
    SigmaCompareExpression,
    SigmaString,
    SpecialChars,
)

from citysoc.detection.view import FieldValues, Number


class CompileError(Exception):
    """A rule uses something this engine cannot evaluate exactly; the rule is skipped with this reason."""


# --------------------------------------------------------------------------------------------------
# Value tests


class ValueTest:
    """Base class: ``test(fv)`` is True when any value of a present field matches."""

    __slots__ = ()

    def test(self, fv: FieldValues) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def merge(self, other: ValueTest) -> ValueTest | None:
        """OR-combine with another test of the same kind into one test, or None if not mergeable."""
        return None


class StringSet(ValueTest):
    """OR of string shapes (equals / prefix / suffix / contains / wildcard pattern), one pass per value.

    ``cased`` selects the original strings instead of the casefolded ones; the literals were folded at
    compile time accordingly. ``pattern_literals[i]`` is a literal that every full match of
    ``patterns[i]`` contains ("" when the pattern has none); the prefilter index uses it.
    """

    __slots__ = (
        "any_value",
        "cased",
        "contains",
        "equals",
        "pattern_literals",
        "patterns",
        "prefixes",
        "suffixes",
    )

    def __init__(
        self,
        cased: bool,
        equals: frozenset[str] = frozenset(),
        prefixes: tuple[str, ...] = (),
        suffixes: tuple[str, ...] = (),
        contains: tuple[str, ...] = (),
        patterns: tuple[re.Pattern[str], ...] = (),
        any_value: bool = False,
        pattern_literals: tuple[str, ...] | None = None,
    ) -> None:
        self.cased = cased
        self.equals = equals
        self.prefixes = prefixes
        self.suffixes = suffixes
        self.contains = contains
        self.patterns = patterns
        self.any_value = any_value
        # Unknown literals ("") are safe: the index then derives no requirement from this test.
        self.pattern_literals = pattern_literals if pattern_literals is not None else ("",) * len(patterns)
        if len(self.pattern_literals) != len(patterns):
            raise ValueError("one pattern literal per pattern")

    def test(self, fv: FieldValues) -> bool:
        if self.any_value:
            return True
        equals, prefixes, suffixes = self.equals, self.prefixes, self.suffixes
        for s in fv.strs if self.cased else fv.folded:
            if s in equals:
                return True
            if prefixes and s.startswith(prefixes):
                return True
            if suffixes and s.endswith(suffixes):
                return True
            for c in self.contains:
                if c in s:
                    return True
            for p in self.patterns:
                if p.fullmatch(s):
                    return True
        return False

    def merge(self, other: ValueTest) -> ValueTest | None:
        if not isinstance(other, StringSet) or other.cased != self.cased:
            return None
        patterns, pattern_literals = _dedup_pairs(
            self.patterns + other.patterns, self.pattern_literals + other.pattern_literals
        )
        return StringSet(
            self.cased,
            self.equals | other.equals,
            _dedup(self.prefixes + other.prefixes),
            _dedup(self.suffixes + other.suffixes),
            _dedup(self.contains + other.contains),
            patterns,
            self.any_value or other.any_value,
            pattern_literals,
        )

    def literals(self) -> tuple[str, ...]:
        """All literal needles of the fixed shapes; patterns are not included."""
        return (*sorted(self.equals), *self.prefixes, *self.suffixes, *self.contains)

    def needles(self) -> tuple[str, ...] | None:
        """Casefolded literals of which every matching value contains one; None if a shape has none.

        Contract (the prefilter index relies on it): if this test matches a value ``v``, then
        ``n in v.casefold()`` for some returned ``n``. With ``cased`` the literals are casefolded here:
        a case-sensitive substring is also one after casefolding (casefolding maps each character on its
        own). None for a lone wildcard or a pattern without any literal character.
        """
        if self.any_value or any(not lit for lit in self.pattern_literals):
            return None
        found = (*self.literals(), *self.pattern_literals)
        return tuple(n.casefold() for n in found) if self.cased else found

    def __repr__(self) -> str:
        parts = [f"cased={self.cased}"]
        for name in ("equals", "prefixes", "suffixes", "contains", "patterns"):
            if v := getattr(self, name):
                parts.append(f"{name}={sorted(v) if isinstance(v, frozenset) else list(v)!r}")
        if self.any_value:
            parts.append("any_value=True")
        return f"StringSet({', '.join(parts)})"


def _dedup[T](items: tuple[T, ...]) -> tuple[T, ...]:
    return tuple(dict.fromkeys(items))


def _dedup_pairs[T, U](a: tuple[T, ...], b: tuple[U, ...]) -> tuple[tuple[T, ...], tuple[U, ...]]:
    pairs = tuple(dict.fromkeys(zip(a, b, strict=True)))
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def string_set(value: SigmaString, *, cased: bool, keyword: bool) -> StringSet:
    """Compile one SigmaString (wildcards ``*``/``?``, escapes already resolved by pySigma).

    ``keyword`` makes the match unanchored (full-text search semantics: a substring of the value).
    """
    parts: list[str | SpecialChars] = []
    for part in value.s:
        if isinstance(part, Placeholder):
            raise CompileError(f"unresolved placeholder %{part.name}% (|expand needs a pipeline value)")
        if isinstance(part, str):
            text = part if cased else part.casefold()
            if parts and isinstance(parts[-1], str):
                parts[-1] += text
            elif text:
                parts.append(text)
        elif part is SpecialChars.WILDCARD_MULTI and parts and parts[-1] is SpecialChars.WILDCARD_MULTI:
            continue  # "**" is "*"
        else:
            parts.append(part)
    if keyword:
        if not parts or parts[0] is not SpecialChars.WILDCARD_MULTI:
            parts.insert(0, SpecialChars.WILDCARD_MULTI)
        if parts[-1] is not SpecialChars.WILDCARD_MULTI:
            parts.append(SpecialChars.WILDCARD_MULTI)

    multi = SpecialChars.WILDCARD_MULTI
    if not parts:
        return StringSet(cased, equals=frozenset({""}))
    if all(p is multi for p in parts):
        return StringSet(cased, any_value=True)
    # Fast shapes: lit, lit*, *lit, *lit* (one literal, wildcards only at the ends).
    literals = [p for p in parts if isinstance(p, str)]
    specials = [p for p in parts if not isinstance(p, str)]
    if len(literals) == 1 and all(p is multi for p in specials):
        lit = literals[0]
        head, tail = parts[0] is multi, parts[-1] is multi
        if len(parts) == 1:
            return StringSet(cased, equals=frozenset({lit}))
        if len(parts) == 2 and tail:
            return StringSet(cased, prefixes=(lit,))
        if len(parts) == 2 and head:
            return StringSet(cased, suffixes=(lit,))
        if len(parts) == 3 and head and tail:
            return StringSet(cased, contains=(lit,))
    regex = "".join(re.escape(p) if isinstance(p, str) else (".*" if p is multi else ".") for p in parts)
    # DOTALL: a wildcard spans newlines, like SQL LIKE and full-text search.
    longest = max(literals, key=len, default="")  # every full match contains each literal part
    return StringSet(cased, patterns=(re.compile(regex, re.DOTALL),), pattern_literals=(longest,))


class NumberSet(ValueTest):
    """Numeric equality against a set of numbers (event ints, floats and numeric strings)."""

    __slots__ = ("numbers",)

    def __init__(self, numbers: frozenset[Number]) -> None:
        self.numbers = numbers

    def test(self, fv: FieldValues) -> bool:
        numbers = self.numbers
        return any(n in numbers for n in fv.numbers)

    def merge(self, other: ValueTest) -> ValueTest | None:
        return NumberSet(self.numbers | other.numbers) if isinstance(other, NumberSet) else None

    def __repr__(self) -> str:
        return f"NumberSet({sorted(self.numbers)!r})"


class BoolTest(ValueTest):
    """Boolean equality: event booleans, or the strings "true"/"false" in any case."""

    __slots__ = ("text", "value")

    def __init__(self, value: bool) -> None:
        self.value = value
        self.text = "true" if value else "false"

    def test(self, fv: FieldValues) -> bool:
        for item in fv.items:
            if isinstance(item, bool):
                if item is self.value:
                    return True
            elif isinstance(item, str) and item.strip().casefold() == self.text:
                return True
        return False


# The regex parser is private (re._parser, formerly sre_parse); it is only used to find literals every
# match must contain, and any failure just means "none known".
_sre_parser: Any = importlib.import_module("re._parser")


def required_literals(pattern: re.Pattern[str]) -> tuple[str, ...]:
    """Literals that every match of ``pattern`` contains, as the text spells them; () if none known.

    Only top-level runs of literal characters are taken (each is a mandatory part of the concatenation
    the pattern is). Under IGNORECASE only ASCII non-letters count (they have no other case).
    """
    try:
        parsed = _sre_parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # private API: any surprise means "unknown", never a wrong literal
        return ()
    ignore_case = bool(pattern.flags & re.IGNORECASE)
    runs: list[str] = []
    run = ""
    for op, av in parsed:
        c = chr(av) if op is _sre_parser.LITERAL and isinstance(av, int) else ""
        if c and not (ignore_case and not (c.isascii() and not c.isalpha())):
            run += c
            continue
        if run:
            runs.append(run)
        run = ""
    if run:
        runs.append(run)
    return tuple(dict.fromkeys(runs))


class RegexTest(ValueTest):
    """``re.search`` over the original (not casefolded) strings; flags come from the rule.

    A value lacking one of the pattern's :func:`required_literals` is not searched at all: cheap, and
    it spares the regex engine patterns like ``\\w+`...`` that rescan every word of a long value.
    """

    __slots__ = ("pattern", "required")

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.required = required_literals(pattern)

    def test(self, fv: FieldValues) -> bool:
        search = self.pattern.search
        required = self.required
        for s in fv.strs:
            for r in required:
                if r not in s:
                    break
            else:
                if search(s) is not None:
                    return True
        return False

    def needles(self) -> tuple[str, ...] | None:
        """Like :meth:`StringSet.needles`: the longest required literal, casefolded (a substring of a
        value is one of its casefold too); None when there is none."""
        if not self.required:
            return None
        return (max(self.required, key=len).casefold(),)

    def __repr__(self) -> str:
        return f"RegexTest({self.pattern.pattern!r}, flags={self.pattern.flags})"


class CidrTest(ValueTest):
    """Value is an IP address inside the network (strings that are not IP addresses never match)."""

    __slots__ = ("network",)

    def __init__(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> None:
        self.network = network

    def test(self, fv: FieldValues) -> bool:
        for s in fv.strs:
            try:
                addr = ipaddress.ip_address(s.strip())
            except ValueError:
                continue
            if addr.version == self.network.version and addr in self.network:
                return True
        return False


_COMPARE: Final[dict[CompareOperators, Callable[[Number, Number], bool]]] = {
    CompareOperators.LT: operator.lt,
    CompareOperators.LTE: operator.le,
    CompareOperators.GT: operator.gt,
    CompareOperators.GTE: operator.ge,
    CompareOperators.NEQ: operator.ne,
}


class CompareTest(ValueTest):
    """Numeric comparison (``|lt``, ``|lte``, ``|gt``, ``|gte``); non-numeric values never match."""

    __slots__ = ("op", "reference")

    def __init__(self, expr: SigmaCompareExpression) -> None:
        self.op = _COMPARE[expr.op]
        self.reference: Number = expr.number.number

    def test(self, fv: FieldValues) -> bool:
        op, ref = self.op, self.reference
        return any(op(n, ref) for n in fv.numbers)
