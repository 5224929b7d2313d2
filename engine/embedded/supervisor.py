"""Start and watch the child processes of the embedded run.

- Every child gets ``die_with_parent`` (PR_SET_PDEATHSIG): none outlives the
  supervisor, even when the supervisor is killed with SIGKILL.
- Every child runs in its own process group, so a Ctrl-C in the terminal
  reaches the supervisor only, which then stops the children in order.
- Each line a child prints is passed on prefixed with the child's name.
- On SIGINT/SIGTERM the children are stopped in reverse start order: SIGTERM,
  up to ``stop_timeout`` seconds to exit, then SIGKILL.
- A child started with ``restart=True`` (workers, the scheduler, the admin) that
  exits on its own is started again after a growing delay (1 s, 2 s, 5 s, 10 s,
  30 s), as a container's restart policy would: an RQ worker exits when Redis
  goes away mid-job, and the deliveries it held are taken up again by the
  sweeper. More than ``RESTART_LIMIT`` exits within ``RESTART_WINDOW`` seconds
  is a crash loop, and a failure.
- Any other child that exits on its own (Redis, the mail catcher), or one that
  crash-loops, is a failure: the supervisor says which one, stops the others
  and returns a non-zero exit code.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO

from engine.embedded.process import die_with_parent

STOP_TIMEOUT = 10.0
POLL_INTERVAL = 0.2
RESTART_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0)  # seconds before the 1st, 2nd, ... restart in a window
RESTART_LIMIT = 5  # unexpected exits within RESTART_WINDOW before giving up
RESTART_WINDOW = 300.0


class StopRequested(Exception):
    """Raised in the main thread by SIGINT/SIGTERM while the supervisor is starting up."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class ChildFailed(RuntimeError):
    """A child exited while it should have been running."""


class NotReady(RuntimeError):
    """What ``wait_until`` waited for did not happen in time."""


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    argv: Sequence[str] = ()
    env: Mapping[str, str] | None = None
    cwd: str | None = None
    restart: bool = False
    exits: list[float] = field(default_factory=list)  # monotonic times of its unexpected exits
    restart_at: float | None = None  # when it is started again (it exited and waits)
    _reader: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid

    def running(self) -> bool:
        return self.process.poll() is None


