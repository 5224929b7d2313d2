"""The supervisor with real child processes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from engine.embedded.procfs import is_running, start_time
from engine.embedded.supervisor import ChildFailed, NotReady, StopRequested, Supervisor

ROOT = Path(__file__).resolve().parents[3]

# A child that logs "<name> started", and "<name> stopped" to a shared file on SIGTERM.
OBEDIENT = textwrap.dedent(
    """
    import signal, sys, time
    name, log = sys.argv[1], sys.argv[2]
    def stop(*_):
        with open(log, "a") as fh:
            fh.write(name + "\\n")
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
    print(name, "started", flush=True)
    while True:
        time.sleep(0.05)
    """
)


def wait_for(predicate, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def signal_soon(sig: int, delay: float = 0.3) -> threading.Timer:
    timer = threading.Timer(delay, os.kill, args=(os.getpid(), sig))
    timer.start()
    return timer


def test_stop_on_sigterm_in_reverse_order_with_prefixed_output(tmp_path: Path) -> None:
    out = io.StringIO()
    log = tmp_path / "stopped.log"
    before = signal.getsignal(signal.SIGTERM)
    with Supervisor(out=out) as sup:
        names = ["first", "second", "third"]
        for name in names:
            sup.start(name, [sys.executable, "-c", OBEDIENT, name, str(log)])
        wait_for(lambda: all(f"{n} started" in out.getvalue() for n in names), what="children to start")
        procs = [c.process for c in sup.children]
        signal_soon(signal.SIGTERM)
        code = sup.run()
    assert code == 0
    assert log.read_text().split() == ["third", "second", "first"]
    assert all(p.returncode == 0 for p in procs)
    lines = out.getvalue().splitlines()
    assert "second    | second started" in lines
    assert any(line.startswith("touchline | received SIGTERM") for line in lines)
    # The handlers are restored once the block is left.
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_child_that_exits_stops_everything_with_failure(tmp_path: Path) -> None:
    out = io.StringIO()
    with Supervisor(out=out) as sup:
        steady = sup.start("steady", ["sleep", "60"])
        sup.start("crashy", [sys.executable, "-c", "import time, sys; time.sleep(0.3); sys.exit(3)"])
        code = sup.run()
    assert code == 1
    assert "crashy (pid" in out.getvalue()
    assert "exited unexpectedly with exit code 3" in out.getvalue()
    assert steady.process.poll() is not None
    assert not is_running(steady.pid)


def test_child_that_ignores_sigterm_is_killed(tmp_path: Path) -> None:
    out = io.StringIO()
    stubborn_code = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\nprint('up', flush=True)\ntime.sleep(60)"
    with Supervisor(out=out, stop_timeout=0.5) as sup:
        child = sup.start("stubborn", [sys.executable, "-c", stubborn_code])
        wait_for(lambda: "stubborn  | up" in out.getvalue(), what="child to start")
        started = time.monotonic()
    assert child.process.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 5
    assert "did not stop within" in out.getvalue()


def test_signal_while_starting_raises_and_stops_children() -> None:
    out = io.StringIO()
    with pytest.raises(StopRequested):
        with Supervisor(out=out) as sup:
            child = sup.start("sleeper", ["sleep", "60"])
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)  # interrupted by the handler
    assert child.process.poll() is not None


def test_wait_until_notices_a_dead_child() -> None:
    with Supervisor(out=io.StringIO()) as sup:
        sup.start("dies", [sys.executable, "-c", "raise SystemExit(2)"])
        with pytest.raises(ChildFailed, match="dies .* exit code 2"):
            sup.wait_until(lambda: False, "never", timeout=10)


def test_wait_until_gives_up_after_its_timeout() -> None:
    with Supervisor(out=io.StringIO()) as sup:
        sup.start("sleeper", ["sleep", "60"])
        with pytest.raises(NotReady, match="the thing was not ready within 0.5s"):
            sup.wait_until(lambda: False, "the thing", timeout=0.5)
        sup.wait_until(lambda: True, "at once", timeout=0.5)


PARENT = textwrap.dedent(
    """
    import json, sys
    from engine.embedded.supervisor import Supervisor
    with Supervisor() as sup:
        a = sup.start("a", ["sleep", "300"])
        b = sup.start("b", [sys.executable, "-c", "import time; time.sleep(300)"])
        print(json.dumps([a.pid, b.pid]), flush=True)
        sup.run()
    """
)


def test_children_die_when_the_supervisor_is_killed_with_sigkill() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        pids = json.loads(parent.stdout.readline())
        started = {pid: start_time(pid) for pid in pids}
        assert all(is_running(pid, started[pid]) for pid in pids)
        parent.kill()
        parent.wait(10)
        wait_for(lambda: not any(is_running(pid, started[pid]) for pid in pids), timeout=10, what="children to die")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


def test_a_restartable_child_that_exits_is_started_again_after_a_delay(tmp_path: Path) -> None:
    out = io.StringIO()
    runs = tmp_path / "runs"
    # Exits with 3 on its first run (as an RQ worker does when Redis goes away), then stays up.
    flaky = ("import pathlib, sys, time\np = pathlib.Path(sys.argv[1])\nn = int(p.read_text()) if p.exists() else 0\n"
             "p.write_text(str(n + 1))\nprint('run', n + 1, flush=True)\nsys.exit(3) if n == 0 else time.sleep(60)")  # fmt: skip
    with Supervisor(out=out, restart_delays=(0.2,)) as sup:
        child = sup.start("worker", [sys.executable, "-c", flaky, str(runs)], restart=True)
        first = child.pid
        steady = sup.start("steady", ["sleep", "60"])

        def stop_when_back():
            wait_for(lambda: "worker    | run 2" in out.getvalue(), what="the second run")
            os.kill(os.getpid(), signal.SIGTERM)

        threading.Thread(target=stop_when_back, daemon=True).start()
        code = sup.run()
    assert code == 0
    assert child.pid != first and runs.read_text() == "2"
    text = out.getvalue()
    assert f"worker (pid {first}) exited unexpectedly with exit code 3; starting it again in 0.2s" in text
    assert f"started worker again (pid {child.pid})" in text
    assert not is_running(child.pid) and not is_running(steady.pid)


def test_a_child_that_keeps_exiting_is_a_failure_after_the_restart_limit() -> None:
    out = io.StringIO()
    with Supervisor(out=out, restart_delays=(0.05,), restart_limit=2) as sup:
        sup.start("crashy", [sys.executable, "-c", "import sys; sys.exit(4)"], restart=True)
        steady = sup.start("steady", ["sleep", "60"])
        code = sup.run()
    assert code == 1
    assert out.getvalue().count("starting it again") == 2
    assert "exited unexpectedly with exit code 4 (3 times in 300s); stopping everything" in out.getvalue()
    assert not is_running(steady.pid)
