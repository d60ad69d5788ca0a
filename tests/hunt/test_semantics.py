"""Hunt semantics without corpora: each case is a rule, a handful of events and the events it must
match. Every case runs on the in-memory twin and on chDB; the hunt must find exactly the expected
events, which must also be what the streaming engine matches on the stored events. ``sql_only`` cases
(plain ASCII data) must be decided by SQL alone, so the engine fallback cannot hide a wrong SQL."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from citysoc.core.event import Event
from citysoc.detection.engine import Engine
from citysoc.hunt.service import run_hunt
from citysoc.store.base import Store
from citysoc.store.clickhouse import ClickHouseStore

from .conftest import T0, make_event


@dataclass
class Case:
    name: str
    detection: str
    events: list[dict[str, Any]]
    """Each: {"fields": {...}} plus make_event keyword arguments."""
    expected: set[int]
    logsource: str = "product: testprod"
    sql_only: bool = True
    kw: dict[str, Any] = field(default_factory=dict)


def ev(fields: dict[str, Any], **kw: Any) -> dict[str, Any]:
    return {"fields": fields, "product": "testprod", **kw}


CASES = [
    Case(
        "null matches absent and null, not the empty string; field names ignore case",
        "sel: {Field: null}\n  condition: sel",
        [ev({"Field": None}), ev({}), ev({"Field": ""}), ev({"field": "x"}), ev({"FIELD": None, "o": 1})],
        {0, 1, 4},
    ),
    Case(
        "the empty string is a value",
        "sel: {Field: ''}\n  condition: sel",
        [ev({"Field": None}), ev({}), ev({"Field": ""}), ev({"fIeLd": ""}), ev({"Field": " "})],
        {2, 3},
    ),
    Case(
        "exists, and not exists",
        "a: {Field|exists: true}\n  b: {Other|exists: false}\n  condition: a and b",
        [ev({"Field": "x"}), ev({"Field": "x", "other": 1}), ev({"Field": None}), ev({"field": []})],
        {0},
    ),
    Case(
        "wildcard any value needs a present, non-null value",
        "sel: {Field: '*'}\n  condition: sel",
        [ev({"Field": ""}), ev({"Field": None}), ev({}), ev({"Field": [None]}), ev({"Field": 0})],
        {0, 4},
    ),
    Case(
        "case-insensitive contains, case-sensitive with cased",
        "a: {CommandLine|contains: 'WHOAMI /all'}\n  b: {CommandLine|contains|cased: 'whoami'}\n"
        "  condition: a and b",
        [
            ev({"commandline": "C:\\Windows\\whoami.exe /ALL"}),
            ev({"CommandLine": "WHOAMI /all"}),
            ev({"CommandLine": "x whoami /all"}),
            ev({"Command_Line": "whoami /all"}),
        ],
        {2},
    ),
    Case(
        "startswith, endswith, wildcards with ? and *",
        "a: {Image|startswith: 'C:\\Win'}\n  b: {Image|endswith: '.EXE'}\n"
        "  c: {Image: 'c:\\windows\\sys?em32\\\\*.exe'}\n  condition: a and b and c",
        [
            ev({"Image": "C:\\Windows\\System32\\cmd.exe"}),
            ev({"Image": "C:\\Windows\\SysWOW64\\cmd.exe"}),
            ev({"Image": "C:\\Windows\\Sys_em32\\a\\b.exe"}),
            ev({"Image": "C:\\Windows\\Systtem32\\cmd.exe"}),
            ev({"Image": "C:\\Windows\\System32\\cmd.exe\n"}),
        ],
        {0, 2},
    ),
    Case(
        "lists match any element; spellings of one field are merged",
        "sel: {Tags: admin}\n  condition: sel",
        [
            ev({"Tags": ["user", "Admin"]}),
            ev({"Tags": []}),
            ev({"Tags": [None, "ADMIN"]}),
            ev({"tags": "user", "TAGS": ["admin"]}),
            ev({"Tags": "user,admin"}),
        ],
        {0, 2, 3},
    ),
    Case(
        "an empty list or a list of nulls is an absent field",
        "sel: {Tags: null}\n  condition: sel",
        [ev({"Tags": []}), ev({"Tags": [None]}), ev({"Tags": [""]}), ev({"Tags": ["x"]})],
        {0, 1},
    ),
    Case(
        "numbers: ints, numeric strings with spaces, floats, not booleans",
        "sel: {EventID: 4624}\n  condition: sel",
        [
            ev({"EventID": 4624}),
            ev({"EventID": "4624"}),
            ev({"EventID": " 4624\t"}),
            ev({"EventID": 4624.0}),
            ev({"EventID": "4624.0"}),
            ev({"EventID": True}),
            ev({"EventID": "4,624"}),
            ev({"EventID": [1, 4624]}),
            ev({"EventID": "+4624"}),
        ],
        {0, 1, 2, 3, 4, 7, 8},
    ),
    Case(
        "hex strings are numbers to the engine (checked by the engine, not SQL)",
        "sel: {Flags: 16}\n  condition: sel",
        [ev({"Flags": "0x10"}), ev({"Flags": "0x11"}), ev({"Flags": "16"})],
        {0, 2},
        sql_only=False,
    ),
    Case(
        "comparisons",
        "a: {Port|gt: 1000}\n  b: {Port|lte: 22}\n  condition: a or b",
        [
            ev({"Port": 1001}),
            ev({"Port": "1000"}),
            ev({"Port": "22"}),
            ev({"Port": 22.5}),
            ev({"Port": "high"}),
            ev({"Port": ["5", 80]}),
            ev({"Port": "1e4"}),
        ],
        {0, 2, 5, 6},
    ),
    Case(
        "booleans",
        "sel: {Enabled: true}\n  condition: sel",
        [ev({"Enabled": True}), ev({"Enabled": "TRUE "}), ev({"Enabled": False}), ev({"Enabled": 1})],
        {0, 1},
    ),
    Case(
        "keywords search every value, and the raw text of syslog formats only",
        "keywords: ['mimikatz']\n  condition: keywords",
        [
            ev({"msg": "ran Mimikatz.exe"}),
            ev({"msg": "x"}, fmt="rfc5424", raw=b"<13>1 - h app - - - MIMIKATZ here"),
            ev({"msg": "x"}, fmt="json", raw=b'{"msg": "mimikatz"}'),
            ev({"mimikatz": "x"}),
            ev({"list": ["a", "sekurlsa MimiKatz"]}),
        ],
        {0, 1, 4},
    ),
    Case(
        "regular expressions with and without flags",
        "a: {CommandLine|re: '^cmd.*/c [a-z]+$'}\n  b: {CommandLine|re|i: 'POWERSHELL'}\n  condition: a or b",
        [
            ev({"CommandLine": "cmd.exe /c whoami"}),
            ev({"CommandLine": "CMD.exe /c whoami"}),
            ev({"CommandLine": "cmd.exe /c WHOAMI"}),
            ev({"CommandLine": "run PowerShell -enc"}),
            ev({"CommandLine": "pwsh"}),
        ],
        {0, 3},
    ),
    Case(
        "Python-only regular expressions are left to the engine",
        "sel: {User|re: '^(?!admin).*x$'}\n  condition: sel",
        [ev({"User": "bobx"}), ev({"User": "adminx"}), ev({"User": "bob"})],
        {0},
        sql_only=False,
    ),
    Case(
        "cidr (IPv4 strictly as Python's ipaddress reads it)",
        "sel: {SourceIp|cidr: 10.0.0.0/8}\n  condition: sel",
        [
            ev({"SourceIp": "10.1.2.3"}),
            ev({"SourceIp": "010.1.2.3"}),
            ev({"SourceIp": "11.0.0.1"}),
            ev({"SourceIp": " 10.9.9.9 "}),
            ev({"SourceIp": "10.1.2"}),
            ev({"SourceIp": ["1.1.1.1", "10.0.0.1"]}),
        ],
        {0, 3, 5},
    ),
    Case(
        "fieldref compares two fields of one event, case-insensitively",
        "sel: {TargetUser|fieldref: SubjectUser}\n  condition: sel",
        [
            ev({"TargetUser": "Bob", "SubjectUser": "bob"}),
            ev({"TargetUser": "bob", "SubjectUser": "alice"}),
            ev({"TargetUser": "bob"}),
            ev({"TargetUser": ["x", "ALICE"], "subjectuser": "alice"}),
        ],
        {0, 3},
    ),
    Case(
        "1 of / all of / not",
        "sel_a: {A: x}\n  sel_b: {B: y}\n  filter_1: {C: z}\n  filter_2: {D: null}\n"
        "  condition: 1 of sel_* and not all of filter_*",
        [
            ev({"A": "x", "C": "z"}),
            ev({"B": "y", "C": "z", "D": "d"}),
            ev({"A": "x"}),
            ev({"C": "z"}),
        ],
        {1, 2},
    ),
    Case(
        "windash and base64offset expand into alternatives",
        "a: {CommandLine|windash|contains: ' -enc '}\n  b: {CommandLine|base64offset|contains: 'http'}\n"
        "  condition: a or b",
        [
            ev({"CommandLine": "powershell /enc AAA"}),
            ev({"CommandLine": "powershell \u2013enc AAA"}),
            ev({"CommandLine": "x aHR0cA== y"}),
            ev({"CommandLine": "powershell enc"}),
        ],
        {0, 1, 2},
        sql_only=False,  # the en dash variant is non-ASCII text
    ),
    Case(
        "logsource: a service rule needs that service, or one implying it; a category must be equal",
        "sel: {user: root}\n  condition: sel",
        [
            {"fields": {"user": "root"}, "product": "linux", "service": "sshd"},
            {"fields": {"user": "root"}, "product": "linux", "service": "auth"},
            {"fields": {"user": "root"}, "product": "linux", "service": "cron"},
            {"fields": {"user": "root"}, "product": "linux"},
            {"fields": {"user": "root"}, "product": "windows", "service": "auth"},
            {"fields": {"user": "root"}, "service": "AUTH"},
        ],
        {0, 1, 5},
        logsource="product: linux\n  service: auth",
    ),
    Case(
        "logsource: windows rules are gated by product and the pipeline's Channel/EventID",
        "sel: {Image|endswith: '\\cmd.exe'}\n  condition: sel",
        [
            {
                "fields": {
                    "EventID": 1,
                    "Channel": "Microsoft-Windows-Sysmon/Operational",
                    "Image": "C:\\cmd.exe",
                },
                "fmt": "evtx_json",
            },
            {"fields": {"EventID": 1, "Channel": "Security", "Image": "C:\\cmd.exe"}, "fmt": "evtx_json"},
            {
                "fields": {
                    "EventID": 1,
                    "Channel": "Microsoft-Windows-Sysmon/Operational",
                    "Image": "C:\\cmd.exe",
                },
                "product": "linux",
            },
            {
                "fields": {
                    "EventID": "1",
                    "Channel": "microsoft-windows-sysmon/operational",
                    "Image": "c:\\CMD.EXE",
                },
                "product": "windows",
            },
        ],
        {0, 3},
        logsource="product: windows\n  category: process_creation",
    ),
    Case(
        "non-ASCII text: casefold (ß is ss) and Vietnamese, checked by the engine where SQL cannot decide",
        "a: {Message|contains: 'strasse'}\n  b: {Message|contains: 'ĐĂNG NHẬP thất bại'}\n  condition: a or b",
        [
            ev({"Message": "Hauptstraße 1"}),
            ev({"Message": "HAUPTSTRASSE 1"}),
            ev({"Message": "Đăng nhập THẤT BẠI cho root"}),
            ev({"Message": "đăng nhập thành công"}),
            ev({"Message": "Strase"}),
        ],
        {0, 1, 2},
        sql_only=False,
    ),
    Case(
        "floats are matched by their Python spelling",
        "a: {Score: 1}\n  b: {Score|startswith: '1000000'}\n  condition: a or b",
        [
            ev({"Score": 1.0}),
            ev({"Score": 1e16}),
            ev({"Score": "1.00"}),
            ev({"Score": -0.0}),
            ev({"Score": 2}),
        ],
        {0, 1, 2},
        sql_only=False,
    ),
]


def _rule(i: int, case: Case) -> str:
    return (
        f"title: case {i}\nid: 00000000-0000-4000-8000-{i:012d}\nstatus: test\n"
        f"logsource:\n  {case.logsource}\ndetection:\n  {case.detection}\nlevel: high\n"
    )


def _events(i: int, case: Case) -> list[Event]:
    out = []
    for j, spec in enumerate(case.events):
        kw = {k: v for k, v in spec.items() if k != "fields"}
        out.append(make_event(i * 100 + j, spec["fields"], agency=f"case{i}", **kw))
    return out


@pytest.fixture(scope="module")
def engines() -> list[Engine]:
    out = []
    for i, case in enumerate(CASES):
        engine = Engine.from_yaml(_rule(i, case))
        assert not engine.errors, (case.name, engine.errors)
        out.append(engine)
    return out


def test_every_case_equals_the_stream(
    hunt_store: Callable[[list[Event]], Store], engines: list[Engine]
) -> None:
    per_case = [_events(i, c) for i, c in enumerate(CASES)]
    store = hunt_store([e for evs in per_case for e in evs])
    failures = []
    for i, (case, engine, events) in enumerate(zip(CASES, engines, per_case, strict=True)):
        hunt = run_hunt(store, engine, T0, T0 + timedelta(days=1), agency=f"case{i}", started_at=T0)
        (result,) = hunt.rules
        got = set(result.event_ids)
        stored = store.get_events([e.event_id for e in events])
        stream = {e.event_id for e in stored if engine.match(e)}
        expected = {events[j].event_id for j in case.expected}
        index = {e.event_id: j for j, e in enumerate(events)}
        if stream != expected:
            failures.append(f"{case.name}: the engine itself matched {sorted(index[x] for x in stream)}")
        if got != stream:
            failures.append(
                f"{case.name}: hunt {sorted(index[x] for x in got)}, stream {sorted(index[x] for x in stream)}"
            )
        if isinstance(store, ClickHouseStore) and case.sql_only and result.checked:
            failures.append(f"{case.name}: {result.checked} rows left to the engine on plain ASCII data")
    assert not failures, "\n".join(failures)


def test_window_and_agency_restrict_the_hunt(hunt_store: Callable[[list[Event]], Store]) -> None:
    engine = Engine.from_yaml(_rule(0, CASES[0]))
    events = [
        make_event(1, {}, product="testprod", agency="a", at=T0),
        make_event(2, {}, product="testprod", agency="b", at=T0 + timedelta(hours=1)),
        make_event(3, {}, product="testprod", agency="a", at=T0 + timedelta(hours=2)),
    ]
    store = hunt_store(events)
    everything = run_hunt(store, engine, T0, T0 + timedelta(hours=3), started_at=T0).rules[0]
    assert everything.event_ids == [e.event_id for e in events]  # oldest first
    window = run_hunt(store, engine, T0 + timedelta(minutes=1), T0 + timedelta(hours=2), started_at=T0)
    assert window.rules[0].event_ids == [events[1].event_id]  # until is exclusive
    only_a = run_hunt(store, engine, T0, T0 + timedelta(hours=3), agency="a", started_at=T0)
    assert only_a.rules[0].event_ids == [events[0].event_id, events[2].event_id]
    limited = run_hunt(store, engine, T0, T0 + timedelta(hours=3), limit=2, started_at=T0).rules[0]
    assert limited.event_ids == [events[0].event_id, events[1].event_id] and limited.truncated
