"""The project's own Sigma -> ClickHouse SQL backend, over the streaming engine's compiled rules.

It translates the SAME condition tree the streaming engine evaluates (``CompiledRule.detection.root``,
after the engine's processing pipelines and filters) plus the rule's logsource gate, so field
mappings, pipelines, modifiers, ``1 of``/``all of`` and logsource routing are identical by
construction. Nothing is re-read from YAML.

How an event's fields are seen in SQL, as the engine sees them (:mod:`citysoc.detection.view`): field
names compare case-insensitively (every spelling, ``User`` and ``user``, counts), a null value is an
absent field, a list matches by any element, numbers and booleans as text. Per field the rule reads,
the alias ``v<i>`` holds its values. They come from ``field_map`` (each field as text, cheap to scan)
when that text is unambiguous; ``field_map`` writes null as ``''`` (and a missing key reads ``''`` too),
lists and objects as JSON, floats as JSON, so for a row where the field's text is ``''``, starts with
``[`` or ``{``, or is a float, the values come from the ``fields`` JSON instead (alias ``kv``,
:data:`FLATTEN`, evaluated only for such rows): one ``(key, value, irregular)`` tuple per non-null value
or list element. ``irregular`` marks what ClickHouse spells differently from the engine (nested
lists or objects, floats in exponent form or beyond 2^53); such rows, and rows with a non-ASCII field
name or logsource hint, are never decided by SQL alone.

Bounds. Every node becomes a pair of SQL conditions (:class:`Bounds`): ``upper``, which every matching
event satisfies, and ``lower``, which only matching events satisfy. Both are exact (equal) for ASCII
text; where ClickHouse and Python could differ (case folding or regular expressions on non-ASCII
text, odd whitespace in numbers, hex numbers, IPv6 CIDR, Python-only regex syntax, invalid UTF-8 in
the raw message) ``upper`` widens and ``lower`` narrows. ``NOT`` swaps them. The store returns the
rows passing ``upper`` with ``lower`` as their *sure* flag; the hunt checks the rest with the
streaming engine itself (:mod:`citysoc.hunt.service`). So the answer always equals the engine's, and
SQL alone decides every row of plain ASCII data.

Prefilter. The engine's own literal requirement (:func:`citysoc.detection.index.requirement`: literals
one of which every match contains) becomes a ``multiSearchAnyCaseInsensitive`` over the ``fields`` JSON
text (and the raw message for keywords), so the JSON is only flattened for rows that can match.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any, Final

from citysoc.detection.conditions import (
    AndNode,
    ExistsNode,
    FieldNode,
    FieldRefNode,
    KeywordNode,
    Node,
    NotNode,
    NullNode,
    OrNode,
)
from citysoc.detection.engine import _TEXT_FORMATS, CompiledRule
from citysoc.detection.index import requirement
from citysoc.detection.logsource import IMPLIED_SERVICES, LogsourceGate
from citysoc.detection.values import (
    BoolTest,
    CidrTest,
    CompareTest,
    NumberSet,
    RegexTest,
    StringSet,
    ValueTest,
)
from citysoc.hunt import text

TRUE: Final = "1"
FALSE: Final = "0"

FLATTEN: Final = (
    "arrayFlatten(arrayMap(kv_ -> arrayMap(x_ -> tuple(lowerUTF8(kv_.1),"
    " if(startsWith(x_, '\"'), JSONExtractString(x_), x_),"
    " NOT isValidASCII(kv_.1) OR startsWith(x_, '{') OR (startsWith(kv_.2, '[') AND startsWith(x_, '['))"
    " OR match(x_, '^-?[0-9.]+[eE]') OR x_ = '-0' OR match(x_, '^-?[0-9]{16,}$')),"
    " arrayFilter(x_ -> x_ != 'null', if(startsWith(kv_.2, '['), JSONExtractArrayRaw(kv_.2), [kv_.2]))),"
    " JSONExtractKeysAndValuesRaw(fields)))"
)
"""``Array(Tuple(key, value, irregular))``: the engine's view of ``fields`` (module docstring)."""

IRREGULAR_ROW: Final = (
    "arrayExists(k_ -> NOT isValidASCII(k_), mk) OR NOT isValidASCII(ls_product)"
    " OR NOT isValidASCII(ls_service) OR NOT isValidASCII(ls_category)"
)
"""Rows SQL never decides alone, whatever the rule reads (non-ASCII field names or hints)."""

AMBIGUOUS: Final = "^[\\[{]|^-?[0-9]+([.][0-9]+([eE][+-]?[0-9]+)?|[eE][+-]?[0-9]+)$"
"""``field_map`` texts that do not tell the engine's values: lists, objects and floats (``''`` too)."""

