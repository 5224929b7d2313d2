"""The snippet as a file: small enough for every product page, and free of what a strict
Content-Security-Policy forbids."""

from __future__ import annotations

import gzip
import re

from snippet_site import SNIPPET

LIMIT = 8 * 1024


def test_under_8_kb_gzipped():
    size = len(gzip.compress(SNIPPET.read_bytes(), compresslevel=9))
    assert size < LIMIT, f"touchline.js is {size} bytes gzipped; the limit is {LIMIT}"


def test_nothing_a_strict_policy_forbids_and_no_dependencies():
    source = SNIPPET.read_text()
    code = re.sub(r"//[^\n]*|/\*.*?\*/", "", source, flags=re.DOTALL)
    for forbidden in ("eval(", "new Function", "setTimeout(\"", ".innerHTML", ".outerHTML", "insertAdjacentHTML",
                      "document.write", ".style.", "cssText", "import(", "require("):  # fmt: skip
        assert forbidden not in code, forbidden
    assert 'setAttribute("style"' not in code and "setAttribute('style'" not in code
