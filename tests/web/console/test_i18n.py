"""Catalogs and pure helpers of the console: both languages hold the same keys with the same
placeholders, every key the templates and views name exists, dates are shown in Asia/Ho_Chi_Minh,
and the monitoring coverage join classifies systems correctly."""

from __future__ import annotations

import re
import string
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from citysoc.api.views.filters import RANGES, SUPPRESSED, VIEW_KINDS
from citysoc.core.alert import LEVELS
from citysoc.db import System
from citysoc.db.enums import AgencyKind, DismissReason, FunctionClass, GroupStatus, Role
from citysoc.store.base import SourceActivity
from citysoc.web.console import i18n
from citysoc.web.console.chronology import KINDS
from citysoc.web.console.render import NAV
from citysoc.web.console.session import safe_next
from citysoc.web.console.views_alerts import SORTS
from citysoc.web.console.views_registry import coverage, per_agency
from citysoc.web.console.views_suppressions import STATES as SUPPRESSION_STATES

CONSOLE = Path(i18n.__file__).parent
LITERAL_KEY = re.compile(r"""\bt\(\s*["']([a-z0-9_.\-]+)["']""")


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_catalogs_have_the_same_keys_and_placeholders() -> None:
    vi, en = i18n.catalog("vi"), i18n.catalog("en")
    assert set(vi) == set(en)
    for key in vi:
        assert _fields(vi[key]) == _fields(en[key]), key
        assert vi[key].strip() and en[key].strip(), key


def test_every_key_named_in_templates_and_views_exists() -> None:
    vi = i18n.catalog("vi")
    named: set[str] = set()
    for f in [*CONSOLE.joinpath("templates").glob("*.html"), *CONSOLE.glob("*.py")]:
        named |= set(LITERAL_KEY.findall(f.read_text()))
    prefixes = {k for k in named if k.endswith(".")}  # t("level." ~ value): the families below
    named -= prefixes
    assert len(named) > 50
    assert prefixes <= {
        "status.",
        "level.",
        "reason.",
        "kind.",
        "function.",
        "role.",
        "coverage.",
        "lang.",
        "action.",
        "sort.",
        "range.",
        "queue.",
        "suppressions.state.",
        "suppressed.",
        "chronology.",
    }
    named |= (
        {f"level.{v}" for v in LEVELS}
        | {f"kind.{k.value}" for k in AgencyKind}
        | {f"role.{r.value}" for r in Role}
    )
    named |= {f"function.{f.value}" for f in FunctionClass} | {f"lang.{lang}" for lang in i18n.LANGS}
    named |= {f"coverage.{c}" for c in ("heard", "silent", "never")}
    # Keys built from values: statuses, reasons, sorts, levels, actions, flash messages, navigation.
    named |= {f"status.{s.value}" for s in GroupStatus} | {f"reason.{r.value}" for r in DismissReason}
    named |= {f"sort.{s}" for s in SORTS} | {n.label for n in NAV}
    named |= {f"range.{r}" for r in RANGES} | {f"queue.{v}" for v in VIEW_KINDS}
    named |= {f"suppressions.state.{s}" for s in SUPPRESSION_STATES}
    named |= {f"suppressed.{v}" for v in SUPPRESSED}
    named |= {f"chronology.{k}" for k in KINDS}
    named |= {f"flash.view.{k}" for k in ("saved", "invalid", "default", "undefault", "shared", "unshared")}
    named |= {"flash.view.deleted", "filters.range", "keys.next_prev", "views.make_default"}
    named |= {f"action.{s.value}" for s in GroupStatus if s != GroupStatus.NEW}
    named |= {f"flash.done.{s}" for s in ("acknowledged", "escalated", "dismissed")}
    named |= {f"flash.bulk.{s}" for s in ("acknowledged", "escalated", "dismissed")}
    assert sorted(named - set(vi)) == []


def test_dates_are_shown_in_ho_chi_minh_time_in_each_language_format() -> None:
    at = datetime(2026, 11, 23, 17, 30, 5, tzinfo=UTC)  # 00:30:05 next day in UTC+7
    assert i18n.Translator("vi").datetime(at) == "24/11/2026 00:30:05"
    assert i18n.Translator("en").datetime(at) == "2026-11-24 00:30:05"
    assert i18n.Translator("vi").date(date(2026, 6, 30)) == "30/06/2026"
    assert i18n.Translator("en")("no.such.key") == "no.such.key"  # a gap shows, never crashes
    assert i18n.Translator("en")("bulk.select", title="X") == "Select X"


def test_safe_next_never_leaves_the_site() -> None:
    for bad in ("//evil.example", "https://evil.example", "/\\evil", "", None, "javascript:x", "/a\nb"):
        assert safe_next(bad, "/alerts") == "/alerts"
    assert safe_next("/alerts?status=new", "/") == "/alerts?status=new"


def _system(code: str, level: int = 3) -> System:
    return System(code=code, name=code.upper(), security_level=level, log_sources=["10.0.0.1"])


def _seen(agency: str, system: str, source: str, ago: timedelta | None, now: datetime) -> SourceActivity:
    return SourceActivity(agency, system, source, 5, 100, 1, 0, None if ago is None else now - ago)


def test_coverage_joins_registry_and_activity() -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    registered = [(_system("mail"), "dost"), (_system("portal"), "q1"), (_system("hr"), "q1")]
    activity = [
        _seen("dost", "mail", "10.0.0.1", timedelta(minutes=2), now),
        _seen("dost", "mail", "10.0.0.2", timedelta(hours=3), now),
        _seen("q1", "portal", "10.1.0.1", timedelta(minutes=40), now),
        _seen("q1", "shadow", "10.1.0.9", timedelta(minutes=1), now),  # sends, but is not registered
        _seen("q3", "other", "10.3.0.1", timedelta(minutes=1), now),
    ]
    rows = {r.code: r for r in coverage(registered, activity, now, 15, None)}
    assert rows["mail"].state == "heard" and rows["mail"].events == 10 and rows["mail"].errors == 2
    assert rows["mail"].sources == {"10.0.0.1", "10.0.0.2"} and rows["mail"].last_seen == now - timedelta(
        minutes=2
    )
    assert rows["portal"].state == "silent" and rows["hr"].state == "never"
    assert not rows["shadow"].registered and rows["shadow"].state == "heard"
    assert {r.code for r in coverage(registered, activity, now, 60, None) if r.state == "heard"} == {
        "mail",
        "portal",
        "shadow",
        "other",
    }
    # Scoped to one agency: other agencies' activity is left out.
    scoped = coverage(registered[1:], activity, now, 15, "q1")
    assert {r.code for r in scoped} == {"portal", "hr", "shadow"}
    # Per agency: registered systems by state (the unregistered "shadow" and "other" are not counted).
    assert per_agency(coverage(registered, activity, now, 15, None)) == {
        "dost": {"heard": 1, "silent": 0, "never": 0},
        "q1": {"heard": 0, "silent": 1, "never": 1},
    }
