"""Compile a processed pySigma ``SigmaRule`` into a tree of matcher nodes, once.

Contract:

* Input: a :class:`sigma.rule.SigmaRule` whose processing pipeline has ALREADY been applied (field
  mappings, pipeline-added ``Channel``/``EventID`` conditions). Each ``parsed_condition`` is resolved
  by pySigma itself (``SigmaCondition.parse()``: identifiers, ``1 of x*``, ``all of them``, modifiers
  applied to values), and this module only translates the resulting condition objects
  (``ConditionAND/OR/NOT``, ``ConditionFieldEqualsValueExpression``, ``ConditionValueExpression``) and
  value types into :mod:`citysoc.detection.conditions` nodes. Several conditions are OR-ed.
* Output: :class:`CompiledDetection` (root node, referenced fields, index hints). Nothing of the rule's
  YAML is interpreted per event.
* Anything whose semantics are not implemented raises :class:`CompileError` with a reason; the
  engine reports the rule as skipped. A rule is never compiled into something approximately right.

Supported value types: SigmaString (wildcards, escapes), SigmaCasedString (``|cased``), SigmaNumber,
SigmaBool, SigmaNull, SigmaRegularExpression (``|re`` with ``|i``/``|m``/``|s``), SigmaCIDRExpression,
SigmaCompareExpression (``|lt|lte|gt|gte``), SigmaExists, SigmaFieldReference (with
startswith/endswith/contains), SigmaExpansion (``|windash``, ``|base64offset``: OR of variants).
Rejected: SigmaTimestampPart (``|minute`` ...), SigmaQueryExpression, unresolved ``|expand``
placeholders, and non-string keyword values such as CIDR or comparisons.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionItem,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaRegularExpressionFlag,
    SigmaString,
    SigmaTimestampPart,
    SigmaType,
)

from citysoc.detection.conditions import (
    AndNode,
    ExistsNode,
    FieldNode,
    FieldRefNode,
    KeywordNode,
    Node,
    NotNode,
    NullNode,
    make_and,
    make_or,
)
from citysoc.detection.values import (
    BoolTest,
    CidrTest,
    CompareTest,
    CompileError,
    NumberSet,
    RegexTest,
    StringSet,
    ValueTest,
    string_set,
)

__all__ = ["CompileError", "CompiledDetection", "compile_detection", "compile_value"]

_RE_FLAGS = {
    SigmaRegularExpressionFlag.IGNORECASE: re.IGNORECASE,
    SigmaRegularExpressionFlag.MULTILINE: re.MULTILINE,
    SigmaRegularExpressionFlag.DOTALL: re.DOTALL,
}

CHANNEL_FIELD = "channel"
EVENT_ID_FIELD = "eventid"


@dataclass(frozen=True, slots=True)
class CompiledDetection:
    """A rule's detection, compiled.

    ``channels``/``event_ids`` are necessary conditions found as top-level conjuncts (typically added
    by the Windows pipelines): when set, an event whose ``Channel`` (casefolded) / ``EventID`` is not in
    the set cannot match. None means "no such constraint" (the index must then always check the rule).
    ``residual`` is ``root`` without those conjuncts (None: nothing else to check); it may be evaluated
    instead of ``root`` only when the caller has verified every extracted constraint itself.
    """

    root: Node
    fields: tuple[str, ...]
    channels: frozenset[str] | None
    event_ids: frozenset[int] | None
    residual: Node | None


def compile_detection(rule: SigmaRule) -> CompiledDetection:
    """Compile the (already pipeline-processed) rule's conditions. Raises :class:`CompileError`."""
    if rule.errors:
        raise CompileError("; ".join(str(e) for e in rule.errors))
    roots: list[Node] = []
    for cond in rule.detection.parsed_condition:
        try:
            tree = cond.parse()
        except SigmaError as e:
            raise CompileError(f"condition {cond.condition!r}: {e}") from e
        if tree is None:
            raise CompileError(f"condition {cond.condition!r} selects no detection items")
        roots.append(_compile_condition(tree))
    if not roots:
        raise CompileError("rule has no condition")
    root = make_or(roots)
    fields = tuple(dict.fromkeys(root.fields()))
    channels, event_ids, residual = _index_hints(root)
    return CompiledDetection(root, fields, channels, event_ids, residual)


