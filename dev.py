#!/usr/bin/env python3
"""Bootstrap and run Touchline from a checkout with nothing but Python 3.11+.

    python3 dev.py up      # create .venv, install Touchline, start everything
    python3 dev.py test    # create .venv, install test dependencies, run the tests

Any further arguments go to ``touchline up`` or to pytest. The virtualenv is
reinstalled only when pyproject.toml changes.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = Path(os.environ.get("TOUCHLINE_VENV", ROOT / ".venv"))
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def ensure_venv(extras: str) -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"Touchline needs Python 3.11 or newer; this is {sys.version.split()[0]}")
    stamp = VENV / f".touchline-installed-{extras or 'base'}"
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == digest and PYTHON.exists():
        return
    if not PYTHON.exists():
        print(f"creating virtualenv in {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    target = f".[{extras}]" if extras else "."
    print(f"installing Touchline ({target}) into {VENV}", flush=True)
    pip = [str(PYTHON), "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "install", "--upgrade", "pip"], check=True)
    subprocess.run([*pip, "install", "-e", target], check=True, cwd=ROOT)
    stamp.write_text(digest)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"up", "test"}:
        print(__doc__.strip())
        return 2
    command, rest = argv[0], argv[1:]
    if command == "up":
        ensure_venv("")
        args = [str(BIN / "touchline"), "up", *rest]
    else:
        ensure_venv("dev")
        args = [str(PYTHON), "-m", "pytest", *rest]
    os.chdir(ROOT)
    # exec keeps signals (Ctrl-C, SIGTERM) going straight to touchline/pytest.
    os.execv(args[0], args)
    return 0  # not reached


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
