"""A durable local spool for review jobs that could not be queued yet, and the drainer that queues them.

GitLab never redelivers an event that it got a 5xx or no answer for, so while the broker is down the
intake writes each review job here, answers 202, and the drainer queues it once the broker is back.

Layout of the spool directory (``REVIEWER_STATE_DIR/spool``); several intake processes of one host
may share it:

- ``tmp/``: entries being written; a crash leaves one behind, removed after an hour;
- ``ready/``: one fsynced file per delivery, named after its delivery key, so a second copy of a
  delivery finds the name taken and is a duplicate; it appears there whole (hard link of a
  finished temporary file) or not at all;
- ``rejected/``: entries that could not be read back, kept for an operator, never deleted.

A drainer claims an entry with an exclusive ``flock``, which the kernel releases when its holder
dies, so a crashed drainer leaves nothing stuck, and removes it only after it was queued. A crash
between the two queues it once more: a harmless duplicate, as a review of a head already reviewed
costs nothing and posts nothing twice.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

from reviewer.app.events import ReviewJob

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
STALE_TEMPORARY_SECONDS = 3600


@dataclass(frozen=True, slots=True)
class SpooledDelivery:
    key: str  # the delivery key (Idempotency-Key, event UUID or body hash)
    job: ReviewJob
    deduped: bool  # the dedupe store recorded the key for this delivery before it was spooled
    received_at: float  # Unix time

    def encode(self) -> bytes:
        # ASCII JSON: a lone surrogate in a header or payload string survives the round trip.
        record = {"version": FORMAT_VERSION, **asdict(self), "job": asdict(self.job)}
        return json.dumps(record, ensure_ascii=True, sort_keys=True).encode("ascii")

    @classmethod
    def decode(cls, raw: bytes) -> SpooledDelivery:
        """Raises ValueError for anything but an entry this version wrote."""
        try:
            record = json.loads(raw)
            if record["version"] != FORMAT_VERSION:
                raise ValueError(f"spool format {record['version']!r}")
            job = ReviewJob(**record["job"])
            if not isinstance(job.project_id, int) or not isinstance(job.iid, int):
                raise ValueError("ids are not integers")
            return cls(str(record["key"]), job, bool(record["deduped"]), float(record["received_at"]))
        except (KeyError, TypeError, RecursionError) as exc:
            raise ValueError(f"not a spool entry: {type(exc).__name__}") from None


Deliver = Callable[[SpooledDelivery], None]
"""Queue one spooled delivery; raises when it could not (the broker is still down)."""


class Spool:
    """One file per delivery under ``directory``; safe for several processes at once."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._tmp, self._ready, self._rejected = (directory / n for n in ("tmp", "ready", "rejected"))
        for folder in (self._tmp, self._ready, self._rejected):
            folder.mkdir(parents=True, exist_ok=True)
        self._remove_stale_temporaries()

    def put(self, delivery: SpooledDelivery) -> bool:
        """Write ``delivery`` durably. False when the same delivery key is already spooled."""
        temporary = self._tmp / f"{uuid.uuid4().hex}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            try:
                _write_all(fd, delivery.encode())
                os.fsync(fd)
            finally:
                os.close(fd)
            os.link(temporary, self._ready / _file_name(delivery.key))
        except FileExistsError:
            return False
        finally:
            temporary.unlink(missing_ok=True)
        _fsync_directory(self._ready)
        return True

    def count(self) -> int:
        try:
            return sum(1 for entry in os.scandir(self._ready) if entry.name.endswith(".json"))
        except OSError:
            return 0

    def drain(self, deliver: Deliver) -> int:
        """Hand every spooled delivery to ``deliver``, oldest first, removing each one it took.
        Entries another process is draining are skipped. Returns how many were delivered. The
        first error of ``deliver`` stops the pass and propagates; its entry stays spooled, moved
        to the back, so that one entry that always fails cannot hold up the others."""
        delivered = 0
        for path in self._oldest_first():
            try:
                fd = os.open(path, os.O_RDONLY)
            except FileNotFoundError:
                continue  # drained by another process meanwhile
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                if not _still_named(fd, path):
                    continue  # removed after we opened it (and perhaps spooled anew)
                try:
                    delivery = SpooledDelivery.decode(_read_all(fd))
                except ValueError as exc:
                    self._reject(path, str(exc))
                    continue
                try:
                    deliver(delivery)
                except BaseException:
                    os.utime(fd)
                    raise
                path.unlink()
                _fsync_directory(self._ready)
                delivered += 1
            finally:
                os.close(fd)  # releases the claim
        return delivered

    def _oldest_first(self) -> list[Path]:
        entries = []
        for entry in os.scandir(self._ready):
            if entry.name.endswith(".json"):
                with contextlib.suppress(FileNotFoundError):
                    entries.append((entry.stat().st_mtime_ns, entry.name))
        return [self._ready / name for _, name in sorted(entries)]

    def _reject(self, path: Path, reason: str) -> None:
        log.error("spool entry %s cannot be read (%s): moved to %s", path.name, reason, self._rejected)
        os.replace(path, self._rejected / path.name)

    def _remove_stale_temporaries(self) -> None:
        cutoff = time.time() - STALE_TEMPORARY_SECONDS
        for entry in os.scandir(self._tmp):
            with contextlib.suppress(FileNotFoundError):
                if entry.stat().st_mtime < cutoff:
                    os.unlink(entry.path)


