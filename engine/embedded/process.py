"""Helpers for child processes that must never outlive their parent."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
import threading
import time

PR_SET_PDEATHSIG = 1
PR_GET_PDEATHSIG = 2
ORPHAN_GRACE = 10.0  # seconds a child whose parent died has to stop on its own


def die_with_parent() -> None:
    """preexec_fn: have the kernel send SIGTERM to this child when its parent dies.

    Covers the case no signal handler can: the parent killed with SIGKILL or
    crashing. Linux only; elsewhere the supervisor's own shutdown is all there is.
    """
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        # The parent may have died between fork and prctl.
        if os.getppid() == 1:
            os._exit(1)


def parent_death_signal() -> int:
    """The signal this process gets when its parent dies (0: none, or not Linux)."""
    if not sys.platform.startswith("linux"):
        return 0
    libc = ctypes.CDLL(None, use_errno=True)
    value = ctypes.c_int(0)
    if libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(value), 0, 0, 0) != 0:
        return 0
    return value.value


def exit_when_orphaned(grace: float = ORPHAN_GRACE, poll: float = 0.5) -> threading.Thread | None:
    """In a child started with ``die_with_parent``: end the process ``grace``
    seconds after its parent died, if the graceful stop that the parent-death
    signal asked for has not ended it by then.

    A graceful stop can hang when the parent's other children died with it: an
    RQ worker whose Redis went away retries the connection forever. A daemon
    thread watches the parent, so no signal handler is involved. Does nothing
    in a process that has no parent-death signal (one not started by the
    supervisor).
    """
    if parent_death_signal() == 0:
        return None
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll)
        time.sleep(grace)
        try:
            sys.stderr.write(f"parent {parent} is gone and this process did not stop within {grace:g}s; exiting\n")
            sys.stderr.flush()
        except (OSError, ValueError):
            pass  # the pipe to the parent is most likely closed
        finally:
            os._exit(1)

    thread = threading.Thread(target=watch, name="orphan-watch", daemon=True)
    thread.start()
    return thread


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout: float = 0.2) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
