"""Rule authoring checks behind ``citysoc rules test`` and ``citysoc rules check`` (pure data out).

``test_rules(paths)``: every rule file ``X.yml``/``X.yaml`` under ``paths`` is loaded on its own and run
against its samples beside it:

* ``X.tp.jsonl`` - true positives: every line must produce a hit of each rule in ``X.yml``;
* ``X.tn.jsonl`` - true negatives (optional): no line may produce a hit of any rule in ``X.yml``.

A rule without a (non-empty) tp file fails with "no true-positive samples". A rule that does not load
fails with the load error. One :class:`RuleTestResult` per rule (per file when nothing loaded).

Sample line: a JSON object ``{"fields": {...}, "logsource": {"product", "service", "category"},
"raw": "...", "format": "..."}``; ``raw`` and ``format`` are optional (format defaults to ``evtx_json``
for product windows, else ``unknown``). Blank lines are ignored. The envelope values (ids, times,
agency) are fixed dummies.

``check_rules(paths)``: pySigma's built-in validators plus the SigmaHQ validators (as ``sigma check``
runs them, all rules through one validator set so uniqueness checks work), plus "loads and compiles in
this engine". Validators that need downloaded data (MITRE ATT&CK / D3FEND, SigmaHQ taxonomy) are
excluded by default (:data:`NETWORK_VALIDATORS`) so the check is offline and deterministic; a validator
that crashes is reported once as a ``validator_failed`` issue and disabled for the run, never raised.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Literal, cast

import orjson
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule
from sigma.validators.base import SigmaRuleValidator, SigmaValidationIssue
from sigma.validators.core import validators as core_validators
from sigma.validators.sigmahq import validators as sigmahq_validators

from citysoc.core.event import FORMATS, Event, Format, Logsource, stable_id
from citysoc.detection.engine import Engine, LoadError, rule_files

Severity = Literal["error", "high", "medium", "low"]

NETWORK_VALIDATORS: Final = frozenset(
    {
        "attacktag",
        "d3_fendtag",
        "sigmahq_tags_techniques_without_tactics",
        "sigmahq_category_event_id",
        "sigmahq_category_windows_provider_name",
        "sigmahq_fieldname_cast",
        "sigmahq_invalid_fieldname",
        "sigmahq_redundant_field",
        "sigmahq_filename_prefix",
        "sigmahq_logsource_unknown",
    }
)
"""Validators that download MITRE / SigmaHQ data on first use (30 s timeouts, fail offline)."""

_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class RuleTestResult:
    path: Path
    rule_id: str | None
    title: str
    ok: bool
    tp_total: int
    tp_matched: int
    tn_total: int
    tn_hits: int
    failures: tuple[str, ...]
    """Human-readable reasons, e.g. ``"X.tp.jsonl:3: true positive not detected"``; empty when ok."""

    @property
    def summary(self) -> str:
        """One line for the CLI: counts, then the failures."""
        head = (
            f"{self.title or self.rule_id or '?'}: tp {self.tp_matched}/{self.tp_total}, "
            f"tn {self.tn_total - self.tn_hits}/{self.tn_total}"
        )
        return head if self.ok else head + " - " + "; ".join(self.failures)


@dataclass(frozen=True, slots=True)
class Issue:
    path: Path | None
    rule_id: str | None
    severity: Severity
    code: str
    """Validator issue class name, or ``load_error`` / ``validator_failed``."""
    message: str


# ------------------------------------------------------------------------------------------ samples


def sample_event(obj: object, source: str) -> Event:
    """Event from one sample object (see module doc). Raises ValueError when malformed."""
    if not isinstance(obj, dict):
        raise ValueError("sample must be a JSON object")
    fields = obj.get("fields")
    if not isinstance(fields, dict):
        raise ValueError('sample needs a "fields" object')
    ls = obj.get("logsource") or {}
    if not isinstance(ls, dict):
        raise ValueError('"logsource" must be an object')
    raw = obj.get("raw") or ""
    if not isinstance(raw, str):
        raise ValueError('"raw" must be a string')
    product = ls.get("product")
    fmt = obj.get("format") or ("evtx_json" if product == "windows" else "unknown")
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    return Event(
        event_id=stable_id("sample", source),
        received_at=_EPOCH,
        event_time=_EPOCH,
        agency="sample",
        system="sample",
        source_host=str(fields.get("hostname") or fields.get("Computer") or ""),
        source_ip="",
        transport="replay",
        format=cast(Format, fmt),
        raw=raw.encode("utf-8"),
        fields=fields,
        logsource=Logsource(product, ls.get("service"), ls.get("category")),
    )


def _read_samples(path: Path) -> tuple[list[tuple[str, Event]], list[str]]:
    """(``[(location, event)]``, errors) for a JSONL sample file."""
    samples: list[tuple[str, Event]] = []
    errors: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        return [], [f"{path.name}: cannot read: {e}"]
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        try:
            samples.append((where, sample_event(orjson.loads(line), f"{path}:{n}")))
        except (orjson.JSONDecodeError, ValueError) as e:
            errors.append(f"{where}: bad sample: {e}")
    return samples, errors


def _samples_path(rule_path: Path, kind: str) -> Path:
    return rule_path.with_name(f"{rule_path.stem}.{kind}.jsonl")


def test_rules(paths: Sequence[Path]) -> list[RuleTestResult]:
    """Run every rule file's tp/tn samples (see module doc)."""
    results: list[RuleTestResult] = []
    errors: list[LoadError] = []
    files = rule_files(paths, errors)
    results.extend(RuleTestResult(e.path, None, "", False, 0, 0, 0, 0, (e.reason,)) for e in errors)
    for path in files:
        results.extend(_test_file(path))
    return results


