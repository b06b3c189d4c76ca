"""The spool shared by several intake processes of one host: real processes, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from reviewer.app.events import ReviewJob
from reviewer.app.spool import Spool, SpooledDelivery

# A drainer process: drains the spool at argv[1], appending each delivered iid to argv[2].
DRAINER = """
import sys
from pathlib import Path
from reviewer.app.spool import Spool

with open(sys.argv[2], "a") as out:
    def deliver(delivery):
        out.write(f"{delivery.job.iid}\\n")
        out.flush()
    Spool(Path(sys.argv[1])).drain(deliver)
"""

# A drainer that dies (SIGKILL, as when a node goes) while it holds its first entry.
DYING_DRAINER = """
import os, signal, sys
from pathlib import Path
from reviewer.app.spool import Spool

def deliver(delivery):
    print(delivery.job.iid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
Spool(Path(sys.argv[1])).drain(deliver)
"""


def _fill(directory: Path, count: int) -> None:
    spool = Spool(directory)
    for n in range(count):
        spool.put(SpooledDelivery(f"idem:{n}", ReviewJob(1, n, "opened"), True, float(n)))


def test_several_processes_draining_one_spool_deliver_each_entry_once(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    _fill(spool_dir, 300)
    outputs = [tmp_path / f"out{i}" for i in range(3)]
    drainers = [subprocess.Popen([sys.executable, "-c", DRAINER, str(spool_dir), str(o)]) for o in outputs]
    for process in drainers:
        assert process.wait(timeout=60) == 0
    delivered = [int(line) for o in outputs if o.exists() for line in o.read_text().split()]
    # Entries skipped because another process held them were delivered by that process.
    assert sorted(delivered) == list(range(300))
    assert Spool(spool_dir).count() == 0


def test_an_entry_held_by_a_drainer_that_was_killed_is_drained_by_the_next(tmp_path: Path) -> None:
    spool_dir = tmp_path / "spool"
    _fill(spool_dir, 3)
    dying = subprocess.run(
        [sys.executable, "-c", DYING_DRAINER, str(spool_dir)], capture_output=True, timeout=60, check=False
    )
    assert dying.returncode == -9
    held = int(dying.stdout.split()[0])
    delivered: list[int] = []
    Spool(spool_dir).drain(lambda d: delivered.append(d.job.iid))
    assert sorted(delivered) == [0, 1, 2] and held in delivered
