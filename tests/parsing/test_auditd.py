from datetime import UTC, datetime

import pytest

from citysoc.parsing.auditd import is_audit, parse_audit
from citysoc.parsing.errors import ParseError


def test_syscall_record_with_quoted_and_hex_values() -> None:
    f, when = parse_audit(
        "type=SYSCALL msg=audit(1700000000.123:4242): arch=c000003e syscall=59 success=yes exit=0 "
        'a0=55d1 ppid=100 pid=4321 auid=1000 uid=0 comm="curl" exe="/usr/bin/curl" key="exec_watch"'
    )
    assert (
        f["type"] == "SYSCALL"
        and f["syscall"] == "59"
        and f["exe"] == "/usr/bin/curl"
        and f["key"] == "exec_watch"
    )
    assert f["audit_serial"] == 4242
    assert when == datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    f, _ = parse_audit("type=PROCTITLE msg=audit(1700000000.123:4242): proctitle=6375726C002D73006874747073")
    assert f["proctitle"] == "curl -s https"
    f, _ = parse_audit('node=web01 type=EXECVE msg=audit(1700000000.1:7): argc=2 a0="ls" a1="-la"')
    assert (f["node"], f["a0"], f["a1"]) == ("web01", "ls", "-la")


def test_detection_and_errors() -> None:
    assert is_audit("type=USER_LOGIN msg=audit(1.0:1): x=1") and not is_audit("sshd: hello")
    with pytest.raises(ParseError):
        parse_audit("node=web01 nothing else")
