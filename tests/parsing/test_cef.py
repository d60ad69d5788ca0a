import pytest

from citysoc.parsing.cef import find_cef_leef, parse_cef, parse_leef
from citysoc.parsing.errors import ParseError


def test_cef_example_from_the_format_guide() -> None:
    f = parse_cef(
        "CEF:0|Security|threatmanager|1.0|100|worm successfully stopped|10|src=10.0.0.1 dst=2.1.2.2 spt=1232"
    )
    assert f["cef.device_vendor"] == "Security" and f["cef.name"] == "worm successfully stopped"
    assert f["cef.severity"] == "10" and (f["src"], f["dst"], f["spt"]) == ("10.0.0.1", "2.1.2.2", "1232")


def test_cef_escapes_spaces_in_values_and_custom_labels() -> None:
    f = parse_cef(
        r"CEF:0|Fortinet|FortiGate|7.2|0001|Block \| deny|5|act=blocked msg=File a\=b was blocked by policy "
        r"cs1Label=Policy cs1=Branch office\\main suser=nguyen van a"
    )
    assert f["cef.name"] == "Block | deny"
    assert f["msg"] == "File a=b was blocked by policy"
    assert f["cs1"] == "Branch office\\main" and f["Policy"] == "Branch office\\main"
    assert f["suser"] == "nguyen van a" and f["act"] == "blocked"


def test_leef_1_and_2() -> None:
    f = parse_leef(
        "LEEF:1.0|Microsoft|MSExchange|4.0 SP1|15345|src=192.0.2.0\tdst=172.50.123.1\tsev=5\tcat=anomaly"
    )
    assert f["leef.vendor"] == "Microsoft" and f["leef.event_id"] == "15345" and f["dst"] == "172.50.123.1"
    f = parse_leef("LEEF:2.0|Lancope|StealthWatch|1.0|41|^|src=10.0.1.8^dst=10.0.0.5^sev=5^srcPort=81")
    assert f["leef.product"] == "StealthWatch" and f["srcPort"] == "81" and f["src"] == "10.0.1.8"
    f = parse_leef("LEEF:2.0|V|P|1|E|x7C|a=1|b=2")
    assert (f["a"], f["b"]) == ("1", "2")


@pytest.mark.parametrize("bad", ["CEF:0|only|three", "LEEF:1.0|a|b", "LEEF:2.0|a|b|c|d|zz|x=1"])
def test_truncated_headers_are_errors(bad: str) -> None:
    with pytest.raises(ParseError):
        (parse_cef if bad.startswith("CEF") else parse_leef)(bad)


def test_find_in_syslog_message() -> None:
    assert find_cef_leef("CEF:0|a|b|c|d|e|f|") == 0
    assert find_cef_leef("host1 CEF:0|a|b|c|d|e|f|") == 6
    assert find_cef_leef("the text mentions CEF:0 in passing") == 18
    assert find_cef_leef("XCEF:0|") == -1
