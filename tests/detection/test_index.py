"""The literal prefilter (``citysoc.detection.index``): never drops a real match.

Property: for generated small rule sets (field and keyword string tests with wildcards, ``|cased``,
numbers, regexes, null/exists, AND/OR/NOT) and generated events (non-ASCII values, characters whose
casefolding changes length, ints, bools, floats, None, lists, raw text for keywords, one field spelled
in two cases), every rule whose node matches the event is among ``RouteIndex.candidates``.
"""

from __future__ import annotations

import re
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sigma.types import SigmaString

from citysoc.detection.conditions import (
    ExistsNode,
    FieldNode,
    KeywordNode,
    Node,
    NotNode,
    NullNode,
    make_and,
    make_or,
)
from citysoc.detection.index import BACKENDS, MIN_LITERAL, RouteIndex, requirement
from citysoc.detection.values import NumberSet, RegexTest, StringSet, required_literals, string_set
from citysoc.detection.view import EventView

# Pieces rules and events are built from, so that generated rules often match generated events.
# Several change length when casefolded (ß -> ss, İ -> i̇, ﬁ -> fi, ẞ -> ss), some fold to ASCII
# (K Kelvin sign -> k), Σ/ς fold alike.
PIECES = (
    "abc",
    "powershell",
    "\\windows\\",
    "straße",
    "STRASSE",
    "İstanbul",
    "ﬁle",
    "FILE",
    "ẞ",
    "\u212aey",
    "key",
    "σίσυφος",
    "ΣΊΣΥΦΟΣ",
    "4688",
    "true",
    "x y",
    "-enc",
    "é",
)
FIELDS = ("commandline", "image", "user", "eventid", "data")
SPELLINGS = {
    "commandline": ("CommandLine", "commandline", "COMMANDLINE"),
    "image": ("Image",),
    "user": ("User", "user"),
    "eventid": ("EventID",),
    "data": ("Data",),
}

CASES = (str, str.upper, str.lower, str.casefold, str.title, str.swapcase)


@st.composite
def texts(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.sampled_from(PIECES), min_size=0, max_size=3))
    case = draw(st.sampled_from(CASES))
    glue = draw(st.sampled_from(("", " ", "\\", "\u0131")))  # dotless i: upper() gives I
    return case(glue.join(parts))


@st.composite
def patterns(draw: st.DrawFn) -> str:
    """A Sigma string: literal pieces with optional wildcards (``*``, ``?``) between and around."""
    parts = draw(st.lists(st.sampled_from(PIECES), min_size=1, max_size=2))
    case = draw(st.sampled_from(CASES))
    wild = st.sampled_from(("", "", "*", "?"))
    out = draw(wild)
    for p in parts:
        out += case(p).replace("\\", "\\\\") + draw(wild)  # a backslash is Sigma's escape character
    return out


@st.composite
def string_tests(draw: st.DrawFn, keyword: bool) -> StringSet:
    tests = [
        string_set(SigmaString(p), cased=draw(st.booleans()), keyword=keyword)
        for p in draw(st.lists(patterns(), min_size=1, max_size=3))
    ]
    merged = tests[0]
    for t in tests[1:]:
        merged = merged.merge(t) or merged
    return merged


@st.composite
def leaves(draw: st.DrawFn) -> Node:
    kind = draw(st.sampled_from(("field", "field", "field", "keyword", "number", "regex", "null", "exists")))
    field = draw(st.sampled_from(FIELDS))
    if kind == "field":
        return FieldNode(field, (draw(string_tests(False)),))
    if kind == "keyword":
        return KeywordNode((draw(string_tests(True)),))
    if kind == "number":
        return FieldNode(
            field, (NumberSet(frozenset(draw(st.sets(st.sampled_from((1, 4688, 0)), min_size=1)))),)
        )
    if kind == "regex":
        regex = draw(
            st.sampled_from(("ab.", "^4", "(?i)key", "(?i)ß\\\\", "stra.e", "\\w+ ?powershell", "(?i)x y"))
        )
        return FieldNode(field, (RegexTest(re.compile(regex)),))
    if kind == "null":
        return NullNode(field)
    return ExistsNode(field, draw(st.booleans()))


def _combine(children: st.SearchStrategy[Node]) -> st.SearchStrategy[Node]:
    kids = st.lists(children, min_size=1, max_size=3)
    return st.one_of(kids.map(make_and), kids.map(make_or), children.map(NotNode))


nodes = st.recursive(leaves(), _combine, max_leaves=6)

scalars = st.one_of(
    texts(),
    texts(),
    st.sampled_from((4688, 1, 0, -7, True, False, 1.0, 2.5, None)),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))


