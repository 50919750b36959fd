"""Process identity: pid plus start time."""

from __future__ import annotations

import os
import subprocess
import sys

from memshare.store.process import current, is_alive, start_of


def test_current_is_alive() -> None:
    me = current()

    assert me.pid == os.getpid()
    assert is_alive(me.pid, me.start_time, me.start_ticks)
    assert is_alive(me.pid, me.start_time)


def test_other_start_not_alive() -> None:
    me = current()

    assert not is_alive(me.pid, me.start_time - 10.0)
    if me.start_ticks is not None:
        assert not is_alive(me.pid, me.start_time, me.start_ticks - 1)


def test_exited_not_alive() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=60)

    assert start_of(child.pid) is None


def test_zombie_not_alive() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    identity = start_of(child.pid)
    assert identity is not None
    assert child.stdin is not None
    child.stdin.close()
    try:
        # Exited but not yet waited for: a zombie holds no mappings.
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)

        assert not is_alive(child.pid, identity.start_time, identity.start_ticks)
    finally:
        child.wait(timeout=60)


def test_fork_child_identity() -> None:
    parent = current()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.write(write, str(current().pid).encode())
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    reported = int(os.read(read, 32))
    os.close(read)
    os.waitpid(pid, 0)

    assert reported == pid
    assert current() == parent
