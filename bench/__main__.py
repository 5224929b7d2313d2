"""Run every benchmark in bench/ (files named *_bench.py), one after another.

    python -m bench            # all of them, default sizes
    python -m bench import     # only those whose name contains "import"
    python -m bench send       # only the send benchmark (SMTP sink, Redis, two workers)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    selected = [p for p in sorted(HERE.glob("*_bench.py")) if not argv or any(a in p.stem for a in argv)]
    if not selected:
        print(f"no benchmark in {HERE} matches {' '.join(argv)}", file=sys.stderr)
        return 2
    failed = []
    for path in selected:
        print(f"== {path.stem}", flush=True)
        started = time.perf_counter()
        code = subprocess.call([sys.executable, "-m", f"bench.{path.stem}"], cwd=HERE.parent)
        print(f"== {path.stem}: {'ok' if code == 0 else f'FAILED ({code})'} in {time.perf_counter() - started:.0f} s\n", flush=True)
        if code:
            failed.append(path.stem)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