@st.composite
def events(draw: st.DrawFn) -> tuple[dict[str, Any], str]:
    fields: dict[str, Any] = {}
    for f in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=5)):
        for name in draw(st.lists(st.sampled_from(SPELLINGS[f]), min_size=1, max_size=2, unique=True)):
            fields[name] = draw(values)
    if draw(st.booleans()):
        fields["Other"] = draw(values)
    raw = draw(st.one_of(st.just(""), texts()))
    return fields, raw


def _assert_superset(rules: list[Node | None], fields: dict[str, Any], raw: str) -> None:
    """Every matching rule is a candidate, with every scanner; the scanners agree."""
    matching = {i for i, n in enumerate(rules) if n is None or n.match(EventView(fields, raw))}
    answers = []
    for backend in BACKENDS:
        candidates = list(RouteIndex(rules, backend).candidates(EventView(fields, raw)))
        assert candidates == sorted(set(candidates))
        missing = matching - set(candidates)
        assert not missing, (backend, {i: rules[i] for i in missing})
        answers.append(candidates)
    assert all(a == answers[0] for a in answers), dict(zip(BACKENDS, answers, strict=True))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(nodes, st.none()), min_size=1, max_size=6), events())
def test_candidates_contain_every_matching_rule(
    rules: list[Node | None], event: tuple[dict[str, Any], str]
) -> None:
    fields, raw = event
    _assert_superset(rules, fields, raw)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(leaves(), min_size=1, max_size=8), events())
def test_flat_rule_sets_on_one_index(rules: list[Node], event: tuple[dict[str, Any], str]) -> None:
    """Many single-test rules in one index: shared literals, one field's atoms beside another's."""
    fields, raw = event
    _assert_superset(list(rules), fields, raw)


@st.composite
def matching_cases(draw: st.DrawFn) -> tuple[list[Node | None], dict[str, Any], int]:
    """A field rule and an event built to match it (often only after casefolding), among other
    rules and fields (length-changing casefolds before it, ints, lists), and the rule's position."""
    piece = draw(st.sampled_from(PIECES))
    shape = draw(st.sampled_from(("*{}*", "{}*", "*{}", "{}")))
    field = draw(st.sampled_from(FIELDS))
    rule = FieldNode(
        field,
        (string_set(SigmaString(shape.format(piece.replace("\\", "\\\\"))), cased=False, keyword=False),),
    )
    case = draw(st.sampled_from((*CASES, lambda s: s.replace("ss", "ß").replace("SS", "ẞ"))))
    before = draw(texts()) if shape.startswith("*") else ""
    after = draw(texts()) if shape.endswith("*") else ""
    value: Any = before + case(piece) + after
    if not rule.match(EventView({field: value})):
        value = before + piece + after  # this case change does not survive casefolding: plain piece
    if draw(st.booleans()):
        value = [draw(scalars), value]
    fields: dict[str, Any] = {}
    for f in draw(st.lists(st.sampled_from(FIELDS), unique=True, max_size=4)):
        if f != field:
            fields[draw(st.sampled_from(SPELLINGS[f]))] = draw(values)
    fields[draw(st.sampled_from(SPELLINGS[field]))] = value
    others = draw(st.lists(st.one_of(leaves(), st.none()), max_size=4))
    at = draw(st.integers(0, len(others)))
    return [*others[:at], rule, *others[at:]], fields, at


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(matching_cases(), st.one_of(st.just(""), texts()))
def test_rule_built_to_match_is_a_candidate(
    case: tuple[list[Node | None], dict[str, Any], int], raw: str
) -> None:
    rules, fields, at = case
    assert rules[at] is not None and rules[at].match(EventView(fields, raw))
    assert at in RouteIndex(rules).candidates(EventView(fields, raw))
    _assert_superset(rules, fields, raw)


# ------------------------------------------------------------------ examples that once mattered


def _cands(rules: list[Node | None], fields: dict[str, Any], raw: str = "") -> list[int]:
    """The candidates, the same with every scanner."""
    answers = {b: list(RouteIndex(rules, b).candidates(EventView(fields, raw))) for b in BACKENDS}
    first = next(iter(answers.values()))
    assert all(a == first for a in answers.values()), answers
    return first


def _field(field: str, pattern: str, cased: bool = False) -> FieldNode:
    return FieldNode(field, (string_set(SigmaString(pattern), cased=cased, keyword=False),))


def test_length_changing_casefold_before_the_match_does_not_shift_fields() -> None:
    # "ß" folds to "ss" and "İ" to "i̇": a scan that lowercased the joined text and used the original
    # value lengths to find field boundaries would credit the literal to the wrong field.
    rule = _field("commandline", "*powershell*")
    fields = {"A": "ßßßßßßßßßß" * 3, "B": "İİİİİİİ", "CommandLine": "x POWERSHELL y"}
    _assert_superset([rule], fields, "")
    assert _cands([rule], fields) == [0]


