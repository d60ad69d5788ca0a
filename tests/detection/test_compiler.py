"""Compiler semantics: every supported value type / modifier, and the rejections.

Rules here use ``product: test`` so no processing pipeline is involved: this is the compiler alone.
"""

from __future__ import annotations

import base64
import textwrap
from typing import Any

import pytest
from sigma.rule import SigmaRule

from citysoc.detection.compiler import CompiledDetection, CompileError, compile_detection
from citysoc.detection.conditions import AndNode, FieldNode, OrNode
from citysoc.detection.values import StringSet
from citysoc.detection.view import EventView


def compile_yaml(detection: str) -> CompiledDetection:
    text = "title: t\nlogsource:\n  product: test\ndetection:\n" + textwrap.indent(
        textwrap.dedent(detection).strip("\n"), "  "
    )
    return compile_detection(SigmaRule.from_yaml(text))


def matches(detection: str, fields: dict[str, Any], raw: str = "") -> bool:
    return compile_yaml(detection).root.match(EventView(fields, raw))


# ---------------------------------------------------------------------------------------- strings

PLAIN = r"""
sel:
  Image: 'C:\Windows\System32\cmd.exe'
condition: sel
"""


def test_plain_string_is_case_insensitive_equality() -> None:
    assert matches(PLAIN, {"Image": r"c:\windows\system32\CMD.EXE"})
    assert not matches(PLAIN, {"Image": r"C:\Windows\System32\cmd.exe.bak"})
    assert not matches(PLAIN, {"Image": r"D:\C:\Windows\System32\cmd.exe"})


def test_field_names_are_case_insensitive() -> None:
    assert matches(PLAIN, {"IMAGE": r"C:\Windows\System32\cmd.exe"})
    assert matches("sel:\n  commandline|contains: whoami\ncondition: sel", {"CommandLine": "WHOAMI /all"})


@pytest.mark.parametrize(
    ("modifier", "value", "yes", "no"),
    [
        ("contains", "mimikatz", "C:\\tools\\MimiKatz.exe", "C:\\tools\\mimi.exe"),
        ("startswith", "C:\\Users\\", "c:\\users\\bob\\a.exe", "D:\\c:\\users\\a.exe"),
        ("endswith", "\\rundll32.exe", "C:\\Windows\\RUNDLL32.EXE", "C:\\rundll32.exe.mui"),
    ],
)
def test_contains_startswith_endswith(modifier: str, value: str, yes: str, no: str) -> None:
    det = f"sel:\n  Image|{modifier}: '{value}'\ncondition: sel"
    assert matches(det, {"Image": yes})
    assert not matches(det, {"Image": no})


def test_wildcards_multi_and_single() -> None:
    det = "sel:\n  CommandLine: '*net* user ?dmin*'\ncondition: sel"
    assert matches(det, {"CommandLine": "C:\\net.exe user Admin /add"})
    assert matches(det, {"CommandLine": "net user xdmin"})
    assert not matches(det, {"CommandLine": "net user dmin"})  # ? needs exactly one character
    assert matches("sel:\n  a: 'x*y'\ncondition: sel", {"a": "x\ny"})  # * spans newlines


def test_escaped_wildcards_are_literal() -> None:
    det = r"""
sel:
  a: 'a\*b\?c'
condition: sel
"""
    assert matches(det, {"a": "A*B?C"})
    assert not matches(det, {"a": "axbyc"})


def test_backslash_escapes_follow_pysigma() -> None:
    # A backslash before an ordinary character is literal; "\\" is one escaped backslash.
    det = r"""
sel:
  a|endswith: 'C:\Temp\'
  b: '\\\\srv\share'
condition: sel
"""
    assert matches(det, {"a": "x c:\\temp\\", "b": "\\\\srv\\share"})
    assert not matches(det, {"a": "x c:\\temp", "b": "\\\\srv\\share"})
    assert not matches(det, {"a": "x c:\\temp\\", "b": "\\srv\\share"})


def test_lone_wildcard_matches_any_present_value() -> None:
    det = "sel:\n  a: '*'\ncondition: sel"
    assert matches(det, {"a": ""})
    assert matches(det, {"a": 0})
    assert not matches(det, {})


