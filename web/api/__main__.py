"""``python -m web.api [FILE]``: write the API's OpenAPI description to FILE (default: stdout)."""

import sys
from pathlib import Path

from web.api.openapi import document_text

if len(sys.argv) > 1:
    Path(sys.argv[1]).write_text(document_text(), encoding="utf-8")
else:
    sys.stdout.write(document_text())
