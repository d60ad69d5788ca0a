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
agency) are fixed dummies unless the line sets ``"time"`` (ISO 8601) or ``"agency"``.

Files with correlation rules (a document with ``correlation:``) are loaded together with every other
rule file of the run, so they can reference base rules in other files, and their samples are
*sequences*: consecutive lines with the same ``"sequence"`` label (default: the whole file) are fed in
order, each line's ``"time"`` (default: one second after the previous line) as event time, through
the base rules and the correlation state machine (:mod:`citysoc.detection.correlation`). In
``X.tp.jsonl`` each sequence must make each correlation rule of ``X.yml`` fire, and gt/gte rules not
before the sequence's last line; in ``X.tn.jsonl`` no sequence may make one fire (windows are closed
at the end of each sequence, so lt/lte/eq/neq rules are decided too). One result per correlation
rule, counting sequences; base rules defined in a correlation file get no separate result.

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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final, Literal, cast

import orjson
import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule
from sigma.validators.base import SigmaRuleValidator, SigmaValidationIssue
from sigma.validators.core import validators as core_validators
from sigma.validators.sigmahq import validators as sigmahq_validators

from citysoc.core.event import FORMATS, Event, Format, Logsource, stable_id, utc
from citysoc.detection.correlation import CorrelationEngine
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
    time, agency = obj.get("time"), obj.get("agency") or "sample"
    if time is not None and not isinstance(time, str):
        raise ValueError('"time" must be an ISO 8601 string')
    if not isinstance(agency, str):
        raise ValueError('"agency" must be a string')
    event_time = utc(datetime.fromisoformat(time)) if time is not None else _EPOCH
    return Event(
        event_id=stable_id("sample", source),
        received_at=event_time,
        event_time=event_time,
        agency=agency,
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
    samples, errors, _ = _read_sample_lines(path)
    return samples, errors


def _read_sample_lines(path: Path) -> tuple[list[tuple[str, Event]], list[str], list[tuple[str, bool]]]:
    """(samples, errors, ``("sequence" label, has "time")`` of each sample) for a JSONL sample file."""
    samples: list[tuple[str, Event]] = []
    labels: list[tuple[str, bool]] = []
    errors: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        return [], [f"{path.name}: cannot read: {e}"], []
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        where = f"{path.name}:{n}"
        try:
            obj = orjson.loads(line)
            samples.append((where, sample_event(obj, f"{path}:{n}")))
            labels.append((str(obj.get("sequence", "")), obj.get("time") is not None))
        except (orjson.JSONDecodeError, ValueError) as e:
            errors.append(f"{where}: bad sample: {e}")
    return samples, errors, labels


def _samples_path(rule_path: Path, kind: str) -> Path:
    return rule_path.with_name(f"{rule_path.stem}.{kind}.jsonl")


def test_rules(paths: Sequence[Path]) -> list[RuleTestResult]:
    """Run every rule file's tp/tn samples (see module doc)."""
    results: list[RuleTestResult] = []
    errors: list[LoadError] = []
    files = rule_files(paths, errors)
    results.extend(RuleTestResult(e.path, None, "", False, 0, 0, 0, 0, (e.reason,)) for e in errors)
    for path in files:
        if _has_correlation(path):
            results.extend(_test_correlation_file(path, [f for f in files if f != path]))
        else:
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


def _has_correlation(path: Path) -> bool:
    """Whether the file holds a correlation rule (unreadable or broken YAML: no; the loader reports it)."""
    try:
        docs = list(yaml.safe_load_all(path.read_text(encoding="utf-8")))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return any(isinstance(d, dict) and "correlation" in d for d in docs)


def _sequences(
    samples: Sequence[tuple[str, Event]], labels: Sequence[tuple[str, bool]]
) -> list[tuple[str, list[tuple[str, Event]]]]:
    """Consecutive samples with one label form a sequence; times default to 1 s after the previous."""
    out: list[tuple[str, list[tuple[str, Event]]]] = []
    previous: datetime | None = None
    for (where, ev), (label, timed) in zip(samples, labels, strict=True):
        if not out or out[-1][0] != label:
            out.append((label, []))
            previous = None
        if not timed and previous is not None:
            t = previous + timedelta(seconds=1)
            ev = dataclasses.replace(ev, event_time=t, received_at=t)
        previous = ev.event_time
        out[-1][1].append((where, ev))
    return out


def _sequence_name(label: str, seq: Sequence[tuple[str, Event]]) -> str:
    """``rule.tp.jsonl:3-12 (sequence 'burst')``: where a failing sequence is."""
    return f"{seq[0][0]}-{seq[-1][0].rsplit(':', 1)[1]} (sequence {label!r})"


def _fired(engine: Engine, sequence: Sequence[tuple[str, Event]], rule_id: str) -> tuple[str | None, bool]:
    """(where the rule first fired or None, whether that was the sequence's last line) for one run."""
    state = CorrelationEngine.from_engine(engine)
    for n, (where, ev) in enumerate(sequence):
        if any(a.rule_id == rule_id for a in state.observe(ev, engine.match(ev))):
            return where, n == len(sequence) - 1
    last = sequence[-1][1].event_time if sequence else _EPOCH
    closed = state.advance(last + timedelta(days=3650))  # close every window: lt/lte/eq/neq decide
    return ("end of sequence" if any(a.rule_id == rule_id for a in closed) else None), True


def _test_correlation_file(path: Path, context: Sequence[Path]) -> list[RuleTestResult]:
    """Correlation rules of ``path`` against their sequence samples (see module doc)."""
    engine = Engine.load([path, *context])  # references may point at base rules in other files
    out = [
        RuleTestResult(e.path, e.rule_id, e.title, False, 0, 0, 0, 0, (f"does not load: {e.reason}",))
        for e in engine.errors
        if e.path == path
    ]
    tp_path, tn_path = _samples_path(path, "tp"), _samples_path(path, "tn")
    tp, tp_errors, tp_labels = _read_sample_lines(tp_path) if tp_path.is_file() else ([], [], [])
    tn, tn_errors, tn_labels = _read_sample_lines(tn_path) if tn_path.is_file() else ([], [], [])
    tp_seqs, tn_seqs = _sequences(tp, tp_labels), _sequences(tn, tn_labels)
    for rule in (c for c in engine.correlations if c.path == path):
        failures = [*tp_errors, *tn_errors]
        if not tp and not tp_errors:
            failures.append(f"no true-positive samples ({tp_path.name} missing or empty)")
        missed = 0
        for label, seq in tp_seqs:
            name = _sequence_name(label, seq)
            where, at_end = _fired(engine, seq, rule.rule_id)
            if where is None:
                failures.append(f"{name}: correlation did not fire")
            elif rule.eager and not at_end:
                failures.append(f"{name}: correlation fired early, at {where}")
            if where is None or (rule.eager and not at_end):
                missed += 1
        hits = 0
        for label, seq in tn_seqs:
            name = _sequence_name(label, seq)
            where, _ = _fired(engine, seq, rule.rule_id)
            if where is not None:
                failures.append(f"{name}: correlation fired at {where}")
                hits += 1
        out.append(
            RuleTestResult(
                path=path,
                rule_id=rule.rule_id,
                title=rule.title,
                ok=not failures,
                tp_total=len(tp_seqs),
                tp_matched=len(tp_seqs) - missed,
                tn_total=len(tn_seqs),
                tn_hits=hits,
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
