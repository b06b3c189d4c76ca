"""reviewer.review.chunking.halve: a chunk the model could not take whole, in two halves."""

from __future__ import annotations

from collections import Counter

from hypothesis import given
from hypothesis import strategies as st

from reviewer.diff.parsing import DiffLine, FileDiff, FileStatus, Hunk, LineKind
from reviewer.review.chunking import Chunk, halve
from reviewer.review.detectors.secrets import Masker
from reviewer.review.planning import Plan, PlanConfig, plan_review
from reviewer.review.tokens import EstimatedCounter

A, R, C = LineKind.ADDED, LineKind.REMOVED, LineKind.CONTEXT
COUNTER = EstimatedCounter()
SECRET = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c"


def hunk(kinds: str, *, start: int = 1) -> Hunk:
    """A hunk from a string of kinds: ``+`` added, ``-`` removed, `` `` unchanged."""
    lines, old, new = [], start, start
    for n, mark in enumerate(kinds):
        kind = {"+": A, "-": R, " ": C}[mark]
        lines.append(
            DiffLine(kind, old if kind is not A else None, new if kind is not R else None, f"v{n} = {n}")
        )
        old += kind is not A
        new += kind is not R
    return Hunk(start, old - start, start, new - start, tuple(lines))


def file(path: str, *hunks: Hunk) -> FileDiff:
    return FileDiff(path, path, FileStatus.MODIFIED, hunks)


def planned(*files: FileDiff, masker: Masker | None = None) -> Plan:
    return plan_review(list(files), PlanConfig(), COUNTER, masker=masker)


def changed(chunks: list[Chunk]) -> Counter[tuple[str, str, int | None]]:
    return Counter(
        (f.path, ln.kind.value, ln.old_no if ln.kind is R else ln.new_no)
        for chunk in chunks
        for f in chunk.files
        for h in f.hunks
        for ln in h.lines
        if ln.kind is not C
    )


def halves_of(result: Plan) -> tuple[Chunk, Chunk]:
    (chunk,) = result.chunks
    assert result.cutter is not None
    halves = halve(chunk, result.cutter)
    assert halves is not None
    return halves


def test_a_chunk_of_several_files_is_halved_between_files_by_size() -> None:
    result = planned(file("a.py", hunk(" + ")), file("b.py", hunk(" + ")), file("c.py", hunk(" ++++++ ")))

    first, second = halves_of(result)

    assert (first.paths, second.paths) == (("a.py", "b.py"), ("c.py",))
    assert changed([first, second]) == changed(list(result.chunks))
    assert first.text.startswith("## a.py") and "## c.py" in second.text


def test_one_file_is_halved_between_its_hunks() -> None:
    result = planned(file("a.py", hunk(" + ", start=1), hunk(" +- ", start=40), hunk(" ++ ", start=80)))

    first, second = halves_of(result)

    assert first.paths == second.paths == ("a.py",)
    assert [h.new_start for h in first.files[0].hunks] == [1, 40]
    assert [h.new_start for h in second.files[0].hunks] == [80]


def test_one_hunk_is_halved_where_a_run_of_changes_starts() -> None:
    result = planned(file("a.py", hunk(" -+  +  -+ ")))

    first, second = halves_of(result)

    assert [ln.kind for ln in first.files[0].hunks[0].lines if ln.kind is not C] == [R, A]
    assert [ln.kind for ln in second.files[0].hunks[0].lines if ln.kind is not C] == [A, R, A]
    assert changed([first, second]) == changed(list(result.chunks))


def test_a_single_changed_line_cannot_be_halved() -> None:
    result = planned(file("a.py", hunk("  +  ")))

    assert result.cutter is not None and halve(result.chunks[0], result.cutter) is None


def test_halves_are_masked_as_the_chunk_was() -> None:
    secret_line = DiffLine(A, None, 2, f'KEY = "{SECRET}"')
    lines = (
        DiffLine(C, 1, 1, "import os"),
        secret_line,
        DiffLine(C, 2, 3, "x = 1"),
        DiffLine(A, None, 4, "y = 2"),
    )
    result = planned(file("conf.py", Hunk(1, 2, 1, 4, lines)), masker=Masker([SECRET]))

    first, second = halves_of(result)

    assert SECRET not in first.text + second.text and "[REDACTED]" in first.text


@given(st.lists(st.text("+- ", min_size=1, max_size=12).filter(lambda k: k.strip()), min_size=1, max_size=4))
def test_every_changed_line_lands_in_exactly_one_half(kinds: list[str]) -> None:
    hunks = [hunk(k, start=1 + 100 * n) for n, k in enumerate(kinds)]
    result = planned(file("a.py", *hunks))
    (chunk,) = result.chunks
    assert result.cutter is not None

    halves = halve(chunk, result.cutter)

    if halves is None:
        assert sum(changed([chunk]).values()) == 1
    else:
        assert changed(list(halves)) == changed([chunk])
        assert all(sum(changed([half]).values()) >= 1 for half in halves)