_ODD_SPACE: Final = "[\\x0b\\x1c-\\x1f]"
"""Whitespace Python strips or calls ``\\s`` but RE2's ``\\s`` does not."""
_NUMBER: Final = "^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$"
_OCTET: Final = "(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4: Final = f"^({_OCTET}[.]){{3}}{_OCTET}$"
"""A dotted quad as Python's ``ipaddress`` accepts it (no leading zeros)."""
_MAX_EXACT_INT: Final = 2**53
_MULTISEARCH_MAX: Final = 255  # ClickHouse's limit of needles per multiSearch call


@dataclass(frozen=True, slots=True)
class Bounds:
    """``upper``: holds on every matching row. ``lower``: holds only on matching rows."""

    upper: str
    lower: str


def _and(*parts: str) -> str:
    if FALSE in parts:
        return FALSE
    rest = [p for p in parts if p != TRUE]
    if not rest:
        return TRUE
    return rest[0] if len(rest) == 1 else "(" + " AND ".join(rest) + ")"


def _or(*parts: str) -> str:
    if TRUE in parts:
        return TRUE
    rest = [p for p in parts if p != FALSE]
    if not rest:
        return FALSE
    return rest[0] if len(rest) == 1 else "(" + " OR ".join(rest) + ")"


def _trim(v: str) -> str:
    """What Python's ``str.strip()`` removes from ASCII text without odd whitespace (see guards)."""
    return f"trim(BOTH ' \\t\\n\\f\\r' FROM {v})"


def _not(part: str) -> str:
    return FALSE if part == TRUE else TRUE if part == FALSE else f"NOT {part}"


@dataclass(frozen=True, slots=True)
class RuleSQL:
    """One rule as SQL for ``EventSearch``: ``where`` (upper bound and prefilter), ``sure`` (lower bound)."""

    where: str
    sure: str
    aliases: tuple[tuple[str, str], ...]
    params: dict[str, Any]
    prefilter: str
    """The literal prefilter alone (``TRUE`` when the rule offers none); also part of ``where``."""