def test_casefold_only_matches_are_candidates() -> None:
    rules: list[Node | None] = [
        _field("user", "*strasse*"),  # value "STRAẞE" casefolds to "strasse"
        _field("user", "*key*"),  # value "\u212aEY" (Kelvin sign) casefolds to "key"
        _field("user", "*σίσυφος"),
    ]
    fields = {"User": ["nothing", "STRAẞE"], "user": "\u212aEY", "USER": "ΣΊΣΥΦΟΣ"}
    assert _cands(rules, fields) == [0, 1, 2]


def test_cased_rule_is_found_through_its_folded_literal() -> None:
    rule = _field("image", "*\\PowerShell.exe", cased=True)
    assert rule.match(EventView({"Image": "C:\\x\\PowerShell.exe"}))
    assert _cands([rule], {"Image": "C:\\x\\PowerShell.exe"}) == [0]
    assert _cands([rule], {"Image": "C:\\x\\cmd.exe"}) == []


def test_keywords_see_ints_lists_and_the_raw_text() -> None:
    rule = KeywordNode((string_set(SigmaString("4688"), cased=False, keyword=True),))
    kw_text = KeywordNode((string_set(SigmaString("mimikatz"), cased=False, keyword=True),))
    rules: list[Node | None] = [rule, kw_text]
    assert _cands(rules, {"EventID": 4688}) == [0]
    assert _cands(rules, {"X": [None, 1, "a MIMIKATZ b"]}) == [1]
    assert _cands(rules, {"X": 2.5, "Y": ["4688"]}) == [0]
    assert _cands(rules, {"X": "nothing"}, "raw text with Mimikatz") == [1]
    assert _cands(rules, {"X": "nothing"}) == []


def test_atoms_on_absent_fields_make_no_candidate() -> None:
    rules: list[Node | None] = [_field("commandline", "*mimikatz*")]
    assert _cands(rules, {"Image": "mimikatz.exe"}) == []  # no CommandLine at all
    assert _cands(rules, {"Image": "x", "commandLINE": "MIMIKATZ"}) == [0]
    assert _cands(rules, {"Image": "mimikatz.exe", "CommandLine": "x"}) == []  # Image is not scanned


def test_separator_inside_values_does_not_hide_a_match() -> None:
    rules: list[Node | None] = [_field("commandline", "*mimikatz*")]
    for value in ("\x00mimikatz", "a\x00mimikatz\x00", "mimi\x00mimikatz"):
        assert _cands(rules, {"Data": "\x00", "CommandLine": value}) == [0], value


def test_required_literals_of_regular_expressions() -> None:
    def req(pattern: str) -> tuple[str, ...]:
        return required_literals(re.compile(pattern))

    assert req(r"\w+`(?:\w+|-|.)`[\w+|\s]") == ("`",)
    assert req(r'"(?:\{\d\})+"\s*-f') == ('"', "-f")
    assert req(r"(?i)\$\{`?e`?n") == ("${",)  # case-insensitive: only characters without case count
    assert req("(?i)key") == ()
    assert req("abc(?i:def)ghi|x") == ()  # a top-level alternative: nothing is required
    assert req("abc(?i:def)ghi") == ("abc", "ghi")
    rule = FieldNode("commandline", (RegexTest(re.compile(r"Invoke-\w+ -enc")),))
    assert requirement(rule) is not None and requirement(rule).atoms == {("commandline", "invoke-")}
    assert rule.match(EventView({"CommandLine": "x Invoke-Foo -enc y"}))
    assert not rule.match(EventView({"CommandLine": "x invoke-Foo -enc y"}))  # case-sensitive regex
    assert _cands([rule], {"CommandLine": "INVOKE-Foo -enc"}) == [0]  # an extra candidate, allowed


def test_requirement_algebra() -> None:
    long_ = _field("commandline", "*sekurlsa::logonpasswords*")
    short = _field("image", "*\\cmd.exe")
    no_literal = _field("image", "*")
    and_req = requirement(make_and([short, long_]))
    assert and_req is not None and and_req.atoms == {("commandline", "sekurlsa::logonpasswords")}
    or_req = requirement(make_or([short, long_]))
    assert or_req is not None and or_req.atoms == {
        ("commandline", "sekurlsa::logonpasswords"),
        ("image", "\\cmd.exe"),
    }
    assert requirement(make_or([short, no_literal])) is None  # one branch without a literal
    assert requirement(make_and([short, no_literal])) is not None  # AND: any child is enough
    assert requirement(NotNode(long_)) is None
    assert requirement(_field("image", "a" * (MIN_LITERAL - 1))) is None
