"""Parse and plan a synthetic 2,000-file merge request, as GitLab's per-file diffs would bring it.

Budget (DESIGN.md): parse and plan a 2,000-file MR in under 1 s of CPU. Run:

    .venv/bin/python bench/parse_and_plan.py [--files N] [--seed S] [--tiktoken-cache DIR]

Prints CPU and wall time of each step, peak memory (tracemalloc, in a second run, since tracing
slows the first; and the process's maximum RSS), the chunks and tokens planned, and which token
counter counted them. Nothing here touches the network.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from reviewer.diff.parsing import FileDiff, parse_gitlab_diffs
from reviewer.review.planning import Plan, PlanConfig, plan_review
from reviewer.review.tokens import TokenCounter, default_counter

T = TypeVar("T")

_WORDS = (
    "user",
    "account",
    "order",
    "item",
    "price",
    "total",
    "request",
    "response",
    "cache",
    "config",
    "value",
    "index",
    "name",
    "record",
    "result",
    "error",
    "handler",
    "client",
    "server",
    "payload",
    "query",
    "filter",
    "event",
    "message",
    "count",
)
_TEMPLATES = (
    "{i}{a} = {b}.get({q}{c}{q})",
    "{i}if {a} is None:",
    "{i}return {a}_{b}({c}, {d}={n})",
    "{i}for {a} in {b}.{c}s:",
    "{i}{a}.{b}_{c} += {n}",
    "{i}raise {A}{B}Error(f{q}{a} {b} {{{c}}}{q})",
    "{i}logger.info({q}%s {a} %d{q}, {b}, len({c}))",
    "{i}def {a}_{b}(self, {c}: {A}, {d}: int = {n}) -> {B} | None:",
    "{i}# {a} the {b} before {c} (see {A}{B})",
    "{i}self.{a} = {b}_{c}",
    "{i}}} else if ({a}.{b} !== {n}) {{",
    "{i}const {a}{B} = await {c}.{d}({q}/{a}/{b}{q});",
    "",
)


def _line(rng: random.Random) -> str:
    words = rng.sample(_WORDS, 4)
    return rng.choice(_TEMPLATES).format(
        i=" " * rng.choice((0, 4, 8, 8, 12, 16)),
        a=words[0],
        b=words[1],
        c=words[2],
        d=words[3],
        A=words[0].title(),
        B=words[1].title(),
        n=rng.randint(0, 999),
        q=rng.choice("'\""),
    )


def _hunks(rng: random.Random, hunks: int, changes: int, start: int = 1) -> tuple[str, int]:
    """Unified hunks as GitLab sends them (3 context lines, no file header); returns the text
    and its changed-line count."""
    out: list[str] = []
    old = new = start
    changed = 0
    for _ in range(hunks):
        gap = rng.randint(5, 60)
        old, new = old + gap, new + gap
        added = rng.randint(0, changes)
        removed = rng.randint(0 if added else 1, max(1, changes // 2))
        body = [" " + _line(rng) for _ in range(3)]
        body += ["-" + _line(rng) for _ in range(removed)]
        body += ["+" + _line(rng) for _ in range(added)]
        body += [" " + _line(rng) for _ in range(3)]
        out.append(f"@@ -{old},{removed + 6} +{new},{added + 6} @@ def {rng.choice(_WORDS)}(self):")
        out.extend(body)
        old, new = old + removed + 6, new + added + 6
        changed += added + removed
    return "\n".join(out) + "\n", changed


def _entry(rng: random.Random, n: int) -> dict[str, Any]:
    """One file of the MR: mostly small edits (a large MR is mostly a wide refactor), some new,
    renamed, deleted, withheld and noise files."""
    roll = rng.random()
    path = f"src/{rng.choice(_WORDS)}/{rng.choice(_WORDS)}_{n}.py"
    entry: dict[str, Any] = {
        "old_path": path,
        "new_path": path,
        "a_mode": "100644",
        "b_mode": "100644",
        "new_file": False,
        "renamed_file": False,
        "deleted_file": False,
        "generated_file": False,
    }
    if roll < 0.03:  # noise: lock files, minified, vendored
        entry["old_path"] = entry["new_path"] = rng.choice(
            (f"web/app{n}/package-lock.json", f"static/app{n}.min.js", f"vendor/lib{n}/x.go")
        )
        entry["diff"], _ = _hunks(rng, 3, 60)
    elif roll < 0.05:
        entry.update(deleted_file=True, b_mode="0")
        entry["diff"] = "@@ -1,40 +0,0 @@\n" + "".join("-" + _line(rng) + "\n" for _ in range(40))
    elif roll < 0.06:
        entry.update(too_large=True, diff="")
    elif roll < 0.09:
        size = rng.choice((20, 40, 80, 150, 400, 1500))
        entry.update(new_file=True, a_mode="0")
        entry["diff"] = f"@@ -0,0 +1,{size} @@\n" + "".join("+" + _line(rng) + "\n" for _ in range(size))
    elif roll < 0.12:
        entry.update(renamed_file=True, old_path=path.replace(".py", "_old.py"))
        entry["diff"], _ = _hunks(rng, 1, 4)
    else:
        entry["diff"], _ = _hunks(rng, rng.choice((1, 1, 1, 2, 2, 3, 4)), rng.choice((1, 2, 3, 4, 6, 10, 20)))
    return entry


def synthetic_mr(files: int, seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [_entry(rng, n) for n in range(files)]


def _timed(step: Callable[[], T]) -> tuple[T, float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    result = step()
    return result, time.process_time() - cpu, time.perf_counter() - wall


def _run(entries: list[dict[str, Any]], counter: TokenCounter) -> tuple[list[FileDiff], Plan, list[float]]:
    files, parse_cpu, parse_wall = _timed(lambda: parse_gitlab_diffs(entries))
    plan, plan_cpu, plan_wall = _timed(lambda: plan_review(files, PlanConfig(), counter))
    return files, plan, [parse_cpu, parse_wall, plan_cpu, plan_wall]


def _reasons(plan: Plan) -> str:
    kinds = Counter(s.reason.split(" (")[0] for s in plan.skipped)
    return ", ".join(f"{n} {kind}" for kind, n in kinds.most_common())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=2000)
    parser.add_argument("--tiktoken-cache", metavar="DIR", help="where tiktoken's encoding file may be")
    args = parser.parse_args()

    counter, load_cpu, _ = _timed(lambda: default_counter(cache_dir=args.tiktoken_cache))
    entries = synthetic_mr(args.files, args.seed)
    diff_mb = sum(len(e.get("diff") or "") for e in entries) / 1e6
    files, plan, (parse_cpu, parse_wall, plan_cpu, plan_wall) = _run(entries, counter)

    tracemalloc.start()
    _run(entries, counter)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    maxrss_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux

    changed = sum(1 for f in files for h in f.hunks for ln in h.lines if ln.kind.value != "context")
    tokens = sum(c.tokens for c in plan.chunks)
    sizes = sorted(c.tokens for c in plan.chunks) or [0]
    rows = [
        ("token counter", f"{counter.name} (loaded in {load_cpu * 1000:.0f} ms CPU)"),
        ("merge request", f"{len(entries)} files, {diff_mb:.1f} MB of diff text, {changed} changed lines"),
        ("parse", f"{parse_cpu * 1000:5.0f} ms CPU {parse_wall * 1000:5.0f} ms wall"),
        ("plan", f"{plan_cpu * 1000:5.0f} ms CPU {plan_wall * 1000:5.0f} ms wall"),
        ("parse + plan", f"{(parse_cpu + plan_cpu) * 1000:5.0f} ms CPU (budget: 1000)"),
        ("peak memory", f"{peak / 1e6:.1f} MB traced in parse + plan; {maxrss_kb / 1024:.0f} MB max RSS"),
        ("tier", f"{plan.tier.value} ({plan.tier_reason})"),
        ("reviewed", f"{plan.reviewed_files} files, {plan.changed_lines} changed lines"),
        ("skipped", f"{len(plan.skipped)} files ({_reasons(plan)})"),
        (
            "chunks",
            f"{len(plan.chunks)} of at most {PlanConfig().chunk_tokens} tokens "
            f"(smallest {sizes[0]}, median {sizes[len(sizes) // 2]}, largest {sizes[-1]})",
        ),
        ("tokens", f"{tokens} in all chunks, {tokens / max(plan.changed_lines, 1):.1f} per changed line"),
        ("notes", f"{len(plan.notes)} (hunks split between lines, lines over the budget)"),
    ]
    for label, text in rows:
        print(f"{label:<15}{text}")


if __name__ == "__main__":
    main()
