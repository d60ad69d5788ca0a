"""The audit log is a hash chain: verification passes on an untouched log and names the row that was
altered, removed or re-linked."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st

from citysoc.api.access.actor import CONFIG_ADMIN
from citysoc.api.audit.chain import GENESIS, Link, link_hash, verify_links
from citysoc.api.audit.service import append, verify
from citysoc.db import AuditEntry, Database


async def _fill(db: Database, n: int) -> None:
    for i in range(n):
        async with db.session() as s:
            await append(
                s, CONFIG_ADMIN, "thing.update", "thing", i, agency="q1", before={"n": i}, after={"n": i + 1}
            )
            await s.commit()


async def test_intact_chain_verifies(db: Database) -> None:
    await _fill(db, 12)
    async with db.session() as s:
        v = await verify(s, page=5)  # several pages
    assert v.ok and v.checked == 12 and v.head_seq == 12 and v.problems == []


async def test_altered_row_is_named(db: Database) -> None:
    await _fill(db, 6)
    async with db.session() as s:
        await s.execute(sa.update(AuditEntry).where(AuditEntry.seq == 4).values(after={"n": 999}))
        await s.commit()
    async with db.session() as s:
        v = await verify(s)
    assert not v.ok
    assert [(p.seq, "altered" in p.problem) for p in v.problems] == [(4, True)]


async def test_removed_row_and_rewritten_tail_are_detected(db: Database) -> None:
    await _fill(db, 5)
    async with db.session() as s:
        await s.execute(sa.delete(AuditEntry).where(AuditEntry.seq == 3))
        await s.commit()
    async with db.session() as s:
        v = await verify(s)
    assert not v.ok and {p.seq for p in v.problems} == {4}  # the row after the gap is named


async def test_truncated_tail_is_detected_by_the_head(db: Database) -> None:
    await _fill(db, 4)
    async with db.session() as s:
        await s.execute(sa.delete(AuditEntry).where(AuditEntry.seq == 4))
        await s.commit()
    async with db.session() as s:
        v = await verify(s)
    assert not v.ok and "head" in v.problems[0].problem


def _chain(n: int) -> list[Link]:
    links, prev = [], GENESIS
    for i in range(1, n + 1):
        link = Link(i, datetime(2026, 1, 1, tzinfo=UTC), "a", "x", "t", str(i), None, None, {"i": i}, prev)
        link = replace(link, hash=link_hash(link))
        links.append(link)
        prev = link.hash
    return links


@given(n=st.integers(1, 30), data=st.data())
def test_any_single_field_change_is_named(n: int, data: st.DataObject) -> None:
    links = _chain(n)
    i = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(["actor", "action", "object_id", "after", "at"]))
    value: object = (
        {"i": -1} if field == "after" else datetime(2027, 1, 1, tzinfo=UTC) if field == "at" else "evil"
    )
    links[i] = replace(links[i], **{field: value})
    checked, problems = verify_links(links, n, links[-1].hash)
    assert checked == n and problems and problems[0].seq == i + 1
