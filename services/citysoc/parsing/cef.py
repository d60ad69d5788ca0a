"""CEF (ArcSight Common Event Format) and LEEF (IBM QRadar Log Event Extended Format). Pure functions.

Both usually arrive as the MSG of a syslog line; :func:`find_cef_leef` locates them there.

* CEF: ``CEF:Version|Device Vendor|Device Product|Device Version|Signature ID|Name|Severity|Extension``.
  Header fields escape ``\\|`` and ``\\\\``; the extension is ``key=value`` pairs separated by spaces,
  where values may contain spaces (a value runs until the next `` key=``) and escape ``\\=``,
  ``\\\\``, ``\\n``, ``\\r``.
* LEEF 1.0: ``LEEF:1.0|Vendor|Product|Version|EventID|`` then tab-separated ``key=value``.
  LEEF 2.0: ``LEEF:2.0|Vendor|Product|Version|EventID|DelimiterChar|`` (the delimiter may be given as
  a character, or as ``xHH``/``0xHH`` hex).

Fields: header fields under ``cef.*``/``leef.*`` names, extension keys as they are (so rules can use
``src``, ``dst``, ``suser``, ``act`` ...). Custom label pairs (``cs1Label=Rule`` + ``cs1=Block``) also
yield ``Rule=Block``.
"""

from __future__ import annotations

import re
from typing import Literal

from citysoc.parsing.errors import ParseError

_CEF_KEY = re.compile(r"(?:^| )([A-Za-z0-9_.\[\]-]+)=")
_EXT_UNESCAPE = {"=": "=", "\\": "\\", "n": "\n", "r": "\r", "|": "|"}
_CEF_HEADER = (
    "cef.version",
    "cef.device_vendor",
    "cef.device_product",
    "cef.device_version",
    "cef.signature_id",
    "cef.name",
    "cef.severity",
)
_LEEF_HEADER = ("leef.version", "leef.vendor", "leef.product", "leef.product_version", "leef.event_id")


def find_cef_leef(message: str) -> int:
    """Position of a ``CEF:``/``LEEF:`` start in a syslog message, or -1."""
    for marker in ("CEF:", "LEEF:"):
        i = message.find(marker)
        if i == 0 or (i > 0 and message[i - 1] in " :"):
            return i
    return -1


def _split_header(text: str, count: int) -> tuple[list[str], str]:
    """The first ``count`` pipe-separated header fields (``\\|``, ``\\\\`` escaped), and the rest."""
    parts: list[str] = []
    buf: list[str] = []
    i = 0
    n = len(text)
    while i < n and len(parts) < count:
        c = text[i]
        if c == "\\" and i + 1 < n and text[i + 1] in "|\\":
            buf.append(text[i + 1])
            i += 2
            continue
        if c == "|":
            parts.append("".join(buf))
            buf = []
        else:
            buf.append(c)
        i += 1
    if len(parts) < count:
        raise ParseError("unsupported_format", f"header has {len(parts)} of {count} '|'-separated fields")
    return parts, text[i:]


def _unescape_ext(v: str) -> str:
    if "\\" not in v:
        return v
    out: list[str] = []
    i = 0
    while i < len(v):
        if v[i] == "\\" and i + 1 < len(v) and v[i + 1] in _EXT_UNESCAPE:
            out.append(_EXT_UNESCAPE[v[i + 1]])
            i += 2
        else:
            out.append(v[i])
            i += 1
    return "".join(out)


def _cef_extension(ext: str) -> dict[str, object]:
    out: dict[str, object] = {}
    # Keys are found where " key=" begins and "=" is not escaped; a value runs to the next key.
    starts = [m for m in _CEF_KEY.finditer(ext) if not _escaped(ext, m.end() - 1)]
    for k, m in enumerate(starts):
        end = starts[k + 1].start() if k + 1 < len(starts) else len(ext)
        out[m.group(1)] = _unescape_ext(
            ext[m.end() : end].rstrip(" ") if k + 1 < len(starts) else ext[m.end() :]
        )
    for key in list(out):
        if key.endswith("Label") and isinstance(out[key], str):
            base = key[: -len("Label")]
            if base in out and out[key]:
                out.setdefault(str(out[key]), out[base])
    return out


def _escaped(s: str, i: int) -> bool:
    backslashes = 0
    j = i - 1
    while j >= 0 and s[j] == "\\":
        backslashes += 1
        j -= 1
    return backslashes % 2 == 1


def parse_cef(text: str) -> dict[str, object]:
    if not text.startswith("CEF:"):
        raise ParseError("unsupported_format", "not CEF")
    header, ext = _split_header(text[4:], 7)
    fields: dict[str, object] = dict(zip(_CEF_HEADER, header, strict=True))
    fields.update(_cef_extension(ext))
    return {k: v for k, v in fields.items() if v != ""}


def _leef_delimiter(spec: str) -> str:
    s = spec.strip()
    if len(s) == 1:
        return s
    hexpart = s[2:] if s.lower().startswith("0x") else s[1:] if s.lower().startswith("x") else ""
    try:
        return chr(int(hexpart, 16))
    except ValueError:
        raise ParseError("unsupported_format", f"invalid LEEF delimiter {spec!r}") from None


def parse_leef(text: str) -> dict[str, object]:
    if not text.startswith("LEEF:"):
        raise ParseError("unsupported_format", "not LEEF")
    version = text[5:8]
    if version == "2.0":
        header, rest = _split_header(text[5:], 6)
        delimiter = _leef_delimiter(header[5]) if header[5] else "\t"
        header = header[:5]
    else:
        header, rest = _split_header(text[5:], 5)
        delimiter = "\t"
    fields: dict[str, object] = dict(zip(_LEEF_HEADER, header, strict=True))
    for pair in rest.split(delimiter):
        key, eq, value = pair.partition("=")
        if eq and key.strip():
            fields[key.strip()] = value
    return {k: v for k, v in fields.items() if v != ""}


def parse_cef_or_leef(text: str) -> tuple[Literal["cef", "leef"], dict[str, object]]:
    """Parse text starting with ``CEF:`` or ``LEEF:``; ``ParseError`` otherwise or when malformed."""
    if text.startswith("CEF:"):
        return "cef", parse_cef(text)
    return "leef", parse_leef(text)
