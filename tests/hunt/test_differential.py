"""Differential: hunt (SQL in chDB, engine for what SQL leaves open) == streaming engine, on random
events built from awkward values (case, non-ASCII, whitespace, numbers in many spellings, lists,
nulls, booleans, floats) and rules using every kind of value test. Seeded, so a failure reproduces."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from citysoc.detection.engine import Engine
from citysoc.hunt.service import run_hunt

from .conftest import HAVE_CHDB, T0, chdb_store, make_event

pytestmark = pytest.mark.skipif(not HAVE_CHDB, reason="chdb is not installed")

ATOMS: list[Any] = [
    "admin",
    "ADMIN",
    "Admin ",
    " admin",
    "administrator",
    "xadmin",
    "straße",
    "STRASSE",
    "İstanbul",
    "istanbul",
    "ǰob",
    "Kelvin",
    "ﬁle",
    "đăng nhập",
    "ĐĂNG NHẬP",
    "",
    " ",
    "\t5\n",
    "5",
    "05",
    "+5",
    "-5",
    "5.0",
    "5.",
    ".5",
    "5e0",
    "0x5",
    "0X05",
    "1_0",
    "\u0661\u0660",
    "inf",
    "nan",
    "1e400",
    "9007199254740993",
    "10",
    "true",
    "TRUE",
    " false ",
    "yes",
    "10.1.2.3",
    "010.1.2.3",
    "10.1.2.3 ",
    "::ffff:10.1.2.3",
    "fe80::1",
    "a\nb",
    "ab\n",
    "C:\\Windows\\cmd.exe",
    "c:\\windows\\CMD.EXE",
    "\x0b5",
    "5\x1f",
    "[x]",
    "{y}",
    "*",
    "?",
    "%",
    "_",
    5,
    10,
    -5,
    0,
    5.0,
    5.5,
    1e16,
    -0.0,
    True,
    False,
    None,
]
RULES = {
    "eq": "V: admin",
    "eq_cased": "V|cased: admin",
    "contains": "V|contains: dmi",
    "startswith": "V|startswith: ad",
    "endswith": "V|endswith: '.exe'",
    "wildcard": "V: 'a?m*n'",
    "strasse": "V|contains: strasse",
    "istanbul": "V|startswith: istanbul",
    "vietnamese": "V|contains: 'ĐĂNG'",
    "empty": "V: ''",
    "null": "V: null",
    "any": "V: '*'",
    "exists": "V|exists: true",
    "number": "V: 5",
    "number10": "V: 10",
    "gt": "V|gt: 4.5",
    "lte": "V|lte: 0",
    "bool": "V: true",
    "regex": "V|re: '^[a-z]+$'",
    "regex_i": "V|re|i: 'ADM.N'",
    "regex_dollar": "V|re: 'b$'",
    "cidr": "V|cidr: 10.0.0.0/8",
    "cidr6": "V|cidr: 'fe80::/10'",
    "keyword": "'*': x",  # placeholder, replaced below
}


def _rules() -> str:
    docs = []
    for i, (name, sel) in enumerate(RULES.items()):
        if name == "keyword":
            detection = "keywords: ['DMIN', 'ss']\n  condition: keywords"
        else:
            detection = f"sel:\n    {sel}\n  condition: sel"
        docs.append(
            f"title: {name!r}\nid: 00000000-0000-4000-9000-{i:012d}\n"
            f"logsource: {{product: testprod}}\ndetection:\n  {detection}\n"
        )
    return "---\n".join(docs)


def _value(rng: random.Random) -> Any:
    if rng.random() < 0.15:
        return [_value(rng) for _ in range(rng.randint(0, 3))]
    return rng.choice(ATOMS)


def test_hunt_equals_engine_on_random_awkward_events(tmp_path: Path) -> None:
    engine = Engine.from_yaml(_rules())
    assert not engine.errors, engine.errors
    rng = random.Random(20261123)
    events = []
    for n in range(400):
        fields: dict[str, Any] = {}
        if rng.random() < 0.9:
            fields[rng.choice(["V", "v", "V"])] = _value(rng)
        if rng.random() < 0.1:
            fields["v" if "V" in fields else "V"] = _value(rng)  # two spellings of one field
        fields["other"] = _value(rng)
        fmt = "rfc5424" if n % 5 == 0 else "json"
        raw = rng.choice([b"", b"ADMIN here", b"bad \xff utf8 admin", "Straße".encode()])
        events.append(make_event(n, fields, product="testprod", fmt=fmt, raw=raw))
    store = chdb_store(tmp_path / "chdb")
    try:
        store.migrate()
        store.insert_events(events)
        stored = store.get_events([e.event_id for e in events])
        stream: dict[str, set[str]] = {}
        for e in stored:
            for h in engine.match(e):
                stream.setdefault(h.rule.title, set()).add(e.event_id)
        hunt = run_hunt(store, engine, T0, T0 + timedelta(days=1), started_at=T0)
    finally:
        store.close()
    by_id = {e.event_id: e for e in stored}
    problems = []
    for r in hunt.rules:
        got, want = set(r.event_ids), stream.get(r.rule.title, set())
        if got != want:
            extra = [by_id[x].fields for x in sorted(got - want)][:3]
            missing = [by_id[x].fields for x in sorted(want - got)][:3]
            problems.append(f"{r.rule.title}: extra {extra} missing {missing}")
    assert not problems, "\n".join(problems)
    assert all(stream.get(name) for name in RULES), "every rule should match something"
    decided = sum(r.decided_by_sql for r in hunt.rules)
    assert decided > sum(len(r.events) for r in hunt.rules) / 2  # SQL does most of the work