def test_cased_modifier_is_case_sensitive() -> None:
    det = "sel:\n  a|cased|contains: 'Secret'\ncondition: sel"
    assert matches(det, {"a": "xSecretx"})
    assert not matches(det, {"a": "xsecretx"})


def test_value_lists_are_or_and_all_makes_them_and() -> None:
    any_det = "sel:\n  a|contains: [foo, bar]\ncondition: sel"
    all_det = "sel:\n  a|contains|all: [foo, bar]\ncondition: sel"
    assert matches(any_det, {"a": "xbarx"})
    assert not matches(all_det, {"a": "xbarx"})
    assert matches(all_det, {"a": "bar then FOO"})


def test_or_of_same_field_is_merged_into_one_field_node() -> None:
    root = compile_yaml("sel:\n  a|endswith: [x, y, z]\n  b: 1\ncondition: sel").root
    assert isinstance(root, AndNode)
    nodes = root.children
    a = next(n for n in nodes if isinstance(n, FieldNode) and n.field == "a")
    assert len(a.tests) == 1 and isinstance(a.tests[0], StringSet)
    assert a.tests[0].suffixes == ("x", "y", "z")


# ------------------------------------------------------------------------------ null / absent / ""


def test_null_matches_absent_and_json_null_only() -> None:
    det = "sel:\n  a: null\ncondition: sel"
    assert matches(det, {})
    assert matches(det, {"a": None})
    assert not matches(det, {"a": ""})
    assert not matches(det, {"a": "x"})


def test_empty_string_matches_empty_value_only() -> None:
    det = "sel:\n  a: ''\ncondition: sel"
    assert matches(det, {"a": ""})
    assert not matches(det, {})
    assert not matches(det, {"a": "x"})


def test_absent_field_is_false_and_not_over_it_is_true() -> None:
    det = """
sel:
  a: x
filter:
  b: y
condition: sel and not filter
"""
    assert matches(det, {"a": "x"})  # b absent: filter false, not filter true
    assert not matches(det, {"a": "x", "b": "Y"})
    assert not matches(det, {"b": "z"})


def test_exists_modifier() -> None:
    assert matches("sel:\n  a|exists: true\ncondition: sel", {"a": ""})
    assert not matches("sel:\n  a|exists: true\ncondition: sel", {"a": None})
    assert matches("sel:\n  a|exists: false\ncondition: sel", {"b": 1})


# --------------------------------------------------------------------------------- conditions


def test_one_of_all_of_and_not() -> None:
    det = """
sel_a:
  a: 1
sel_b:
  b: 2
filter:
  c: 3
condition: 1 of sel_* and not filter
"""
    assert matches(det, {"b": 2})
    assert not matches(det, {"b": 2, "c": 3})
    assert not matches(det, {"d": 1})
    all_det = det.replace("1 of sel_*", "all of sel_*")
    assert not matches(all_det, {"b": 2})
    assert matches(all_det, {"a": 1, "b": 2})


def test_all_of_them_and_precedence() -> None:
    assert matches("x:\n  a: 1\ny:\n  b: 2\ncondition: all of them", {"a": 1, "b": 2})
    assert not matches("x:\n  a: 1\ny:\n  b: 2\ncondition: all of them", {"a": 1})
    # and binds tighter than or
    det = "x:\n  a: 1\ny:\n  b: 2\nz:\n  c: 3\ncondition: x or y and z"
    assert matches(det, {"a": 1})
    assert not matches(det, {"b": 2})
    assert not matches(det.replace("x or y and z", "(x or y) and z"), {"a": 1})


def test_list_of_maps_is_or() -> None:
    det = """
sel:
  - a: 1
  - b: 2
condition: sel
"""
    assert matches(det, {"b": "2"})
    assert not matches(det, {"c": 2})


def test_several_conditions_are_or() -> None:
    det = "x:\n  a: 1\ny:\n  b: 2\ncondition:\n  - x\n  - y"
    assert matches(det, {"b": 2})


# ------------------------------------------------------------------------------------- keywords


