from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import pytest

from reviewer.app.events import ReviewJob
from reviewer.app.spool import Spool, SpoolDrainer, SpooledDelivery, backoff_seconds


def _delivery(n: int, *, key: str | None = None, deduped: bool = True) -> SpooledDelivery:
    return SpooledDelivery(key or f"idem:{n}", ReviewJob(1, n, "opened", "ab" * 20), deduped, 1000.0 + n)


def _received_in_order_of_iid(directory: Path) -> None:
    """Give each spooled entry the modification time (its age in the spool) of its iid, in seconds."""
    for path in (directory / "ready").iterdir():
        iid = SpooledDelivery.decode(path.read_bytes()).job.iid
        os.utime(path, ns=(iid * 10**9, iid * 10**9))


def test_an_entry_is_written_whole_and_read_back_the_same(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    odd = SpooledDelivery(
        "event:\u00e9\ud800",
        ReviewJob(7, 3, "command", None, requested_by=42),
        deduped=False,
        received_at=5.5,
    )
    assert spool.put(odd)
    got: list[SpooledDelivery] = []
    assert spool.drain(got.append) == 1
    assert got == [odd]
    assert spool.count() == 0
    assert list((tmp_path / "tmp").iterdir()) == []


def test_the_same_delivery_key_is_spooled_once(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    assert spool.put(_delivery(1, key="idem:same"))
    assert not spool.put(_delivery(2, key="idem:same"))
    assert spool.count() == 1


def test_drain_goes_oldest_first(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in (3, 1, 2):
        spool.put(_delivery(n))
    _received_in_order_of_iid(tmp_path)
    got: list[int] = []
    spool.drain(lambda d: got.append(d.job.iid))
    assert got == [1, 2, 3]


def test_a_failing_deliver_stops_the_pass_and_keeps_the_entries(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        spool.put(_delivery(n))

    def broker_down(delivery: SpooledDelivery) -> None:
        raise ConnectionError("down")

    with pytest.raises(ConnectionError):
        spool.drain(broker_down)
    assert spool.count() == 3
    got: list[SpooledDelivery] = []
    assert spool.drain(got.append) == 3


def test_an_unreadable_entry_is_set_aside_and_the_rest_drained(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    spool.put(_delivery(1))
    (tmp_path / "ready" / "garbage.json").write_bytes(b'{"version": 1, "key": ')
    (tmp_path / "ready" / "future.json").write_bytes(b'{"version": 99}')
    got: list[SpooledDelivery] = []
    assert spool.drain(got.append) == 1
    assert sorted(p.name for p in (tmp_path / "rejected").iterdir()) == ["future.json", "garbage.json"]
    assert spool.count() == 0


def test_an_entry_claimed_elsewhere_is_skipped(tmp_path: Path) -> None:
    import fcntl

    spool = Spool(tmp_path)
    spool.put(_delivery(1))
    [path] = (tmp_path / "ready").iterdir()
    fd = os.open(path, os.O_RDONLY)
    fcntl.flock(fd, fcntl.LOCK_EX)  # another drainer holds it
    try:
        assert spool.drain(lambda d: None) == 0
    finally:
        os.close(fd)  # the holder dies: the kernel releases its claim
    assert spool.drain(lambda d: None) == 1


def test_concurrent_drainers_deliver_every_entry_exactly_once(tmp_path: Path) -> None:
    writer = Spool(tmp_path)
    for n in range(300):
        writer.put(_delivery(n))
    delivered: list[int] = []
    lock = threading.Lock()

    def deliver(delivery: SpooledDelivery) -> None:
        with lock:
            delivered.append(delivery.job.iid)

    drainers = [threading.Thread(target=Spool(tmp_path).drain, args=(deliver,)) for _ in range(4)]
    for thread in drainers:
        thread.start()
    for thread in drainers:
        thread.join()
    Spool(tmp_path).drain(deliver)  # a pass after all of them: entries skipped while claimed
    assert sorted(delivered) == list(range(300))


def test_stale_temporaries_of_a_crashed_writer_are_removed(tmp_path: Path) -> None:
    Spool(tmp_path)
    stale, fresh = tmp_path / "tmp" / "old.tmp", tmp_path / "tmp" / "new.tmp"
    stale.write_bytes(b"{")
    fresh.write_bytes(b"{")
    old = time.time() - 7200
    os.utime(stale, (old, old))
    Spool(tmp_path)
    assert not stale.exists() and fresh.exists()


def test_the_drainer_holds_in_memory_what_no_spool_takes() -> None:
    got: list[SpooledDelivery] = []
    fail = True

    def deliver(delivery: SpooledDelivery) -> None:
        if fail:
            raise ConnectionError("down")
        got.append(delivery)

    drainer = SpoolDrainer(None, deliver)
    drainer.hold(_delivery(1))
    drainer.hold(_delivery(2))
    assert not drainer.drain_once() and drainer.broker_down and drainer.pending() == 2
    fail = False
    assert drainer.drain_once() and not drainer.broker_down
    assert sorted(d.job.iid for d in got) == [1, 2] and drainer.pending() == 0


def test_backoff_grows_to_its_cap() -> None:
    waits = [backoff_seconds(n, 60) for n in range(1, 12)]
    assert 0.4 <= waits[0] <= 0.6
    assert all(w <= 60 for w in waits) and waits[-1] >= 48


def test_an_entry_that_always_fails_does_not_hold_up_the_others(tmp_path: Path) -> None:
    spool = Spool(tmp_path)
    for n in range(3):
        spool.put(_delivery(n))
    _received_in_order_of_iid(tmp_path)
    delivered: list[int] = []

    def deliver(delivery: SpooledDelivery) -> None:
        if delivery.job.iid == 0:  # the oldest entry can never be queued
            raise ValueError("poison")
        delivered.append(delivery.job.iid)

    for _ in range(3):
        with contextlib.suppress(ValueError):
            spool.drain(deliver)
    assert delivered == [1, 2] and spool.count() == 1

    drainer = SpoolDrainer(None, deliver)
    drainer.hold(_delivery(0))
    drainer.hold(_delivery(5))
    assert not drainer.drain_once()
    assert drainer.drain_once() is False and delivered == [1, 2, 5] and drainer.pending() == 1
