"""ISO 8601 / RFC 3339 timestamp reading shared by the parsers. Pure."""

from __future__ import annotations

from datetime import datetime


def parse_iso(text: str) -> datetime | None:
    """Read ``2026-11-23T10:00:00.123456789+07:00`` style text; None when unreadable.

    Accepts ``Z``/``z``, a space instead of ``T``, and fractions beyond microseconds (truncated, since
    Python keeps six digits). The result is naive when the text carries no offset: callers decide.
    """
    s = text.strip().replace(" ", "T", 1)
    if s.endswith(("Z", "z")):
        s = s[:-1] + "+00:00"
    dot = s.find(".")
    if dot > 0:
        end = dot + 1
        while end < len(s) and s[end].isdigit():
            end += 1
        s = s[: dot + 1] + s[dot + 1 : end][:6] + s[end:]
    try:
        return datetime.fromisoformat(s)
    except ValueError:
        return None