def test_keywords_search_all_values_and_raw_case_insensitively() -> None:
    det = """
keywords:
  - 'Failed password'
  - 'maximum authentication attempts'
condition: keywords
"""
    assert matches(det, {"message": "sshd: FAILED PASSWORD for root"})
    assert matches(det, {"other": 1}, raw="error: maximum authentication attempts exceeded")
    assert not matches(det, {"message": "Accepted password"}, raw="Accepted password")


def test_keyword_with_all_and_wildcard() -> None:
    det = """
keywords:
  '|all':
    - 'sudo'
    - 'COMMAND=*bash'
condition: keywords
"""
    assert matches(det, {"app": "sudo", "message": "alice : COMMAND=/bin/bash -i"})
    assert not matches(det, {"message": "alice : COMMAND=/bin/bash -i"})


def test_number_keyword_is_text() -> None:
    assert matches("k:\n  - 4625\ncondition: k", {"msg": "event 4625 logged"})


# ------------------------------------------------------------------------------ numbers / bools


def test_number_matches_int_float_and_numeric_string() -> None:
    det = "sel:\n  EventID: 4688\ncondition: sel"
    assert matches(det, {"EventID": 4688})
    assert matches(det, {"EventID": "4688"})
    assert matches(det, {"EventID": 4688.0})
    assert not matches(det, {"EventID": 46880})
    assert not matches(det, {"EventID": "x4688"})


def test_string_rule_value_matches_number_event_value() -> None:
    assert matches("sel:\n  LogonType: '3'\ncondition: sel", {"LogonType": 3})


def test_hex_strings_compare_numerically() -> None:
    assert matches("sel:\n  Status: 0x10\ncondition: sel", {"Status": "0x10"})  # YAML reads 0x10 as 16


def test_bool_values() -> None:
    det = "sel:\n  Initiated: true\ncondition: sel"
    assert matches(det, {"Initiated": True})
    assert matches(det, {"Initiated": "TRUE"})
    assert not matches(det, {"Initiated": "false"})
    assert matches("sel:\n  Initiated: 'true'\ncondition: sel", {"Initiated": True})


def test_event_lists_match_any_element() -> None:
    det = "sel:\n  Tags|contains: admin\ncondition: sel"
    assert matches(det, {"Tags": ["users", "domain admins"]})
    assert not matches(det, {"Tags": ["users", None]})
    assert matches("sel:\n  Ports: 445\ncondition: sel", {"Ports": [139, "445"]})


@pytest.mark.parametrize(
    ("mod", "value", "yes", "no"),
    [("gt", 5, 6, 5), ("gte", 5, 5, 4), ("lt", 5, "4", 5), ("lte", 5, 5.0, 5.5)],
)
def test_numeric_comparisons(mod: str, value: int, yes: Any, no: Any) -> None:
    det = f"sel:\n  n|{mod}: {value}\ncondition: sel"
    assert matches(det, {"n": yes})
    assert not matches(det, {"n": no})
    assert not matches(det, {"n": "many"})


# ------------------------------------------------------------------------ regex / cidr / fieldref


def test_regex_is_case_sensitive_search_and_flags_apply() -> None:
    det = "sel:\n  a|re: 'Invoke-[A-Z]\\w+'\ncondition: sel"
    assert matches(det, {"a": "x Invoke-Mimikatz y"})
    assert not matches(det, {"a": "x invoke-mimikatz y"})
    assert matches("sel:\n  a|re|i: '^invoke-'\ncondition: sel", {"a": "INVOKE-x"})
    assert matches("sel:\n  a|re|m: '^b$'\ncondition: sel", {"a": "a\nb\nc"})
    assert matches("sel:\n  a|re|s: 'a.c'\ncondition: sel", {"a": "a\nc"})
    assert not matches("sel:\n  a|re: 'a.c'\ncondition: sel", {"a": "a\nc"})


def test_cidr_ipv4_and_ipv6() -> None:
    det = "sel:\n  ip|cidr: ['10.0.0.0/8', 'fe80::/10']\ncondition: sel"
    assert matches(det, {"ip": "10.1.2.3"})
    assert matches(det, {"ip": "FE80::1"})
    assert not matches(det, {"ip": "11.0.0.1"})
    assert not matches(det, {"ip": "not an ip"})


