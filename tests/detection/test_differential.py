"""Differential test (issue 3, acceptance 6): the indexed engine gives exactly the hits of a full scan.

With all three SigmaHQ trees loaded, ``Engine.match`` (routing + literal prefilter, with every
available literal scanner) and ``Engine.match_full_scan`` (routing only, every rule of the route
evaluated) must give the same set of (event, rule id) pairs on:

* the 238 SigmaHQ regression events (``derived/sigmahq_regression_events.jsonl``), as is and in two
  variants that stress the prefilter's text handling (string values upper-cased; values made
  non-ASCII with characters whose casefolding changes length, numbers turned into strings and lists);
* a fixed OTRF sample spread over every file: every ``OTRF_STRIDE``-th of the first ``OTRF_HEAD`` lines
  of each zip member (about 2,900 events over 70 routes), normalised as the collector does
  (:func:`citysoc.detection.offline.event_from_line`). The full scan costs ~5 ms per event (every
  admitted rule evaluated), which bounds the sample; set ``CITYSOC_DIFF_STRIDE=N`` to use every N-th
  line of every file instead (N=1: all ~560,000 events; by hand, see benchmarks/README.md).

The corpora are loaded once per module. Skipped with a reason when absent, a failure when ``CI=true``.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from citysoc.core.event import Event
from citysoc.detection.engine import Engine
from citysoc.detection.index import BACKENDS, Backend
from citysoc.detection.offline import event_from_line
from citysoc.parsing.errors import ParseError

from .support import make_event

pytestmark = pytest.mark.corpora

REPO = Path(__file__).resolve().parents[2]
TREES = ("rules", "rules-emerging-threats", "rules-threat-hunting")
OTRF_HEAD = 5000
OTRF_STRIDE = 100


def _require(available: bool, what: str) -> None:
    # Same rule as tests/conftest.py ``require``: skip on a user's machine, fail under CI.
    if available:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{what} (required when CI=true)", pytrace=False)
    pytest.skip(what)


@pytest.fixture(scope="module")
def corpora() -> Path:
    root = Path(os.environ.get("CITYSOC_CORPORA") or REPO.parent / "shared" / "corpora")
    _require(
        (root / "sigmahq" / "rules").is_dir() and (root / "otrf" / "windows").is_dir(),
        f"SigmaHQ/OTRF corpora not found at {root} (set CITYSOC_CORPORA)",
    )
    return root


@pytest.fixture(scope="module")
def engine(corpora: Path) -> Engine:
    return Engine.load([corpora / "sigmahq" / t for t in TREES])


@pytest.fixture(scope="module")
def regression_events(corpora: Path) -> list[dict[str, Any]]:
    path = corpora / "derived" / "sigmahq_regression_events.jsonl"
    return [json.loads(x)["event"] for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]


def _otrf_lines(root: Path) -> Iterator[bytes]:
    stride = int(os.environ.get("CITYSOC_DIFF_STRIDE") or 0)
    head = None if stride else OTRF_HEAD
    stride = stride or OTRF_STRIDE
    for z in sorted((root / "otrf" / "windows").rglob("*.zip")):
        with zipfile.ZipFile(z) as zf:
            for name in sorted(zf.namelist()):
                with zf.open(name) as f:
                    for n, line in enumerate(f):
                        if head is not None and n >= head:
                            break
                        if n % stride == 0:
                            yield line


@pytest.fixture(scope="module")
def otrf_events(corpora: Path) -> list[Event]:
    events: list[Event] = []
    for n, line in enumerate(_otrf_lines(corpora)):
        if not line.strip():
            continue
        try:
            events.append(event_from_line(line, n))
        except (orjson.JSONDecodeError, ParseError):
            continue  # the collector rejects these lines too (invalid UTF-8 escapes)
    return events


def _windows(fields: dict[str, Any]) -> Event:
    return make_event(fields, product="windows", fmt="evtx_json")


type Pairs = set[tuple[int, str]]


def _full_scan(engine: Engine, events: list[Event]) -> Pairs:
    return {(n, h.rule.rule_id) for n, e in enumerate(events) for h in engine.match_full_scan(e)}


def _indexed(engine: Engine, events: list[Event]) -> Pairs:
    return {(n, h.rule.rule_id) for n, e in enumerate(events) for h in engine.match(e)}


def _upper(fields: dict[str, Any]) -> dict[str, Any]:
    return {k: v.upper() if isinstance(v, str) else v for k, v in fields.items()}


def _odd_shapes(fields: dict[str, Any]) -> dict[str, Any]:
    """Length-changing casefolds before and inside values, numbers as strings, lists, a null."""
    out: dict[str, Any] = {}
    for i, (k, v) in enumerate(fields.items()):
        if isinstance(v, str) and k not in ("Channel",):
            v = ("ß\u0130ﬁ" if i % 2 else "STRAẞE ") + v + "\u212a"
            if i % 3 == 0:
                v = [v, None, "Σ" + v]
        elif isinstance(v, int) and k != "EventID":
            v = str(v)
        out[k] = v
    out["NullField"] = None
    return out


VARIANTS = {"as-is": lambda f: f, "upper": _upper, "odd-shapes": _odd_shapes}


@pytest.fixture(scope="module")
def regression_sets(
    engine: Engine, regression_events: list[dict[str, Any]]
) -> dict[str, tuple[list[Event], Pairs]]:
    """Per variant: the events and the full scan's hits (computed once, compared with every scanner)."""
    out = {}
    for name, variant in VARIANTS.items():
        events = [_windows(variant(e)) for e in regression_events]
        out[name] = (events, _full_scan(engine, events))
    return out


@pytest.fixture(scope="module")
def otrf_full(engine: Engine, otrf_events: list[Event]) -> Pairs:
    return _full_scan(engine, otrf_events)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_regression_events_indexed_equals_full_scan(
    engine: Engine, regression_sets: dict[str, tuple[list[Event], Pairs]], variant: str, backend: Backend
) -> None:
    events, full = regression_sets[variant]
    assert len(events) == 238
    # Every rule with samples fires on its own true positives (test_corpora_regression); the variants
    # still fire many rules, so the comparison is never vacuous.
    assert len(full) >= (224 if variant == "as-is" else 100)
    indexed = _indexed(engine.with_backend(backend), events)
    assert sorted(full - indexed) == [], "real matches dropped by the prefilter"
    assert sorted(indexed - full) == []


@pytest.mark.parametrize("backend", BACKENDS)
def test_otrf_sample_indexed_equals_full_scan(
    engine: Engine, otrf_events: list[Event], otrf_full: Pairs, backend: Backend
) -> None:
    indexed_engine = engine.with_backend(backend)
    indexed = _indexed(indexed_engine, otrf_events)
    print(f"\nOTRF differential ({backend}): {len(otrf_events)} events, {len(full := otrf_full)} hits")
    assert len(otrf_events) >= 2_500
    assert len(full) > 50
    assert sorted(full - indexed) == [], "real matches dropped by the prefilter"
    assert sorted(indexed - full) == []
    assert indexed_engine.route_count >= 50  # the sample spans many kinds of events


def test_prefilter_actually_filters(engine: Engine, otrf_events: list[Event]) -> None:
    """The index must be doing its job: far fewer candidates than rules on the event's route."""
    candidates = sum(len(engine.candidates(e)) for e in otrf_events)
    routed = sum(engine.routed_rule_count(e) for e in otrf_events)
    assert candidates * 10 < routed, (candidates, routed)