class SpoolDrainer:
    """Queues what waits in the spool (and in memory) from a background thread: at start, when
    woken, every ``interval`` seconds (entries spooled by sibling processes, or left by one that
    died), and while the broker is down with exponential backoff up to ``max_backoff``.

    Deliveries the spool could not take (disk full, no spool configured) are held in memory:
    queued the same way, but lost if this process dies first."""

    def __init__(
        self,
        spool: Spool | None,
        deliver: Deliver,
        *,
        interval: float = 5.0,
        max_backoff: float = 60.0,
    ) -> None:
        self.spool = spool
        self._deliver = deliver
        self.interval = interval
        self.max_backoff = max_backoff
        self._held: list[SpooledDelivery] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._broker_down = False

    @property
    def broker_down(self) -> bool:
        """The last attempt to queue failed and no later one succeeded: new deliveries go straight
        to the spool instead of waiting on a broker that does not answer."""
        return self._broker_down

    def mark_broker_down(self) -> None:
        self._broker_down = True

    def hold(self, delivery: SpooledDelivery) -> None:
        with self._lock:
            self._held.append(delivery)

    def pending(self) -> int:
        with self._lock:
            held = len(self._held)
        return held + (self.spool.count() if self.spool else 0)

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="spool-drainer", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        self._stop.set()
        self._wake.set()
        if thread is not None:
            thread.join(timeout)

    def drain_once(self) -> bool:
        """One pass over memory, then disk. True when nothing failed."""
        with self._lock:
            held = list(self._held)
        try:
            for delivery in held:
                try:
                    self._deliver(delivery)
                except Exception:
                    with self._lock:  # to the back
                        self._held.remove(delivery)
                        self._held.append(delivery)
                    raise
                with self._lock:
                    self._held.remove(delivery)
            if self.spool is not None:
                self.spool.drain(self._deliver)
        except Exception as exc:  # the queue's border; the text of a broker error can hold its URL
            self._broker_down = True
            log.warning("spooled deliveries wait for the queue (%s)", type(exc).__name__)
            return False
        self._broker_down = False
        return True

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()
            if self.drain_once():
                failures = 0
                self._wake.wait(self.interval)
            else:
                failures += 1
                self._stop.wait(backoff_seconds(failures, self.max_backoff))


def backoff_seconds(failures: int, cap: float) -> float:
    """About 0.5 s, 1 s, 2 s, ... (20% jitter, so that several intakes spread out), at most ``cap``."""
    return min(cap, 0.5 * 2.0 ** min(failures - 1, 16) * random.uniform(0.8, 1.2))


def _file_name(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest() + ".json"


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _read_all(fd: int) -> bytes:
    chunks = []
    while chunk := os.read(fd, 65536):
        chunks.append(chunk)
    return b"".join(chunks)


def _still_named(fd: int, path: Path) -> bool:
    try:
        named = os.stat(path)
    except FileNotFoundError:
        return False
    opened = os.fstat(fd)
    return (named.st_dev, named.st_ino) == (opened.st_dev, opened.st_ino)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