def test_fieldref_equality_and_endswith() -> None:
    det = "sel:\n  a|fieldref: b\ncondition: sel"
    assert matches(det, {"a": "X", "b": "x"})
    assert not matches(det, {"a": "x", "b": "y"})
    assert not matches(det, {"a": "x"})
    ew = "sel:\n  Image|fieldref|endswith: OriginalFileName\ncondition: sel"
    assert matches(ew, {"Image": "C:\\w\\cmd.exe", "OriginalFileName": "Cmd.Exe"})


# ------------------------------------------------------------------ expansions (windash, base64)


def test_windash_expands_dash_and_slash_variants() -> None:
    det = "sel:\n  CommandLine|windash|contains: ' -enc '\ncondition: sel"
    for cli in ("p -enc x", "p /enc x", "p \u2013enc x", "p \u2014enc x", "p \u2015enc x"):
        assert matches(det, {"CommandLine": cli}), cli
    assert not matches(det, {"CommandLine": "p +enc x"})


def test_windash_variants_stay_or_inside_all() -> None:
    det = "sel:\n  c|windash|contains|all: [' -a ', ' -b ']\ncondition: sel"
    assert matches(det, {"c": "x /a -b "})
    assert not matches(det, {"c": "x /a  "})


def test_base64_and_base64offset() -> None:
    b64 = base64.b64encode(b"http://evil").decode()
    assert matches("sel:\n  a|base64: 'http://evil'\ncondition: sel", {"a": b64})
    det = "sel:\n  a|base64offset|contains: 'Invoke-Expression'\ncondition: sel"
    for prefix in (b"", b"x", b"xy"):
        encoded = base64.b64encode(prefix + b"Invoke-Expression(foo)").decode()
        assert matches(det, {"a": f"powershell -e {encoded}"}), prefix


def test_wide_base64offset() -> None:
    det = "sel:\n  a|wide|base64offset|contains: 'ping'\ncondition: sel"
    encoded = base64.b64encode("cmd /c ping x".encode("utf-16le")).decode()
    assert matches(det, {"a": encoded})


# ------------------------------------------------------------------------------------ rejections


@pytest.mark.parametrize(
    ("detection", "reason"),
    [
        ("sel:\n  a|expand: '%admins%'\ncondition: sel", "placeholder"),
        ("sel:\n  t|minute: 5\ncondition: sel", "timestamp"),
        ("sel:\n  '|cidr': 10.0.0.0/8\ncondition: sel", "keyword"),
    ],
)
def test_unsupported_constructs_raise_compile_error(detection: str, reason: str) -> None:
    with pytest.raises(CompileError, match=reason):
        compile_yaml(detection)


def test_index_hints_and_residual() -> None:
    d = compile_yaml("sel:\n  Channel: Security\n  EventID: [4624, 4625]\n  a: 1\ncondition: sel")
    assert d.channels == frozenset({"security"})
    assert d.event_ids == frozenset({4624, 4625})
    assert isinstance(d.residual, FieldNode) and d.residual.field == "a"
    # An OR at the top gives no necessary condition.
    d = compile_yaml("x:\n  Channel: Security\ny:\n  a: 1\ncondition: x or y")
    assert isinstance(d.root, OrNode) and d.channels is None and d.event_ids is None


def test_matched_field_values_are_truncated() -> None:
    view = EventView({"CommandLine": "x" * 5000, "Other": "y"})
    out = view.matched_fields(["commandline", "missing"], limit=1024)
    assert list(out) == ["CommandLine"] and len(out["CommandLine"]) == 1024


def test_neq_negates_the_item() -> None:
    det = "sel:\n  a: x\n  b|neq: y\ncondition: sel"
    assert matches(det, {"a": "x", "b": "z"})
    assert matches(det, {"a": "x"})  # absent b: the negated item is true
    assert not matches(det, {"a": "x", "b": "Y"})


def test_wide_and_utf16_modifiers() -> None:
    assert matches("sel:\n  a|wide|contains: 'ab'\ncondition: sel", {"a": "xa\x00b\x00x"})
    assert matches("sel:\n  a|utf16be|contains: 'ab'\ncondition: sel", {"a": "x\x00a\x00bx"})
    assert matches("sel:\n  a|utf16|startswith: 'ab'\ncondition: sel", {"a": "\ufeffa\x00b\x00x"})
