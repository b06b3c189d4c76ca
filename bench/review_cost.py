"""What a review costs and how long it takes, against the gateway stand-in over HTTP.

Builds merge requests from this repository's own source files (real code, edited the way people
edit it), computes their diffs with git, runs the review engine against the gateway stand-in with
a fixed latency, and prints per merge request: model calls, prompt tokens (all aspects together,
counted on the messages actually sent), tokens per changed line, and the review's wall time as a
multiple of the slowest single model call. Each merge request is reviewed three ways: the diff
alone (enclosing context and second look off), with the enclosing context (each hunk's function
and class signatures, short functions whole, read from the head), and with the second look too
(the stand-in model then flags one line per file and keeps every finding on its second look).
Compare with DESIGN.md's budgets:
    small MR (2 files, 9 changed lines): <= 875 prompt tokens
    large MR (60 files, 264 changed lines): <= 37 prompt tokens per changed line
    after a push: <= 0.3x the first review on a small MR, <= 5% when 1 of 30 files changed
    wall time <= 1.25x the slowest call, for MRs up to 100 files

    .venv/bin/python bench/review_cost.py [--latency 1.0]

The second look is one more call after the review's calls: its wall time adds to theirs.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from fakes.gateway_server import FakeGateway  # noqa: E402
from fakes.gitrepo import GitRepo  # noqa: E402

from reviewer.app.config import Settings  # noqa: E402
from reviewer.app.services import build_engine  # noqa: E402
from reviewer.diff.parsing import DiffRefs, FileDiff, parse_unified  # noqa: E402
from reviewer.gitlab.increment import changed_since  # noqa: E402

MESSAGE_OVERHEAD = 4  # tokens a chat message costs beyond its content (role, separators)


def _sources() -> list[tuple[str, str]]:
    files = sorted(p for p in (REPO / "reviewer").rglob("*.py") if p.stat().st_size > 1500)
    files += sorted(p for p in (REPO / "tests").rglob("*.py") if p.stat().st_size > 1500)
    return [(str(p.relative_to(REPO)), p.read_text()) for p in files]


def _edit(text: str, changed: int, rng: random.Random) -> str:
    """Change ``changed`` lines (removed + added) in one place, as people do: some existing
    lines edited (each one removed and one added line), some lines of the file's own code added."""
    lines = text.splitlines(keepends=True)
    start = rng.randrange(5, max(6, len(lines) - 10))
    edited = changed // 3
    added = changed - 2 * edited
    block = [_tweak(line) for line in lines[start : start + edited]]
    block += [lines[rng.randrange(len(lines))] for _ in range(added)]
    return "".join(lines[:start] + block + lines[start + edited :])


def _tweak(line: str) -> str:
    return line.rstrip("\n") + "  # adjusted\n"


