"""STIX 2.1 export: the bundle parses with the reference library, every reference inside it
resolves, each observable becomes an indicator, observed data and a sighting, and ids are stable."""

from __future__ import annotations

from typing import Any

import stix2

from ..conftest import Api
from .support import incident, world

OBSERVABLES = [
    {"kind": "ipv4", "value": "198.51.100.7", "tlp": "TLP:GREEN"},
    {"kind": "ipv6", "value": "2001:db8::1"},
    {"kind": "domain", "value": "evil.example.com", "tlp": "TLP:RED"},
    {"kind": "url", "value": "https://evil.example.com/a?b=c"},
    {"kind": "email", "value": "phish@example.net"},
    {"kind": "md5", "value": "d41d8cd98f00b204e9800998ecf8427e"},
    {"kind": "sha1", "value": "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    {"kind": "sha256", "value": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {"kind": "file_name", "value": "o'brien\\payload.exe", "tlp": "TLP:CLEAR"},
    {"kind": "user_account", "value": "administrator"},
]


def _refs(node: Any) -> list[str]:
    """Every id named by a ``*_ref`` or ``*_refs`` property, anywhere in ``node``."""
    out: list[str] = []
    if isinstance(node, dict):
        for k, v in node.items():
            if k.endswith("_ref") and isinstance(v, str):
                out.append(v)
            elif k.endswith("_refs") and isinstance(v, list):
                out += [x for x in v if isinstance(x, str)]
            else:
                out += _refs(v)
    elif isinstance(node, list):
        for v in node:
            out += _refs(v)
    return out


async def test_bundle_parses_and_references_resolve(api: Api) -> None:
    w = await world(api)
    inc = await incident(
        api,
        title="Phishing wave",
        group_ids=[w.groups["a"]["id"]],
        tlp="TLP:AMBER",
        summary="Credential phishing",
    )
    for o in OBSERVABLES:
        await api.ok("POST", f"/api/v1/incidents/{inc['id']}/observables", json=o, status=201)
    r = await api.call("GET", f"/api/v1/incidents/{inc['id']}/stix")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/stix+json")
    bundle = stix2.parse(r.text, allow_custom=False)
    assert bundle.type == "bundle"
    objects = {o.id: o for o in bundle.objects}
    assert len(objects) == len(bundle.objects)
    assert all(o.get("spec_version") in (None, "2.1") for o in bundle.objects)
    raw = r.json()
    assert set(_refs(raw["objects"])) <= set(objects), set(_refs(raw["objects"])) - set(objects)

    by_type: dict[str, list[Any]] = {}
    for o in bundle.objects:
        by_type.setdefault(o.type, []).append(o)
    assert (
        len(by_type["indicator"])
        == len(by_type["sighting"])
        == len(by_type["observed-data"])
        == len(OBSERVABLES)
    )
    assert {m.name for m in by_type["marking-definition"]} == {
        "TLP:WHITE",
        "TLP:GREEN",
        "TLP:AMBER",
        "TLP:RED",
    }
    (report,) = by_type["report"]
    assert report.report_types == ["incident"] and inc["code"] in report.name
    assert set(report.object_refs) == set(objects) - {report.id} - {
        m.id for m in by_type["marking-definition"]
    }
    (incident_sdo,) = by_type["incident"]
    assert incident_sdo.description == "Credential phishing"
    agencies = {o.name for o in by_type["identity"]}
    assert {"City SOC", "Agency q1"} <= agencies
    for s in by_type["sighting"]:
        indicator = objects[s.sighting_of_ref]
        observed = objects[s.observed_data_refs[0]]
        sco = objects[observed.object_refs[0]]
        # The indicator's pattern and the observed object name the same value.
        value = (
            sco.get("value") or sco.get("name") or sco.get("account_login") or next(iter(sco.hashes.values()))
        )
        escaped = value.replace("\\", "\\\\").replace("'", "\\'")
        assert f"'{escaped}'" in indicator.pattern
        assert set(s.where_sighted_refs) <= {o.id for o in by_type["identity"]}
    again = await api.call("GET", f"/api/v1/incidents/{inc['id']}/stix")
    ids = lambda text: sorted(o["id"] for o in stix2.parse(text).objects if o.type != "bundle")  # noqa: E731
    assert ids(again.text) == ids(r.text)
