"""The text facts the SQL translation relies on (``citysoc.hunt.text``)."""

from __future__ import annotations

import re

from sigma.types import SigmaString

from citysoc.detection.values import string_set
from citysoc.hunt import text


def test_ascii_folders_are_the_non_ascii_characters_that_fold_into_ascii() -> None:
    assert {"ß", "\u017f", "\u212a", "İ", "ﬁ"} <= set(text.ASCII_FOLDERS)
    assert all(not c.isascii() for c in text.ASCII_FOLDERS)
    assert "é" not in text.ASCII_FOLDERS and "Đ" not in text.ASCII_FOLDERS


def test_wildcard_patterns_rebuild_for_re2() -> None:
    (pattern,) = string_set(SigmaString("c:\\win*\\sys?em32\\\\*.e+e"), cased=False, keyword=False).patterns
    assert text.wildcard_parts(pattern.pattern)[:6] == [(False, c) for c in "c:\\win"]
    rebuilt = text.wildcard_re2(pattern.pattern)
    assert rebuilt.startswith("(?s)^c\\x{3a}\\x{5c}win.*") and rebuilt.endswith("\\x{2e}e\\x{2b}e$")
    # The rebuilt pattern means the same (Python reads \x{..} as \x.. once braces are dropped).
    python = re.compile(re.sub(r"\\x\{([0-9a-f]+)\}", lambda m: f"\\x{int(m.group(1), 16):02x}", rebuilt))
    for s in ("c:\\windows\\system32\\a\\b.e+e", "c:\\win\\sysXem32\\.e+e"):
        assert python.search(s) and pattern.fullmatch(s)
    assert not python.search("c:\\windows\\system32\\a.exe")


def test_re2_compatibility_check() -> None:
    for ok in ("^cmd.*/c$", "(?i)a|b", "[a-z]{2,5}\\d+", "(?P<x>a)"):
        assert text.re2_compatible(ok), ok
    for bad in ("(?=x)", "(?<!x)y", "(a)\\1", "a{,3}", "x\\Z", "(?x) a", "a++", "é", "[[:alpha:]]"):
        assert not text.re2_compatible(bad), bad


def test_json_escaped() -> None:
    assert text.json_escaped('c:\\a "b"\n') == 'c:\\\\a \\"b\\"\\n'