@dataclass
class Translator:
    """Builds the SQL of one compiled rule (use one instance per rule): collects query parameters
    (``h_<n>``) and the per-field aliases as it goes.

    ``regex_in_sql=False`` leaves every ``|re`` test to the engine (upper bound: field present),
    for a ClickHouse whose RE2 refuses a pattern the syntax check let through.
    """

    regex_in_sql: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    _aliases: list[tuple[str, str]] = field(default_factory=list)
    _value_aliases: dict[str, str] = field(default_factory=dict)
    _irregular: list[str] = field(default_factory=list)

    def param(self, value: Any, type_: str) -> str:
        name = f"h_{len(self.params)}"
        self.params[name] = value
        return f"{{{name}:{type_}}}"

    def s(self, value: str) -> str:
        return self.param(value, "String")

    def arr(self, values: list[str]) -> str:
        return self.param(values, "Array(String)")

    # -- rules ------------------------------------------------------------------------------------------

    def rule(self, rule: CompiledRule) -> RuleSQL:
        root = self.node(rule.detection.root)
        gate = self.gate(rule.gate)
        prefilter = self.prefilter(rule.detection.root)
        upper = _or(_and(gate, root.upper), "irregular")
        sure = _and(gate, root.lower, "NOT irregular")
        where = _and(prefilter, upper)
        irregular = _or(IRREGULAR_ROW, *self._irregular)
        aliases = (
            ("mk", "mapKeys(field_map)"),
            ("mv", "mapValues(field_map)"),
            ("lk", "arrayMap(k_ -> lower(k_), mk)"),
            ("kv", FLATTEN),
            *self._aliases,
            ("irregular", irregular),
        )
        return RuleSQL(where, sure, aliases, dict(self.params), prefilter)

    def values(self, key: str | None) -> str:
        """The alias holding the values of field ``key`` (casefolded), or of every field (None)."""
        name = self._value_aliases.get("" if key is None else key)
        if name is not None:
            return name
        amb = f"(x_ = '' OR match(x_, {self.s(AMBIGUOUS)}))"
        if key is None:  # keyword search: every value
            name, a = "vall", "aall"
            self._value_aliases[""] = name
            self._aliases += [
                (a, f"arrayExists(x_ -> {amb}, mv)"),
                (name, f"if({a}, arrayMap(t_ -> t_.2, kv), mv)"),
            ]
            self._irregular.append(f"({a} AND arrayExists(t_ -> t_.3, kv))")
            return name
        k = self.s(key)
        i = len(self._value_aliases)
        name, a, m = f"v{i}", f"a{i}", f"m{i}"
        self._value_aliases[key] = name
        self._aliases += [
            (m, f"arrayFilter((x_, k_) -> k_ = {k}, mv, lk)"),  # the field's texts in field_map
            (a, f"arrayExists(x_ -> {amb}, {m})"),
            (name, f"if({a}, arrayMap(t_ -> t_.2, arrayFilter(t_ -> t_.1 = {k}, kv)), {m})"),
        ]
        self._irregular.append(f"({a} AND arrayExists(t_ -> t_.1 = {k} AND t_.3, kv))")
        return name

    def gate(self, gate: LogsourceGate) -> str:
        """The logsource gate (:mod:`citysoc.detection.logsource`); exact for ASCII hints."""
        parts: list[str] = []
        if gate.product is not None:
            product = "multiIf(ls_product != '', lower(ls_product), format = 'evtx_json', 'windows', '')"
            parts.append(f"({product} = '' OR {product} = {self.s(gate.product)})")
        if gate.service is not None:
            implying = sorted(e for e, implied in IMPLIED_SERVICES.items() if gate.service in implied)
            services = [gate.service, *implying]
            parts.append(f"has({self.arr(services)}, lower(ls_service))")
        if gate.category is not None:
            parts.append(f"lower(ls_category) = {self.s(gate.category)}")
        return _and(*parts)

    def prefilter(self, root: Node) -> str:
        req = requirement(root)
        if req is None or not all(lit.isascii() for _, lit in req.atoms):
            return TRUE
        literals = sorted({lit for _, lit in req.atoms})
        fields = [self._multisearch("fields", sorted({text.json_escaped(x) for x in literals}))]
        # isValidASCII first: the class can only occur in non-ASCII text, and the check is much cheaper.
        fields.append(f"(NOT isValidASCII(fields) AND match(fields, {self.s(text.ASCII_FOLDERS_RE2)}))")
        if any(set(lit) <= text.NUMBER_CHARS for lit in literals):
            fields.append("match(fields, '[0-9][eE][+-]?[0-9]')")
        parts = [_or(*fields)]
        if any(f is None for f, _ in req.atoms):  # keywords also search the raw text
            folders = f"(NOT isValidASCII(raw) AND match(raw, {self.s(text.ASCII_FOLDERS_RE2)}))"
            raw = _or(self._multisearch("raw", literals), folders)
            parts.append(_and(self._text_format(), raw))
        return _or(*parts)

    def _multisearch(self, column: str, needles: list[str]) -> str:
        chunks = [needles[i : i + _MULTISEARCH_MAX] for i in range(0, len(needles), _MULTISEARCH_MAX)]
        return _or(*(f"multiSearchAnyCaseInsensitive({column}, {self.arr(c)})" for c in chunks))

    def _text_format(self) -> str:
        return f"has({self.arr(sorted(_TEXT_FORMATS))}, toString(format))"

    # -- condition nodes --------------------------------------------------------------------------------

    def node(self, node: Node) -> Bounds:
        if isinstance(node, AndNode):
            kids = [self.node(c) for c in node.children]
            return Bounds(_and(*(k.upper for k in kids)), _and(*(k.lower for k in kids)))
        if isinstance(node, OrNode):
            kids = [self.node(c) for c in node.children]
            return Bounds(_or(*(k.upper for k in kids)), _or(*(k.lower for k in kids)))
        if isinstance(node, NotNode):
            kid = self.node(node.child)
            return Bounds(_not(kid.lower), _not(kid.upper))
        if not all(f.isascii() for f in node.fields()):
            # lower() folds ASCII only: a non-ASCII field name is left to the engine.
            return Bounds(TRUE, FALSE)
        if isinstance(node, FieldNode):
            return self._field(node)
        if isinstance(node, KeywordNode):
            return self._keyword(node)
        if isinstance(node, NullNode):
            present = self._present(node.field)
            return Bounds(_not(present), _not(present))
        if isinstance(node, ExistsNode):
            present = self._present(node.field)
            cond = present if node.expected else _not(present)
            return Bounds(cond, cond)
        if isinstance(node, FieldRefNode):
            return self._fieldref(node)
        # An unknown node type (a newer engine): SQL cannot say anything, the engine decides.
        return Bounds(TRUE, FALSE)

    def _present(self, key: str) -> str:
        return f"notEmpty({self.values(key)})"

    def _field(self, node: FieldNode) -> Bounds:
        vals = self.values(node.field)
        bounds = [self.value_test(t, "x_") for t in node.tests]
        upper = _or(*(b.upper for b in bounds))
        lower = _or(*(b.lower for b in bounds))
        up = FALSE if upper == FALSE else f"arrayExists(x_ -> {upper}, {vals})"
        low = FALSE if lower == FALSE else f"arrayExists(x_ -> {lower}, {vals})"
        return Bounds(up, low)

    def _keyword(self, node: KeywordNode) -> Bounds:
        """Every value, plus the raw message of text formats (decoded with replacement: invalid UTF-8
        is left to the engine)."""
        on_values = [self.value_test(t, "x_") for t in node.tests]
        on_raw = [self.value_test(t, "raw") for t in node.tests]
        vu, vl = _or(*(b.upper for b in on_values)), _or(*(b.lower for b in on_values))
        ru, rl = _or(*(b.upper for b in on_raw)), _or(*(b.lower for b in on_raw))
        is_text = self._text_format()
        vals = self.values(None)
        upper = _or(
            FALSE if vu == FALSE else f"arrayExists(x_ -> {vu}, {vals})",
            _and(is_text, _or("NOT isValidUTF8(raw)", ru)),
        )
        lower = _or(
            FALSE if vl == FALSE else f"arrayExists(x_ -> {vl}, {vals})",
            _and(is_text, "isValidUTF8(raw)", rl),
        )
        return Bounds(upper, lower)

    def _fieldref(self, node: FieldRefNode) -> Bounds:
        a, b = "lower(a_)", "lower(b_)"
        if node.starts_with and node.ends_with:
            cmp = f"position({a}, {b}) > 0"
        elif node.starts_with:
            cmp = f"startsWith({a}, {b})"
        elif node.ends_with:
            cmp = f"endsWith({a}, {b})"
        else:
            cmp = f"{a} = {b}"
        ascii_pair = "isValidASCII(a_) AND isValidASCII(b_)"
        f, o = self.values(node.field), self.values(node.other)

        def pairs(cond: str) -> str:
            return f"arrayExists(a_ -> arrayExists(b_ -> {cond}, {o}), {f})"

        return Bounds(pairs(f"(NOT ({ascii_pair}) OR {cmp})"), pairs(f"{ascii_pair} AND {cmp}"))

    # -- value tests ---------------------------------------------------------------------------------

    def value_test(self, test: ValueTest, v: str) -> Bounds:
        """Bounds for "value ``v`` (a String expression) passes ``test``"."""
        if isinstance(test, StringSet):
            return self._strings(test, v)
        if isinstance(test, NumberSet):
            return self._number(v, test.numbers, None, 0)
        if isinstance(test, CompareTest):
            return self._number(v, frozenset(), _COMPARE_OPS.get(test.op.__name__), test.reference)
        if isinstance(test, BoolTest):
            guard = f"(isValidASCII({v}) AND NOT match({v}, {self.s(_ODD_SPACE)}))"
            cmp = f"lower({_trim(v)}) = {self.s(test.text)}"
            return Bounds(_or(cmp, _not(guard)), _and(guard, cmp))
        if isinstance(test, RegexTest):
            return self._regex(test.pattern, v)
        if isinstance(test, CidrTest):
            return self._cidr(test.network, v)
        return Bounds(TRUE, FALSE)  # unknown test type: the engine decides

    def _strings(self, t: StringSet, v: str) -> Bounds:
        if t.any_value:
            return Bounds(TRUE, TRUE)
        if t.cased:  # byte-exact on UTF-8: equals/prefix/suffix/substring agree with Python's str
            exact = self._shapes(v, list(t.equals), list(t.prefixes), list(t.suffixes), list(t.contains))
            pats = [f"match({v}, {self.s(text.wildcard_re2(p.pattern))})" for p in t.patterns]
            cond = _or(exact, *pats)
            return Bounds(cond, cond)
        # Case-insensitive: exact on ASCII values (lower == casefold there); needles are casefolded.
        asc = [list(filter(str.isascii, xs)) for xs in (t.equals, t.prefixes, t.suffixes, t.contains)]
        low = f"lower({v})"
        on_ascii = _or(
            self._shapes(low, *asc),
            *(
                f"match({low}, {self.s(text.wildcard_re2(p.pattern))})"
                for p in t.patterns
                if p.pattern.isascii()
            ),
        )
        lower = _and(f"isValidASCII({v})", on_ascii)
        # Non-ASCII values: a safe over-approximation (see citysoc.hunt.text).
        folded = f"lowerUTF8({v})"
        wide: list[str] = [f"match({v}, {self.s(text.ASCII_FOLDERS_RE2)})"]
        all_ascii = all(x.isascii() for x in t.literals()) and all(p.isascii() for p in t.pattern_literals)
        if not all_ascii:
            wide.append(TRUE)
        else:
            wide.append(self._shapes(folded, [], list(t.prefixes), list(t.suffixes), list(t.contains)))
            for lit in t.pattern_literals:
                wide.append(TRUE if not lit else f"position({folded}, {self.s(lit)}) > 0")
        upper = _or(lower, _and(f"NOT isValidASCII({v})", _or(*wide)))
        return Bounds(upper, lower)

    def _shapes(
        self, v: str, equals: list[str], prefixes: list[str], suffixes: list[str], contains: list[str]
    ) -> str:
        parts: list[str] = []
        if equals:
            parts.append(f"has({self.arr(sorted(equals))}, {v})")
        if prefixes:
            parts.append(f"arrayExists(p_ -> startsWith({v}, p_), {self.arr(prefixes)})")
        if suffixes:
            parts.append(f"arrayExists(p_ -> endsWith({v}, p_), {self.arr(suffixes)})")
        for i in range(0, len(contains), _MULTISEARCH_MAX):
            parts.append(f"multiSearchAny({v}, {self.arr(contains[i : i + _MULTISEARCH_MAX])})")
        return _or(*parts)

    def _number(self, v: str, numbers: frozenset[int | float], op: str | None, ref: int | float) -> Bounds:
        """Python's ``to_number`` on ASCII text: ints and floats (surrounding whitespace stripped),
        ``0x`` hex. Decided in SQL for plain decimal text; hex, ``_`` separators, odd whitespace,
        non-ASCII digits and integers beyond 2^53 are left to the engine."""
        refs = [*numbers, ref] if op is not None else list(numbers)
        if any(abs(n) > _MAX_EXACT_INT for n in refs) or (op is None and not numbers):
            return Bounds(TRUE, FALSE)
        trimmed = _trim(v)
        parsed = f"toFloat64OrNull({trimmed})"
        ok = f"(match({trimmed}, {self.s(_NUMBER)}) AND isFinite({parsed}))"
        if op is None:
            cmp = f"has({self.param(sorted(float(n) for n in numbers), 'Array(Float64)')}, {parsed})"
        else:
            cmp = f"{parsed} {op} {self.param(float(ref), 'Float64')}"
        hit = _and(ok, cmp)
        guard = (
            f"(isValidASCII({v}) AND NOT match({v}, {self.s('[_]|' + _ODD_SPACE)})"
            f" AND NOT match({trimmed}, '^0[xX]|^[+-]?[0-9]{{16,}}$'))"
        )
        return Bounds(_or(hit, _not(guard)), _and(guard, hit))

    def _regex(self, pattern: re.Pattern[str], v: str) -> Bounds:
        """``re.search`` vs RE2 ``match``: same answer on ASCII text without a final newline (Python's
        ``$`` also matches before one) and without whitespace only Python's ``\\s`` knows."""
        if not self.regex_in_sql or not text.re2_compatible(pattern.pattern):
            return Bounds(TRUE, FALSE)
        flags = "".join(f for f, bit in (("i", re.I), ("m", re.M), ("s", re.S)) if pattern.flags & bit)
        source = (f"(?{flags})" if flags else "") + pattern.pattern
        hit = f"match({v}, {self.s(source)})"
        guard = f"(isValidASCII({v}) AND NOT match({v}, {self.s(_ODD_SPACE)}) AND NOT endsWith({v}, '\\n'))"
        return Bounds(_or(hit, _not(guard)), _and(guard, hit))

    def _cidr(self, network: ipaddress.IPv4Network | ipaddress.IPv6Network, v: str) -> Bounds:
        """IPv4 networks exactly (strict dotted quads, as Python's ``ipaddress``); IPv6 ones are left
        to the engine for values that look like IPv6 (contain ``:``)."""
        guard = f"(isValidASCII({v}) AND NOT match({v}, {self.s(_ODD_SPACE)}))"
        trimmed = _trim(v)
        if network.version == 6:
            return Bounds(_or(f"position({v}, ':') > 0", _not(guard)), FALSE)
        hit = f"(match({trimmed}, {self.s(_IPV4)}) AND isIPAddressInRange({trimmed}, {self.s(str(network))}))"
        return Bounds(_or(hit, _not(guard)), _and(guard, hit))


_COMPARE_OPS: Final = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "ne": "!="}
