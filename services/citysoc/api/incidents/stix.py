"""STIX 2.1 bundle of an incident, for sharing with national bodies (OASIS ``stix2`` library).

The bundle holds: the reporting organisation and the involved agencies (identities), the incident
(an ``incident`` SDO), per observable an indicator (a STIX pattern), the observed data with its cyber
observable, and a sighting tying them to the affected agencies; a ``report`` refers to all of them.
TLP markings (``TLP:CLEAR``/``WHITE``, ``GREEN``, ``AMBER``, ``AMBER+STRICT`` as amber, ``RED``) are
carried as the standard marking definitions, included in the bundle so every reference resolves.
Ids are UUIDv5 of the incident code and the object, so exporting again gives the same ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from stix2 import v21

from citysoc.db import Agency, Incident, Observable
from citysoc.db.enums import ObservableKind

_NS = uuid.UUID("6b2c4a1e-3f0d-4c47-9d7e-5a1f0c2b9e11")
_TLP = {
    "TLP:CLEAR": v21.TLP_WHITE,
    "TLP:WHITE": v21.TLP_WHITE,
    "TLP:GREEN": v21.TLP_GREEN,
    "TLP:AMBER": v21.TLP_AMBER,
    "TLP:AMBER+STRICT": v21.TLP_AMBER,
    "TLP:RED": v21.TLP_RED,
}
_PATH = {
    ObservableKind.IPV4: ("ipv4-addr", "value"),
    ObservableKind.IPV6: ("ipv6-addr", "value"),
    ObservableKind.DOMAIN: ("domain-name", "value"),
    ObservableKind.URL: ("url", "value"),
    ObservableKind.EMAIL: ("email-addr", "value"),
    ObservableKind.MD5: ("file", "hashes.MD5"),
    ObservableKind.SHA1: ("file", "hashes.'SHA-1'"),
    ObservableKind.SHA256: ("file", "hashes.'SHA-256'"),
    ObservableKind.FILE_NAME: ("file", "name"),
    ObservableKind.USER_ACCOUNT: ("user-account", "account_login"),
}


def _id(kind: str, *parts: object) -> str:
    return f"{kind}--{uuid.uuid5(_NS, '|'.join(str(p) for p in parts))}"


def _literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def pattern(kind: ObservableKind, value: str) -> str:
    obj, path = _PATH[kind]
    return f"[{obj}:{path} = {_literal(value)}]"


def _sco(kind: ObservableKind, value: str) -> Any:
    if kind == ObservableKind.IPV4:
        return v21.IPv4Address(value=value)
    if kind == ObservableKind.IPV6:
        return v21.IPv6Address(value=value)
    if kind == ObservableKind.DOMAIN:
        return v21.DomainName(value=value)
    if kind == ObservableKind.URL:
        return v21.URL(value=value)
    if kind == ObservableKind.EMAIL:
        return v21.EmailAddress(value=value)
    if kind == ObservableKind.MD5:
        return v21.File(hashes={"MD5": value})
    if kind == ObservableKind.SHA1:
        return v21.File(hashes={"SHA-1": value})
    if kind == ObservableKind.SHA256:
        return v21.File(hashes={"SHA-256": value})
    if kind == ObservableKind.FILE_NAME:
        return v21.File(name=value)
    return v21.UserAccount(account_login=value)


def _markings(tlp: str) -> list[str]:
    m = _TLP.get(tlp.strip().upper())
    return [m.id] if m is not None else []


def bundle(
    incident: Incident,
    agencies: Sequence[Agency],
    observables: Sequence[Observable],
    organisation: str,
    now: datetime,
) -> Any:
    """The incident as a ``stix2.v21.Bundle`` (call ``.serialize()`` for JSON)."""
    code = incident.code
    org = v21.Identity(
        id=_id("identity", "org", organisation), name=organisation, identity_class="organization"
    )
    parties = [
        v21.Identity(id=_id("identity", "agency", a.code), name=a.name, identity_class="organization")
        for a in agencies
    ]
    inc = v21.Incident(
        id=_id("incident", code),
        name=f"{code}: {incident.title}",
        description=incident.summary or incident.title,
        created_by_ref=org.id,
        created=incident.created_at,
        modified=max(incident.updated_at, incident.created_at),
        object_marking_refs=_markings(incident.tlp),
        external_references=[{"source_name": "citysoc", "external_id": code}],
    )
    objects: list[Any] = [org, *parties, inc]
    refs: list[str] = [org.id, *(p.id for p in parties), inc.id]
    for o in observables:
        marks = _markings(o.tlp)
        seen_first = o.first_seen or o.created_at
        seen_last = max(o.last_seen or seen_first, seen_first)
        indicator = v21.Indicator(
            id=_id("indicator", code, o.kind.value, o.value),
            name=f"{o.kind.value} {o.value}",
            description=o.description or None,
            pattern=pattern(o.kind, o.value),
            pattern_type="stix",
            valid_from=seen_first,
            created_by_ref=org.id,
            object_marking_refs=marks,
        )
        sco = _sco(o.kind, o.value)
        observed = v21.ObservedData(
            id=_id("observed-data", code, o.kind.value, o.value),
            first_observed=seen_first,
            last_observed=seen_last,
            number_observed=max(1, o.sightings),
            object_refs=[sco.id],
            created_by_ref=org.id,
            object_marking_refs=marks,
        )
        sighting = v21.Sighting(
            id=_id("sighting", code, o.kind.value, o.value),
            sighting_of_ref=indicator.id,
            observed_data_refs=[observed.id],
            where_sighted_refs=[p.id for p in parties] or [org.id],
            count=max(1, o.sightings),
            first_seen=seen_first,
            last_seen=seen_last,
            created_by_ref=org.id,
            object_marking_refs=marks,
        )
        objects += [indicator, sco, observed, sighting]
        refs += [indicator.id, sco.id, observed.id, sighting.id]
    report = v21.Report(
        id=_id("report", code),
        name=f"{code}: {incident.title}",
        description=incident.summary or incident.title,
        report_types=["incident"],
        published=now,
        object_refs=refs,
        created_by_ref=org.id,
        object_marking_refs=_markings(incident.tlp),
    )
    used = {m for obj in [*objects, report] for m in obj.get("object_marking_refs", [])}
    definitions = [m for m in (v21.TLP_WHITE, v21.TLP_GREEN, v21.TLP_AMBER, v21.TLP_RED) if m.id in used]
    return v21.Bundle(objects=[*definitions, *objects, report])