def build_mr(tmp: Path, files: int, changed_lines: int, seed: int) -> GitRepo:
    """A repository whose ``feature`` branch edits ``files`` of its files, ``changed_lines`` in all."""
    rng = random.Random(seed)
    sources = _sources()
    while len(sources) < files:
        sources += [(f"copy{len(sources)}/{path}", text) for path, text in _sources()]
    chosen = sources[:files]
    repo = GitRepo.create(tmp / f"mr{seed}", files=dict(chosen))
    per_file = [changed_lines // files + (1 if i < changed_lines % files else 0) for i in range(files)]
    repo.commit(
        {path: _edit(text, n, rng) for (path, text), n in zip(chosen, per_file, strict=True)},
        branch="feature",
        message="edit",
    )
    return repo


def push_one_line(repo: GitRepo) -> str:
    """Edit one line of the branch's first file, as a follow-up push does; returns the old head."""
    old_head = repo.rev_parse("feature")
    path = sorted(p for p, _ in _sources())[0]
    text = (repo.read_file(old_head, path) or b"").decode()
    lines = text.splitlines(keepends=True)
    lines[len(lines) // 2] = lines[len(lines) // 2].rstrip("\n") + "  # reviewed\n"
    repo.commit({path: "".join(lines)}, branch="feature", message="follow-up")
    return old_head


MODES = {"diff": (False, False), "context": (True, False), "+look": (True, True)}  # (context, 2nd look)


def one_finding_per_file(request: dict[str, Any]) -> str:
    """A model that flags the first added line of each file it is shown, and on its second look
    keeps every finding."""
    user = request["messages"][-1]["content"]
    if user.startswith("<findings>"):
        numbers = [int(n) for n in re.findall(r"^\[(\d+)\] ", user, re.M)]
        return json.dumps({"verdicts": [{"id": n, "keep": True, "reason": "shown"} for n in numbers]})
    findings, path = [], ""
    for line in user.splitlines():
        if line.startswith("## "):
            path = line[3:].split(" (")[0]
            continue
        added = re.match(r"^(\d+) \+", line)
        if added and path:
            findings.append(
                {
                    "path": path,
                    "line": int(added.group(1)),
                    "side": "new",
                    "severity": "medium",
                    "category": "style",
                    "title": "Check this line",
                    "body": "b",
                    "confidence": 0.9,
                }
            )
            path = ""
    return json.dumps({"findings": findings})


class Meter:
    """One engine against the gateway stand-in; counts what each review sends."""

    def __init__(self, gateway: FakeGateway, mode: str) -> None:
        settings = Settings(
            llm_base_url=gateway.base_url,
            llm_api_key="k",
            llm_model="openai/gpt-4o-mini",
            enclosing_context=MODES[mode][0],
            verify=MODES[mode][1],
            _env_file=None,
        )
        self.mode = mode
        self.gateway = gateway
        self.engine = build_engine(settings)
        self.refs = DiffRefs("b" * 40, "s" * 40, "h" * 40)
        # A worker serves many reviews: warm it up (imports, connections) before timing one.
        self.review(parse_unified(_WARM_UP))

    def review(
        self,
        files: list[FileDiff],
        anchor: list[FileDiff] | None = None,
        head_files: Callable[[str], str | None] | None = None,
    ) -> tuple[int, int, float, Any]:
        self.gateway.responder = one_finding_per_file if self.mode == "+look" else None
        before = len(self.gateway.requests)
        started = time.monotonic()
        policy = self.engine.prompts.policy(None)
        analysis = self.engine.analyse(
            files, self.refs, title="Adjust limits", policy=policy, anchor_files=anchor, head_files=head_files
        )
        wall = time.monotonic() - started
        requests = self.gateway.requests[before:]
        count = self.engine.counter.count
        tokens = sum(count(m["content"]) + MESSAGE_OVERHEAD for r in requests for m in r.messages)
        return tokens, len(requests), wall, analysis


_WARM_UP = "--- a/w.py\n+++ b/w.py\n@@ -1 +1 @@\n-a = 1\n+a = 2\n"


def reader(repo: GitRepo, ref: str) -> Callable[[str], str | None]:
    """Files as ``ref`` has them, as the pipeline reads them from GitLab's repository files API."""
    head = repo.rev_parse(ref)

    def read(path: str) -> str | None:
        data = repo.read_file(head, path)
        return data.decode("utf-8", errors="replace") if data is not None else None

    return read


def first_review(meter: Meter, name: str, repo: GitRepo, latency: float) -> int:
    files = parse_unified(repo.raw_diff(repo.merge_base("main", "feature"), repo.rev_parse("feature")))
    tokens, calls, wall, analysis = meter.review(files, head_files=reader(repo, "feature"))
    changed = analysis.plan.changed_lines
    diff_tokens = sum(chunk.tokens for chunk in analysis.plan.chunks)
    look = analysis.second_look
    checked = (
        f"; 2nd look: {look.checked} findings, {look.usage.prompt_tokens} tokens" if look.checked else ""
    )
    print(
        f"{name:<7} {meter.mode:<8}{len(files):>4} files {changed:>5} changed lines  "
        f"tier {analysis.plan.tier.value:<7} {calls:>2} calls {tokens:>6} prompt tokens "
        f"({tokens / max(1, changed):5.1f}/line; the diff alone {diff_tokens / max(1, changed):4.1f}/line)  "
        f"wall {wall:5.2f} s = {wall / latency:4.2f}x the slowest call ({latency:.2f} s){checked}"
    )
    return tokens


def follow_up(meter: Meter, name: str, repo: GitRepo, first_tokens: int) -> None:
    old_head = push_one_line(repo)
    head = repo.rev_parse("feature")
    mr_files = parse_unified(repo.raw_diff(repo.merge_base("main", "feature"), head))
    files = changed_since(mr_files, parse_unified(repo.raw_diff(old_head, head)))
    tokens, calls, _, _ = meter.review(files, anchor=mr_files, head_files=reader(repo, "feature"))
    print(
        f"{name:<7} {meter.mode:<8}after a one-line push: {len(files)} of {len(mr_files)} files, "
        f"{calls} calls, {tokens} prompt tokens = {tokens / max(1, first_tokens):.2f}x the first review"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=1.0, help="the stand-in's latency per call (s)")
    args = parser.parse_args()
    from reviewer.review.tokens import default_counter

    print(f"token counter: {default_counter().name} (the estimate errs high by about 8% on code)")
    with tempfile.TemporaryDirectory() as tmp, FakeGateway(latency=args.latency) as gateway:
        meters = [Meter(gateway, mode) for mode in MODES]
        for name, files, lines, seed in (
            ("small", 2, 9, 1),
            ("30f", 30, 240, 4),
            ("large", 60, 264, 2),
            ("100f", 100, 2000, 3),
        ):
            for meter in meters:
                repo = build_mr(Path(tmp) / meter.mode, files, lines, seed)
                tokens = first_review(meter, name, repo, args.latency)
                if name in ("small", "30f") and meter.mode != "+look":
                    follow_up(meter, name, repo, tokens)
    return 0


if __name__ == "__main__":
    sys.exit(main())
