"""Whether a process of this machine lives, how much CPU time it has spent, and whether the
process that started this one is gone: the one place that reads /proc or asks the kernel.

The supervisor asks whether a dead worker's pid still runs, the Celery worker whether the
process holding a job does, the heartbeat watchers how much CPU time a worker spends, and a
worker (its job loop, its storage retries, its idle loop) whether the service that started it
is gone.
"""

from __future__ import annotations

import os


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/<pid>/stat after the command name (which may hold spaces and
    parentheses): the process state first. Raises OSError when there is no such file."""
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()


def pid_alive(pid: int) -> bool:
    """Whether `pid` runs; a zombie (a killed worker nobody has reaped yet) counts as dead.

    One read of /proc/<pid>/stat rather than psutil.Process(pid).status(), which reads the
    same file behind more layers, for no answer this does not give.
    """
    try:
        return _stat_fields(pid)[0] not in ("Z", "X")
    except FileNotFoundError:
        return False
    except OSError:  # no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True


def cpu_ticks(pid: int | None) -> int | None:
    """User + system CPU time of `pid` in clock ticks (/proc/<pid>/stat); None if unknown."""
    if pid is None:
        return None
    try:
        fields = _stat_fields(pid)
    except OSError:
        return None
    return int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)


def parent_gone(parent_pid: int | None) -> bool:
    """Whether the process that started this one (`parent_pid`, None when none is watched)
    has exited: this process was then handed to another parent. Linux kills a local worker
    with its service (PR_SET_PDEATHSIG); elsewhere the worker's loops ask this."""
    return parent_pid is not None and os.getppid() != parent_pid