test_rules.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name


def _test_file(path: Path) -> list[RuleTestResult]:
    engine = Engine.load([path])
    out = [
        RuleTestResult(e.path, e.rule_id, e.title, False, 0, 0, 0, 0, (f"does not load: {e.reason}",))
        for e in engine.errors
    ]
    tp_path, tn_path = _samples_path(path, "tp"), _samples_path(path, "tn")
    tp, tp_errors = _read_samples(tp_path) if tp_path.is_file() else ([], [])
    tn, tn_errors = _read_samples(tn_path) if tn_path.is_file() else ([], [])
    tp_hits = [(where, {h.rule.rule_id for h in engine.match(ev)}) for where, ev in tp]
    tn_hits = [(where, {h.rule.rule_id for h in engine.match(ev)}) for where, ev in tn]
    for rule in engine.rules:
        failures = [*tp_errors, *tn_errors]
        if not tp and not tp_errors:
            failures.append(f"no true-positive samples ({tp_path.name} missing or empty)")
        missed = [where for where, ids in tp_hits if rule.rule_id not in ids]
        false_pos = [where for where, ids in tn_hits if rule.rule_id in ids]
        failures.extend(f"{where}: true positive not detected" for where in missed)
        failures.extend(f"{where}: true negative detected" for where in false_pos)
        out.append(
            RuleTestResult(
                path=path,
                rule_id=rule.rule_id,
                title=rule.title,
                ok=not failures,
                tp_total=len(tp),
                tp_matched=len(tp) - len(missed),
                tn_total=len(tn),
                tn_hits=len(false_pos),
                failures=tuple(failures),
            )
        )
    return out


# ------------------------------------------------------------------------------------------- checks


def _validator_classes(exclude: Collection[str]) -> dict[str, type[SigmaRuleValidator]]:
    known: dict[str, type[SigmaRuleValidator]] = {**core_validators, **sigmahq_validators}
    return {name: cls for name, cls in sorted(known.items()) if name not in exclude}


def _rule_path(rule: SigmaRule | SigmaCorrelationRule) -> Path | None:
    return rule.source.path if rule.source is not None else None


def _rule_id(rule: SigmaRule | SigmaCorrelationRule) -> str | None:
    return str(rule.id) if rule.id is not None else None


