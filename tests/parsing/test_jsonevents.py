from datetime import UTC, datetime

import pytest

from citysoc.parsing.errors import ParseError
from citysoc.parsing.jsonevents import normalize_json

EVTX = {
    "Event": {
        "#attributes": {"xmlns": "http://schemas.microsoft.com/win/2004/08/events/event"},
        "System": {
            "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "5770385F"}},
            "EventID": {"#attributes": {"Qualifiers": ""}, "#text": 1},
            "TimeCreated": {"#attributes": {"SystemTime": "2025-12-06T21:11:02.649150Z"}},
            "EventRecordID": 67583,
            "Execution": {"#attributes": {"ProcessID": 3904, "ThreadID": 4272}},
            "Channel": "Microsoft-Windows-Sysmon/Operational",
            "Computer": "ws01.city.local",
        },
        "EventData": {
            "Image": "C:\\Windows\\System32\\cmd.exe",
            "CommandLine": "cmd /c whoami",
            "Hashes": None,
        },
    }
}


def test_evtx_json_flattening_convention() -> None:
    n = normalize_json(EVTX)
    assert n.format == "evtx_json"
    assert n.fields["EventID"] == 1 and n.fields["Provider_Name"] == "Microsoft-Windows-Sysmon"
    assert n.fields["TimeCreated_SystemTime"] == "2025-12-06T21:11:02.649150Z"
    assert n.fields["Execution_ProcessID"] == 3904 and n.fields["Image"].endswith("cmd.exe")
    assert "Hashes" not in n.fields  # JSON null = absent
    assert n.logsource.product == "windows" and n.logsource.service == "sysmon"
    assert (n.host, n.channel, n.record_id) == (
        "ws01.city.local",
        "Microsoft-Windows-Sysmon/Operational",
        "67583",
    )
    assert n.event_time == datetime(2025, 12, 6, 21, 11, 2, 649150, tzinfo=UTC)


def test_evtx_userdata_and_unnamed_data() -> None:
    ev = {
        "Event": {
            "System": {"EventID": 1119, "Channel": "System", "Computer": "h", "EventRecordID": 5},
            "EventData": {"Data": ["a", "b"]},
            "UserData": {"W": {"Source Name": "x", "Other-Thing": "y"}},
        }
    }
    f = normalize_json(ev).fields
    assert f["Data"] == "a b" and f["SourceName"] == "x" and f["OtherThing"] == "y"


def test_winlogbeat_ecs_and_nxlog() -> None:
    ecs = {
        "@timestamp": "2026-11-23T03:00:00Z",
        "host": {"name": "dc01"},
        "winlog": {
            "channel": "Security",
            "event_id": 4688,
            "record_id": 77,
            "computer_name": "dc01.city.local",
            "event_data": {"NewProcessName": "C:\\x.exe", "CommandLine": "x"},
        },
    }
    n = normalize_json(ecs)
    assert n.format == "ecs" and n.fields["EventID"] == 4688 and n.fields["NewProcessName"] == "C:\\x.exe"
    assert n.logsource.service == "security" and n.record_id == "77" and n.host == "dc01.city.local"
    nx = {
        "SourceModuleType": "im_msvistalog",
        "Hostname": "WS5",
        "Channel": "security",
        "EventID": "4658",
        "SourceName": "Microsoft-Windows-Security-Auditing",
        "RecordNumber": 9,
        "@timestamp": "2020-10-29T08:23:20.548Z",
    }
    n = normalize_json(nx)
    assert n.format == "nxlog" and n.fields["EventID"] == 4658 and n.fields["Computer"] == "WS5"
    assert n.fields["Provider_Name"] == "Microsoft-Windows-Security-Auditing" and n.record_id == "9"


def test_generic_json_is_flattened_with_dots() -> None:
    n = normalize_json(
        {"host": "app1", "http": {"status": 500, "path": "/login"}, "tags": ["a", None, "b"], "x": None}
    )
    assert n.format == "json" and n.host == "app1"
    assert n.fields == {"host": "app1", "http.status": 500, "http.path": "/login", "tags": ["a", "b"]}
    assert n.logsource.product is None and n.record_id is None


@pytest.mark.parametrize("bad", [[1, 2], "text", 3, None])
def test_non_objects_are_rejected(bad: object) -> None:
    with pytest.raises(ParseError):
        normalize_json(bad)


def test_deep_nesting_is_rejected_not_recursed_forever() -> None:
    obj: dict[str, object] = {}
    cur = obj
    for _ in range(100):
        nxt: dict[str, object] = {}
        cur["a"] = nxt
        cur = nxt
    with pytest.raises(ParseError):
        normalize_json(obj)
