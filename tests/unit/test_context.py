"""reviewer.review.context: the signatures of the function and class enclosing each hunk, the
whole function when it is short, and the token budget with that context on."""

from __future__ import annotations

from reviewer.diff.parsing import DiffLine, FileDiff, FileStatus, Hunk, LineKind
from reviewer.diff.render import render_hunk
from reviewer.review.context import EnclosingConfig, EnclosingContext, changed_positions
from reviewer.review.planning import PlanConfig, plan_review
from reviewer.review.tokens import EstimatedCounter

A, R, C = LineKind.ADDED, LineKind.REMOVED, LineKind.CONTEXT
COUNT = EstimatedCounter().count

LONG_BODY = "".join(f"        total += step_{n}(order)\n" for n in range(60))
HEAD = (
    "import os\n"  # 1
    "\n"
    "\n"
    "class Billing:\n"  # 4
    "    rate = 3\n"
    "\n"
    "    def settle(self, order,\n"  # 7
    "               retries=3):\n"  # 8
    "        total = 0\n"  # 9
    + LONG_BODY  # 10..69
    + "        return total\n"  # 70
    "\n"
    "    def fee(self, amount):\n"  # 72
    "        base = amount * self.rate\n"  # 73
    "        return base + 1\n"  # 74
)
LINES = HEAD.split("\n")


def hunk_at(number: int, context: int = 3) -> Hunk:
    """A hunk adding line ``number`` of HEAD, with ``context`` unchanged lines around it."""
    first = max(1, number - context)
    last = min(len(LINES) - 1, number + context)
    lines = []
    for n in range(first, last + 1):
        kind = A if n == number else C
        old = None if kind is A else (n if n < number else n - 1)
        lines.append(DiffLine(kind, old, n, LINES[n - 1]))
    return Hunk(first, last - first, first, last - first + 1, tuple(lines))


def file_with(*hunks: Hunk, path: str = "app/billing.py") -> FileDiff:
    return FileDiff(path, path, FileStatus.MODIFIED, hunks)


def context(config: EnclosingConfig | None = None, text: str = HEAD) -> EnclosingContext:
    return EnclosingContext({"app/billing.py": text}, config or EnclosingConfig(), COUNT)


def test_a_hunk_deep_in_a_long_function_brings_its_class_and_function_signatures() -> None:
    h = hunk_at(50)
    around = context().around(file_with(h), h)

    assert around == {4: "class Billing:", 7: "    def settle(self, order,", 8: "               retries=3):"}
    text = render_hunk(h, around=around)
    assert text.splitlines()[:5] == [
        "@@",
        "4   class Billing:",
        "@@",  # lines 5 and 6 left out
        "7       def settle(self, order,",
        "8                  retries=3):",
    ]
    assert text.splitlines()[5] == "@@"  # and the body up to the hunk
    assert "50 +         total += step_40(order)" in text


def test_a_short_function_comes_whole() -> None:
    h = hunk_at(73, context=0)
    around = context().around(file_with(h), h)

    assert sorted(around) == [4, 72, 73, 74]  # the class signature, then fee() whole
    text = render_hunk(h, context=0, around=around)
    assert text == (
        "@@\n4   class Billing:\n@@\n72       def fee(self, amount):\n"
        "73 +         base = amount * self.rate\n74           return base + 1\n"
    )


def test_a_budget_of_zero_shows_signatures_only() -> None:
    h = hunk_at(73, context=0)
    around = context(EnclosingConfig(function_tokens=0)).around(file_with(h), h)
    assert sorted(around) == [4, 72]


def test_context_off_or_a_text_that_disagrees_with_the_diff_brings_nothing() -> None:
    h = hunk_at(50)
    assert context(EnclosingConfig(enabled=False)).around(file_with(h), h) == {}
    other = HEAD.replace("step_40", "step_forty")  # not the head this diff was made against
    assert context(text=other).around(file_with(h), h) == {}
    assert EnclosingContext({}, EnclosingConfig(), COUNT).around(file_with(h), h) == {}


def test_a_removed_line_is_placed_at_the_line_before_it() -> None:
    lines = (
        DiffLine(C, 9, 9, "        total = 0"),
        DiffLine(R, 10, None, "        total -= 1"),
        DiffLine(C, 11, 10, LINES[9]),
    )
    h = Hunk(9, 3, 9, 2, lines)
    assert changed_positions(h) == [9]
    assert sorted(context().around(file_with(h), h)) == [4, 7, 8]


def test_the_scanned_lines_cover_every_line_the_context_may_send() -> None:
    h = hunk_at(73)
    (scanned,) = context().scanned_lines([file_with(h)])
    numbers = {line.new_no for hunk in scanned.hunks for line in hunk.lines}
    assert set(context().around(file_with(h), h)) <= numbers
    assert numbers == {4, 72, 73, 74}  # the signatures, and the function that fits on its own


def test_the_token_budget_per_chunk_holds_with_context_on() -> None:
    # Every line of settle() changed, one hunk each, in files that share a chunk budget.
    hunks = tuple(hunk_at(n, context=1) for n in range(12, 68, 4))
    files = [file_with(*hunks, path=f"app/billing{i}.py") for i in range(3)]
    enclosing = EnclosingContext({f.path: HEAD for f in files}, EnclosingConfig(), COUNT)
    counter = EstimatedCounter()
    without = plan_review(files, PlanConfig(chunk_tokens=400), counter)
    plan = plan_review(files, PlanConfig(chunk_tokens=400), counter, around=enclosing.around)

    assert all(chunk.tokens <= 400 for chunk in plan.chunks)
    assert all(counter.count(chunk.text) <= 400 * 1.02 for chunk in plan.chunks)
    assert "class Billing:" in plan.chunks[0].text
    assert sum(c.tokens for c in plan.chunks) > sum(c.tokens for c in without.chunks)  # counted
    changed = [
        ln.new_no or 0
        for c in plan.chunks
        for f in c.files
        for h in f.hunks
        for ln in h.lines
        if ln.kind is A
    ]
    assert sorted(changed) == sorted(n for _ in files for n in range(12, 68, 4))


def test_hunks_of_one_function_show_its_signature_once() -> None:
    first, second = hunk_at(30, context=1), hunk_at(50, context=1)
    file = file_with(first, second)
    enclosing = context()

    assert sorted(enclosing.around(file, first)) == [4, 7, 8]
    assert enclosing.around(file, second) == {}  # the hunk before it showed them
    plan = plan_review([file], PlanConfig(), EstimatedCounter(), around=enclosing.around)
    assert plan.chunks[0].text.count("class Billing:") == 1


def test_a_short_function_does_not_repeat_the_lines_of_another_hunk() -> None:
    first, second = hunk_at(72, context=0), hunk_at(74, context=0)
    around = context().around(file_with(first, second), first)
    assert 74 not in around  # the second hunk shows it, marked as added
    assert 73 in around
