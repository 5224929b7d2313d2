"""Children that must not outlive their parent, even when their own stop hangs."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from engine.embedded.process import exit_when_orphaned, parent_death_signal
from engine.embedded.procfs import is_running, start_time

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")

# A child whose graceful stop hangs (it ignores SIGTERM, as an RQ worker
# retrying a dead Redis in effect does), started by a parent that dies. Its
# output goes to pipes that die with the parent, as under the supervisor.
PARENT = textwrap.dedent(
    """
    import json, subprocess, sys
    from engine.embedded.process import die_with_parent
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1]], preexec_fn=die_with_parent,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    print(json.dumps([child.pid, child.stdout.readline().strip()]), flush=True)
    import time; time.sleep(300)
    """
)
STUBBORN = textwrap.dedent(
    """
    import signal, sys, time
    from engine.embedded.process import exit_when_orphaned
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    watching = exit_when_orphaned(grace={grace}, poll=0.05) is not None
    print("watching" if watching else "not watching", flush=True)
    time.sleep(300)
    """
)


def start_family(grace: float) -> tuple[subprocess.Popen, int, str]:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, STUBBORN.format(grace=grace)], stdout=subprocess.PIPE, text=True, cwd=ROOT
    )
    pid, said = json.loads(parent.stdout.readline())
    return parent, pid, said


def test_a_child_whose_stop_hangs_exits_after_the_grace_once_its_parent_dies() -> None:
    parent, pid, said = start_family(grace=1.0)
    started = start_time(pid)
    try:
        assert said == "watching"
        time.sleep(1.5)  # longer than the grace: the watch waits for the parent, not the clock
        assert is_running(pid, started)
        parent.kill()
        parent.wait(10)
        killed_at = time.monotonic()
        time.sleep(0.5)
        assert is_running(pid, started), "SIGTERM is ignored: only the watch may end it, after its grace"
        deadline = killed_at + 10
        while is_running(pid, started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_running(pid, started)
        assert time.monotonic() - killed_at >= 1.0
    finally:
        if parent.poll() is None:
            parent.kill()
        subprocess.run(["kill", "-9", str(pid)], capture_output=True)


def test_without_a_parent_death_signal_nothing_is_watched() -> None:
    # pytest itself was not started by the supervisor.
    assert parent_death_signal() == 0
    assert exit_when_orphaned() is None
