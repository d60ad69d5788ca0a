from citysoc.core.event import Logsource
from citysoc.parsing.programs import program_fields, program_logsource


def test_sshd_failures_and_success() -> None:
    f = program_fields("sshd", "Failed password for invalid user admin from 203.0.113.9 port 5022 ssh2")
    assert f == {
        "outcome": "failure",
        "user": "admin",
        "src_ip": "203.0.113.9",
        "src_port": 5022,
        "auth_method": "password",
    }
    f = program_fields(
        "sshd", "Accepted publickey for deploy from 10.0.0.5 port 40000 ssh2: ED25519 SHA256:x"
    )
    assert f["outcome"] == "success" and f["user"] == "deploy"
    f = program_fields("sshd", "Invalid user oracle from 198.51.100.7 port 3333")
    assert f == {"outcome": "failure", "user": "oracle", "src_ip": "198.51.100.7", "src_port": 3333}
    f = program_fields(
        "sshd",
        "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=192.0.2.1  user=root",
    )
    assert f["outcome"] == "failure" and f["src_ip"] == "192.0.2.1" and f["user"] == "root"
    assert program_fields("sshd", "Server listening on 0.0.0.0 port 22.") == {}


def test_sudo_and_logsource_hints() -> None:
    f = program_fields("sudo", "  alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id")
    assert f == {
        "user": "alice",
        "target_user": "root",
        "pwd": "/home/alice",
        "tty": "pts/0",
        "command": "/usr/bin/id",
    }
    assert program_logsource("sshd") == Logsource(product="linux", service="sshd")
    assert program_logsource("nginx") is None