def _issue_message(issue: SigmaValidationIssue) -> str:
    extra = [
        f"{f.name}={getattr(issue, f.name)}"
        for f in dataclasses.fields(issue)
        if f.name not in ("rules", "severity", "description") and getattr(issue, f.name)
    ]
    return " ".join([issue.description, *extra])


def _from_validation(issue: SigmaValidationIssue) -> Iterable[Issue]:
    severity = cast(Severity, issue.severity.name.lower())
    for rule in issue.rules:
        yield Issue(_rule_path(rule), _rule_id(rule), severity, type(issue).__name__, _issue_message(issue))


def check_rules(paths: Sequence[Path], exclude: Collection[str] = NETWORK_VALIDATORS) -> list[Issue]:
    """Validator and engine issues for every rule under ``paths`` (see module doc)."""
    issues: list[Issue] = []
    load_errors: list[LoadError] = []
    sources: list[tuple[Path, str]] = []
    for f in rule_files(paths, load_errors):
        try:
            sources.append((f, f.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as e:
            load_errors.append(LoadError(f, None, f"cannot read file: {e}"))

    # 1. pySigma parsing + validators, over the original (unprocessed) rules.
    valid: list[SigmaRule | SigmaCorrelationRule] = []
    broken: set[tuple[Path, str | None]] = set()
    for path, text in sources:
        try:
            collection = SigmaCollection.from_yaml(
                text, collect_errors=True, source=SigmaRuleLocation(path), resolve_references=False
            )
        except Exception as e:  # same isolation as Engine.load: report, continue with other files
            issues.append(Issue(path, None, "error", "load_error", f"cannot parse file: {e}"))
            broken.add((path, None))
            continue
        for rule in collection.rules:
            if rule.errors:
                for err in rule.errors:
                    issues.append(Issue(path, _rule_id(rule), "error", type(err).__name__, str(err)))
                broken.add((path, _rule_id(rule)))
                continue
            if isinstance(rule, SigmaRule):
                try:
                    for cond in rule.detection.parsed_condition:
                        cond.parse()
                except SigmaError as e:
                    issues.append(Issue(path, _rule_id(rule), "error", type(e).__name__, str(e)))
                    broken.add((path, _rule_id(rule)))
                    continue
            valid.append(rule)
    issues.extend(_run_validators(valid, exclude))

    # 2. Does it load and compile in this engine? (skip what already failed to parse above)
    engine = Engine.from_sources(sources, load_errors)
    for load_err in engine.errors:
        if (load_err.path, load_err.rule_id) in broken or (load_err.path, None) in broken:
            continue
        issues.append(Issue(load_err.path, load_err.rule_id, "error", "load_error", load_err.reason))
    return issues


def _run_validators(
    rules: Sequence[SigmaRule | SigmaCorrelationRule], exclude: Collection[str]
) -> list[Issue]:
    issues: list[Issue] = []
    validators: list[tuple[str, Any]] = []
    for name, cls in _validator_classes(exclude).items():
        try:
            validators.append((name, cls()))
        except Exception as e:
            issues.append(Issue(None, None, "low", "validator_failed", f"{name}: cannot start: {e}"))
    failed: set[str] = set()
    for rule in rules:
        for name, validator in validators:
            if name in failed:
                continue
            try:
                found: list[SigmaValidationIssue] = validator.validate(rule)
            except Exception as e:  # one crashing validator must not hide the others' findings
                # Disabled after its first failure: data downloads would otherwise be retried per rule.
                failed.add(name)
                issues.append(Issue(None, None, "low", "validator_failed", f"{name} disabled: {e}"))
                continue
            for issue in found:
                issues.extend(_from_validation(issue))
    for name, validator in validators:
        if name in failed:
            continue
        try:
            for issue in validator.finalize():
                issues.extend(_from_validation(issue))
        except Exception as e:
            issues.append(Issue(None, None, "low", "validator_failed", f"{name}: finalize: {e}"))
    return issues
