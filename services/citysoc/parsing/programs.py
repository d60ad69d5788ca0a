"""Fields and logsource hints for common syslog programs (sshd, sudo). Pure functions.

The names produced here are what the project's Sigma pipeline for syslog maps rule fields onto
(see ``detections/README.md``).
"""

from __future__ import annotations

import re

from citysoc.core.event import Logsource

_SSHD = [
    (
        re.compile(
            r"^(?P<outcome>Failed|Accepted) (?P<method>\S+) for (?:invalid user )?(?P<user>.*?) "
            r"from (?P<ip>\S+) port (?P<port>\d+)"
        ),
        None,
    ),
    (re.compile(r"^Invalid user (?P<user>.*?) from (?P<ip>\S+)(?: port (?P<port>\d+))?"), "failure"),
    (
        re.compile(
            r"^error: maximum authentication attempts exceeded for (?:invalid user )?(?P<user>.*?) "
            r"from (?P<ip>\S+) port (?P<port>\d+)"
        ),
        "failure",
    ),
    (
        re.compile(r"authentication failure;.*?rhost=(?P<ip>\S*)(?:\s+user=(?P<user>\S+))?"),
        "failure",
    ),
]
_SUDO = re.compile(r"^\s*(?P<user>[^\s:]+) : (?P<rest>.*)$")
_SUDO_KEYS = {"TTY": "tty", "PWD": "pwd", "USER": "target_user", "COMMAND": "command"}

_PROGRAM_SERVICE = {
    "sshd": "sshd",
    "sudo": "sudo",
    "cron": "cron",
    "crond": "cron",
    "auditd": "auditd",
    "su": "su",
}


def program_logsource(app_name: str) -> Logsource | None:
    """Logsource hints for a syslog program name (None for unknown programs)."""
    service = _PROGRAM_SERVICE.get(app_name.lower())
    return Logsource(product="linux", service=service) if service else None


def program_fields(app_name: str, message: str) -> dict[str, object]:
    """Extra fields extracted from the message of a known program (empty when nothing matched)."""
    app = app_name.lower()
    if app == "sshd":
        for rx, outcome in _SSHD:
            if m := rx.search(message):
                d = m.groupdict()
                out: dict[str, object] = {
                    "outcome": outcome or ("failure" if d.get("outcome") == "Failed" else "success")
                }
                if d.get("user"):
                    out["user"] = d["user"]
                if d.get("ip"):
                    out["src_ip"] = d["ip"]
                if d.get("port"):
                    out["src_port"] = int(d["port"])
                if d.get("method"):
                    out["auth_method"] = d["method"]
                return out
    elif app == "sudo" and (m := _SUDO.search(message)):
        # "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id" (COMMAND comes last
        # and may itself contain " ; ", so everything after COMMAND= is the command).
        sudo: dict[str, object] = {"user": m["user"]}
        rest = m["rest"]
        cmd_at = rest.find("COMMAND=")
        if cmd_at >= 0:
            sudo["command"] = rest[cmd_at + len("COMMAND=") :]
            rest = rest[:cmd_at]
        for item in rest.split(" ; "):
            key, eq, value = item.strip().partition("=")
            if eq and key in _SUDO_KEYS:
                sudo[_SUDO_KEYS[key]] = value
        return sudo
    return {}
