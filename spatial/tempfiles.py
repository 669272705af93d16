"""Temporary files that never outlive a render, and signals that end it cleanly.

Every temporary file spatial makes (an output's ``.part`` file, a loudness pass's
``.pass1.wav``, a source-cache entry being written) carries its writer in its name:
``<prefix><tag>.<random><suffix>`` with tag ``<pid>@<host>`` (:func:`tag`). Its
writer removes it on success, on an error and on an interrupt (the ``finally``
blocks of :mod:`spatial.writer`, :mod:`spatial.mix.deliver`,
:mod:`spatial.source_cache`); what a SIGKILL or a power cut leaves is removed by a
later run's :func:`sweep`, once the writer's process is gone (or the file is older
than STALE_S, whatever its name says).

:func:`signals_as_interrupts`: SIGTERM and SIGHUP are raised in the main thread as
:class:`Terminated` (a KeyboardInterrupt, as SIGINT is), so the same cleanup runs
whichever of the three ends a render; a second signal during the cleanup is held
back until it is done (the cleanup is short: unlinks and closes); a third ends the
process at once. A signal that falls between a temporary file's creation and the
``try`` that would remove it cannot leave it behind either: the folders temporary
files are made in are watched (:func:`watch`), and when the block ends after a
signal every file of this process still there is removed (:func:`remove_own`).
"""
from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import tempfile
import threading
import time
from pathlib import Path

STALE_S = 86400.0  # a temporary file this old is a dead run's, whatever its name says
GRACE_S = 5.0  # a file younger than this is never swept (its writer may be starting)
_TAG = re.compile(r"\.(\d+)@([A-Za-z0-9_-]*)\.")


def _host() -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "-", socket.gethostname())[:40]


def tag() -> str:
    """This process as a temporary file's name carries it: ``<pid>@<host>``."""
    return f"{os.getpid()}@{_host()}"


_FOLDERS: set[str] = set()  # folders this process made temporary files in


def watch(folder) -> None:
    """Say that this process makes temporary files (named with :func:`tag`) in
    `folder`: :func:`remove_own` looks there. Call it before making one."""
    _FOLDERS.add(os.path.abspath(folder))


def remove_own() -> int:
    """Remove every file of this process's (its tag in the name) left in the watched
    folders: what an interrupt cut between a file's creation and the code that would
    have removed it. Only when no render of this process is running (the command's
    end). Returns how many. Never raises."""
    mine, removed = f".{tag()}.", 0
    for folder in list(_FOLDERS):
        try:
            with os.scandir(folder) as it:
                names = [e.path for e in it if mine in e.name]
        except OSError:
            continue
        for path in names:
            try:
                os.unlink(path)
                removed += 1
            except OSError:
                pass
    return removed


def make(folder: Path, prefix: str, suffix: str) -> Path:
    """A new empty temporary file in `folder` named for this process (mkstemp: never an
    existing file); the caller removes it."""
    watch(folder)
    fd, tmp = tempfile.mkstemp(prefix=f"{prefix}{tag()}.", suffix=suffix, dir=folder)
    os.close(fd)
    return Path(tmp)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's: alive as far as we can tell
    return True


def is_stale(name: str, mtime: float, now: float | None = None) -> bool:
    """Whether a temporary file (by its name and mtime) is a dead run's: its writer on
    this host is no longer running (and it is older than GRACE_S), or it is older than
    STALE_S."""
    age = (time.time() if now is None else now) - mtime
    if age > STALE_S:
        return True
    if age < GRACE_S:
        return False
    m = _TAG.search(name)
    if m is None or m.group(2) != _host():
        return False
    pid = int(m.group(1))
    return pid != os.getpid() and not pid_alive(pid)


def sweep(folder: Path, prefix: str = "", suffixes: tuple[str, ...] = (".part",)) -> int:
    """Remove the stale temporary files (:func:`is_stale`) in `folder` whose names start
    with `prefix` and end with one of `suffixes`; returns how many. Never raises."""
    removed, now = 0, time.time()
    try:
        with os.scandir(folder) as it:
            for e in it:
                if not (e.name.startswith(prefix) and e.name.endswith(suffixes)):
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                    if is_stale(e.name, st.st_mtime, now):
                        os.unlink(e.path)
                        removed += 1
                except OSError:
                    continue
    except OSError:
        pass
    return removed


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised where the main thread is, like SIGINT's
    KeyboardInterrupt: the render's cleanup runs and the command exits 128 + signal."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


@contextlib.contextmanager
def signals_as_interrupts(signums=(signal.SIGTERM, signal.SIGHUP)):
    """Within the block, SIGTERM and SIGHUP raise Terminated (and SIGINT
    KeyboardInterrupt) in the main thread; after the first, later signals are only
    counted until the block ends, so they cannot cut the cleanup short. Outside the
    main thread (a library caller's worker) it does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    fired: list[int] = []

    def handler(signum, frame):
        fired.append(signum)
        if len(fired) >= 3:  # a cleanup that hangs: the third signal ends the process
            os._exit(128 + signum)
        if len(fired) == 1:
            if signum == signal.SIGINT:
                raise KeyboardInterrupt
            raise Terminated(signum)

    every = tuple(signums) + (signal.SIGINT,)
    old = {s: signal.signal(s, handler) for s in every}
    try:
        yield fired
    finally:
        if fired:  # a signal may have fallen between a file's creation and its cleanup
            remove_own()
        for s, h in old.items():
            signal.signal(s, h)