class Supervisor:
    """Use as a context manager: leaving the block stops every child."""

    def __init__(self, out: IO[str] | None = None, stop_timeout: float = STOP_TIMEOUT, name: str = "touchline",
                 restart_delays: Sequence[float] = RESTART_DELAYS, restart_limit: int = RESTART_LIMIT) -> None:  # fmt: skip
        self.out = out or sys.stdout
        self.restart_delays, self.restart_limit = tuple(restart_delays), restart_limit
        self.stop_timeout = stop_timeout
        self.name = name
        self.children: list[Child] = []
        self._lock = threading.Lock()
        self._signal: int | None = None
        self._raise_on_signal = True
        self._stopping = False
        self._saved_handlers: dict[int, object] = {}
        self._width = len(name)

    # -- output -----------------------------------------------------------------

    def say(self, text: str, source: str | None = None) -> None:
        """Print a line (or several) prefixed with ``source`` (default: the supervisor)."""
        prefix = f"{(source or self.name):<{self._width}} | "
        with self._lock:
            for line in text.splitlines() or [""]:
                self.out.write(prefix + line + "\n")
            self.out.flush()

    def announce(self, text: str) -> None:
        """Print ``text`` as is (for banners that should stand out from the prefixed lines)."""
        with self._lock:
            self.out.write(text if text.endswith("\n") else text + "\n")
            self.out.flush()

    def _pump(self, child: Child, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            self.say(raw.decode("utf-8", "replace").rstrip("\r\n"), child.name)
        stream.close()

    # -- signals ----------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        if self._stopping:
            # A second Ctrl-C while stopping: stop waiting, kill what is left.
            self.stop_timeout = 0
            return
        self._signal = signum
        if self._raise_on_signal:
            raise StopRequested(signum)

    def install_signal_handlers(self) -> None:
        for sig in (signal.SIGINT, signal.SIGTERM):
            self._saved_handlers[sig] = signal.signal(sig, self._on_signal)

    def restore_signal_handlers(self) -> None:
        for sig, handler in self._saved_handlers.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        self._saved_handlers.clear()

    def __enter__(self) -> Supervisor:
        self.install_signal_handlers()
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop_all()
        finally:
            self.restore_signal_handlers()

    # -- children ---------------------------------------------------------------

    def start(
        self,
        name: str,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        cwd: str | None = None,
        *,
        restart: bool = False,
    ) -> Child:
        """Start ``argv`` as child ``name``; its stdout and stderr are passed on, prefixed.
        With ``restart``, it is started again when it exits on its own (see the module)."""
        child = Child(name, self._spawn(argv, env, cwd), tuple(argv), env, cwd, restart)
        self._read(child)
        self._add(child)
        return child

    def _spawn(self, argv: Sequence[str], env: Mapping[str, str] | None, cwd: str | None) -> subprocess.Popen:
        return subprocess.Popen(
            list(argv),
            env=dict(env) if env is not None else None,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
            process_group=0,
        )

    def _read(self, child: Child) -> None:
        assert child.process.stdout is not None
        child._reader = threading.Thread(target=self._pump, args=(child, child.process.stdout), daemon=True,
                                         name=child.name)  # fmt: skip
        child._reader.start()

    def adopt(self, name: str, process: subprocess.Popen) -> Child:
        """Watch and stop a process started elsewhere (it should use ``die_with_parent`` too)."""
        child = Child(name, process)
        self._add(child)
        return child

    def _add(self, child: Child) -> None:
        self.children.append(child)
        self._width = max(self._width, len(child.name))

    def check(self) -> None:
        """Raise ChildFailed if any child has exited."""
        for child in self.children:
            code = child.process.poll()
            if code is not None:
                raise ChildFailed(f"{child.name} (pid {child.pid}) exited unexpectedly with {describe_exit(code)}")

    def wait_until(self, ready: Callable[[], bool], what: str, timeout: float) -> None:
        """Wait for ``ready()`` while watching the children: ChildFailed if one dies, NotReady on timeout."""
        deadline = time.monotonic() + timeout
        while not ready():
            self.check()
            if time.monotonic() > deadline:
                raise NotReady(f"{what} was not ready within {timeout:g}s")
            time.sleep(POLL_INTERVAL)

    def run(self) -> int:
        """Block until a signal (exit code 0) or until a child fails for good (exit code 1);
        restartable children are started again meanwhile."""
        self._raise_on_signal = False
        try:
            while self._signal is None:
                try:
                    self._watch(time.monotonic())
                except ChildFailed as exc:
                    self.say(f"{exc}; stopping everything")
                    self.stop_all()
                    return 1
                time.sleep(POLL_INTERVAL)
            self.say(f"received {signal.Signals(self._signal).name}, stopping")
            self.stop_all()
            return 0
        finally:
            self._raise_on_signal = True

    def _watch(self, now: float) -> None:
        """Restart the children due for it; ChildFailed for one that may not (or may no longer) be."""
        for child in self.children:
            if child.restart_at is not None:
                if now >= child.restart_at:
                    self._respawn(child)
                continue
            code = child.process.poll()
            if code is None:
                continue
            what = f"{child.name} (pid {child.pid}) exited unexpectedly with {describe_exit(code)}"
            if not child.restart:
                raise ChildFailed(what)
            child.exits = [t for t in child.exits if now - t < RESTART_WINDOW] + [now]
            if len(child.exits) > self.restart_limit:
                raise ChildFailed(f"{what} ({len(child.exits)} times in {RESTART_WINDOW:.0f}s)")
            delay = self.restart_delays[min(len(child.exits), len(self.restart_delays)) - 1]
            child.restart_at = now + delay
            self.say(f"{what}; starting it again in {delay:g}s")

    def _respawn(self, child: Child) -> None:
        if child._reader is not None:
            child._reader.join(timeout=2)
        child.process = self._spawn(child.argv, child.env, child.cwd)
        child.restart_at = None
        self._read(child)
        self.say(f"started {child.name} again (pid {child.pid})")

    def stop_all(self) -> None:
        """Stop every child, last started first: SIGTERM, wait, then SIGKILL."""
        self._stopping = True
        try:
            running = [c for c in self.children if c.running()]
            for child in reversed(self.children):
                self._stop(child)
            if running:
                self.say(f"stopped {', '.join(c.name for c in reversed(running))}")
        finally:
            self._stopping = False

    def _stop(self, child: Child) -> None:
        proc = child.process
        if proc.poll() is None:
            try:
                proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            deadline = time.monotonic() + self.stop_timeout
            while proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.05)
            if proc.poll() is None:
                self.say(f"{child.name} (pid {child.pid}) did not stop within {self.stop_timeout:.0f}s; killing it")
                proc.kill()
                proc.wait()
        if child._reader is not None:
            # Let the last lines through; a grandchild holding the pipe must not block us.
            child._reader.join(timeout=2)


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus ``extra``, with unbuffered Python output
    so children's lines show up as they are printed."""
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env
