"""Waking idle workers: one wake-up per queued job, delivered before notify() returns."""

from __future__ import annotations

import multiprocessing

from rnnlab.service.jobs.local.wake import WakeUp


def _wait_in_child(wake: WakeUp, seen: multiprocessing.SimpleQueue) -> None:
    seen.put(wake.wait(timeout=30))


def test_a_wake_up_is_there_when_notify_returns() -> None:
    """A worker that looks right after notify() finds it: no feeder thread to wait for."""
    wake = WakeUp(multiprocessing.get_context("spawn"))
    wake.notify()
    assert wake.wait(timeout=0)


def test_one_wake_up_per_notify_none_lost_none_doubled() -> None:
    wake = WakeUp(multiprocessing.get_context("spawn"))
    assert not wake.wait(timeout=0.01)  # nothing queued: the wait times out
    wake.notify()
    wake.notify()  # both workers busy: the wake-ups wait for them
    assert wake.wait(timeout=0) and wake.wait(timeout=0)
    assert not wake.wait(timeout=0.01)


def test_a_worker_process_waiting_is_woken() -> None:
    context = multiprocessing.get_context("spawn")
    wake, seen = WakeUp(context), context.SimpleQueue()
    child = context.Process(target=_wait_in_child, args=(wake, seen))
    child.start()
    wake.notify()
    child.join(timeout=60)
    assert child.exitcode == 0 and seen.get() is True