def _compile_condition(
    cond: ConditionItem | ConditionFieldEqualsValueExpression | ConditionValueExpression,
) -> Node:
    if isinstance(cond, ConditionFieldEqualsValueExpression):
        return _compile_field(cond.field, cond.value)
    if isinstance(cond, ConditionValueExpression):
        return _compile_keyword(cond.value)
    if isinstance(cond, (ConditionAND, ConditionOR, ConditionNOT)):
        args = [_compile_condition(a) for a in cond.args if a is not None]
        if not args:
            raise CompileError(f"empty {type(cond).__name__} in condition")
        if isinstance(cond, ConditionNOT):
            if len(args) != 1:
                raise CompileError("NOT with more than one operand")
            return NotNode(args[0])
        return make_and(args) if isinstance(cond, ConditionAND) else make_or(args)
    raise CompileError(f"unsupported condition element {type(cond).__name__}")


def _compile_field(field: str, value: SigmaType) -> Node:
    key = field.casefold()
    if isinstance(value, SigmaExpansion):
        return make_or([_compile_field(field, v) for v in value.values])
    if isinstance(value, SigmaNull):
        return NullNode(key)
    if isinstance(value, SigmaExists):
        return ExistsNode(key, value.exists)
    if isinstance(value, SigmaFieldReference):
        return FieldRefNode(key, value.field.casefold(), value.starts_with, value.ends_with)
    return FieldNode(key, (compile_value(value, keyword=False),))


def _compile_keyword(value: SigmaType) -> Node:
    if isinstance(value, SigmaExpansion):
        return make_or([_compile_keyword(v) for v in value.values])
    return KeywordNode((compile_value(value, keyword=True),))


def compile_value(value: SigmaType, *, keyword: bool) -> ValueTest:
    """One value test. ``keyword``: field-less value, matched as a substring (full-text search)."""
    if isinstance(value, SigmaTimestampPart):  # a SigmaNumber subclass: check first
        raise CompileError("timestamp part modifiers (|minute, |hour, |day, ...) are not supported yet")
    if isinstance(value, SigmaCasedString):  # a SigmaString subclass: check first
        return string_set(value, cased=True, keyword=keyword)
    if isinstance(value, SigmaString):
        return string_set(value, cased=False, keyword=keyword)
    if isinstance(value, SigmaBool):
        if keyword:
            return string_set(SigmaString(str(value.boolean).lower()), cased=False, keyword=True)
        return BoolTest(value.boolean)
    if isinstance(value, SigmaNumber):
        if keyword:
            return string_set(SigmaString(str(value.number)), cased=False, keyword=True)
        return NumberSet(frozenset({value.number}))
    if isinstance(value, SigmaRegularExpression):
        if value.regexp.contains_placeholder():
            raise CompileError("unresolved placeholder in regular expression")
        flags = 0
        for flag in value.flags:
            flags |= _RE_FLAGS[flag]
        try:
            return RegexTest(re.compile(str(value.regexp), flags))
        except re.error as e:
            raise CompileError(f"invalid regular expression {str(value.regexp)!r}: {e}") from e
    if keyword:
        raise CompileError(f"{type(value).__name__} cannot be used as a keyword (field-less value)")
    if isinstance(value, SigmaCIDRExpression):
        return CidrTest(value.network)
    if isinstance(value, SigmaCompareExpression):
        return CompareTest(value)
    raise CompileError(f"unsupported value type {type(value).__name__}")


def _index_hints(root: Node) -> tuple[frozenset[str] | None, frozenset[int] | None, Node | None]:
    """Channel / EventID sets every match must satisfy (top-level conjuncts only), and the rest."""
    conjuncts = root.children if isinstance(root, AndNode) else (root,)
    channels: frozenset[str] | None = None
    event_ids: frozenset[int] | None = None
    rest: list[Node] = []
    for c in conjuncts:
        test = c.tests[0] if isinstance(c, FieldNode) and len(c.tests) == 1 else None
        if isinstance(c, FieldNode) and c.field == CHANNEL_FIELD and channels is None:
            # Only a pure case-insensitive equality set is a usable necessary condition.
            if (
                isinstance(test, StringSet)
                and not test.cased
                and not (test.prefixes or test.suffixes or test.contains or test.patterns)
                and not test.any_value
            ):
                channels = test.equals
                continue
        elif (
            isinstance(c, FieldNode)
            and c.field == EVENT_ID_FIELD
            and event_ids is None
            and isinstance(test, NumberSet)
            and all(float(n).is_integer() for n in test.numbers)
        ):
            event_ids = frozenset(int(n) for n in test.numbers)
            continue
        rest.append(c)
    residual = make_and(rest) if rest else None
    return channels, event_ids, residual
