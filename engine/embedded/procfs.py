"""Reading the process tree from Linux's /proc (for checks that nothing is left behind)."""

from __future__ import annotations

from pathlib import Path

PROC = Path("/proc")


def children(pid: int) -> set[int]:
    """Direct children of ``pid`` (all its threads' children)."""
    found: set[int] = set()
    for task in (PROC / str(pid) / "task").glob("*"):
        try:
            found.update(int(p) for p in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, at the time of the call."""
    seen: set[int] = set()
    todo = [pid]
    while todo:
        for child in children(todo.pop()) - seen:
            seen.add(child)
            todo.append(child)
    return seen


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a pid's reuse apart); None if gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # Field 2 (comm) may contain spaces and parentheses: split after the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_running(pid: int, started: int | None = None) -> bool:
    """True if ``pid`` exists and is not a zombie (and, if given, started at ``started``)."""
    try:
        stat = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    rest = stat.rsplit(")", 1)[1].split()
    if rest[0] in ("Z", "X"):
        # Exited; only waiting for its (new) parent to reap it.
        return False
    return started is None or int(rest[19]) == started


def command_line(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except (FileNotFoundError, ProcessLookupError):
        return ""
