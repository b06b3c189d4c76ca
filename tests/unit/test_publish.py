from __future__ import annotations

from reviewer.diff.parsing import DiffRefs, parse_unified
from reviewer.diff.positions import Inline, LineIndex, Position
from reviewer.errors import PositionRejected
from reviewer.gitlab import markdown
from reviewer.gitlab.client import BotThread
from reviewer.gitlab.markdown import Markdown
from reviewer.gitlab.publish import LineThread, decide_publication, publish_inline, resolve_addressed
from reviewer.review.findings import Finding, Severity, Side

DIFF = "--- a/a.py\n+++ b/a.py\n@@ -1,3 +1,4 @@\n x = 1\n-y = 2\n+y = 3\n+z = f(y)\n w = 4\n"


def _inline(line: int, side: Side = Side.NEW, end: int | None = None) -> Inline:
    placement = LineIndex(parse_unified(DIFF), DiffRefs("b", "s", "h")).place("a.py", line, side, end)
    assert isinstance(placement, Inline)
    return placement


def _body(thread: LineThread) -> str:
    return markdown.thread(thread.findings, thread.position).text


def test_only_open_threads_whose_line_is_gone_are_resolved() -> None:
    def thread(name: str, anchor: str | None, resolved: bool = False) -> BotThread:
        return BotThread(name, 1, ("f" * 16,), (anchor,) if anchor else (), resolved, "a.py", Side.NEW)

    calls: list[tuple[str, Markdown | None]] = []

    class Recorder:
        def resolve_thread(
            self, project: int | str, iid: int, discussion_id: str, reply: Markdown | None = None
        ) -> None:
            calls.append((discussion_id, reply))

    threads = [
        thread("gone", "aaa"),
        thread("there", "bbb"),
        thread("by-a-person", "ccc", True),
        thread("old", None),
    ]
    done = resolve_addressed(Recorder(), 1, 2, threads, lambda path, side, anchor: anchor == "bbb")
    assert [t.discussion_id for t in done] == ["gone"]
    assert calls == [("gone", markdown.resolved_reply())]


def _found(title: str, line: int = 2, fp: str = "", **extra: object) -> tuple[Finding, Inline]:
    finding = Finding(
        str(extra.pop("aspect", "security")),
        Severity.HIGH,
        "a.py",
        line,
        Side.NEW,
        title,
        "Why.",
        fingerprint=fp or title.encode().hex()[:16].ljust(16, "0"),
        **extra,  # type: ignore[arg-type]
    )
    return finding, _inline(line, end=finding.end_line)


def _thread_on(
    line: int, fingerprints: tuple[str, ...], resolved: bool = False, head: str = "h"
) -> BotThread:
    return BotThread(f"d{line}", 1, fingerprints, (), resolved, "a.py", Side.NEW, line, head)


def test_findings_on_one_line_become_one_thread_listing_each_with_its_marker() -> None:
    detector, model, other = _found("Secret in code"), _found("Key committed", aspect="style"), _found("X", 3)
    publication = decide_publication([detector, model, other], [], "h")
    assert [len(t.findings) for t in publication.new_threads] == [2, 1]
    body = _body(publication.new_threads[0])
    for finding, _ in (detector, model):
        assert f"<!-- ai-review fp={finding.fingerprint}" in body and finding.title in body


def test_a_range_and_a_single_line_ending_on_the_same_line_share_a_thread() -> None:
    ranged, single = _found("Range", 2, end_line=3), _found("Single", 3)
    (thread,) = decide_publication([ranged, single], [], "h").new_threads
    assert [f.title for f in thread.findings] == ["Range", "Single"]


def test_only_the_first_suggestion_of_a_line_is_offered() -> None:
    first, second = _found("A", suggestion="y = 4"), _found("B", suggestion="y = 5")
    body = _body(decide_publication([first, second], [], "h").new_threads[0])
    assert body.count("suggestion:-0+0") == 1 and "y = 4" in body and "y = 5" not in body


def test_a_re_review_with_the_same_findings_posts_nothing() -> None:
    a, b = _found("A"), _found("B")
    existing = [_thread_on(2, (a[0].fingerprint, b[0].fingerprint))]
    publication = decide_publication([a, b], existing, "h")
    assert publication.new_threads == [] and publication.replies == []
    assert publication.already_posted == [a[0], b[0]]


def test_a_new_finding_on_a_line_with_an_open_bot_thread_is_a_reply_in_it() -> None:
    a, b = _found("A"), _found("B")
    publication = decide_publication([a, b], [_thread_on(2, (a[0].fingerprint,))], "h")
    assert publication.new_threads == [] and publication.already_posted == [a[0]]
    ((discussion, thread),) = publication.replies
    assert discussion == "d2" and thread.findings == (b[0],)


def test_a_new_finding_on_a_line_whose_thread_someone_resolved_goes_to_the_summary() -> None:
    a, b = _found("A"), _found("B")
    publication = decide_publication([a, b], [_thread_on(2, (a[0].fingerprint,), resolved=True)], "h")
    assert publication.new_threads == [] and publication.replies == []
    assert publication.in_summary == [(b[0], "its line has a thread someone resolved")]


def test_a_thread_on_an_older_version_is_not_this_line() -> None:
    a = _found("A")
    publication = decide_publication([a], [_thread_on(2, ("f" * 16,), head="older")], "h")
    assert [t.findings for t in publication.new_threads] == [(a[0],)]


def test_a_refused_position_sends_every_finding_of_the_line_to_the_summary() -> None:
    class Refusing:
        def create_thread(
            self, project: int | str, iid: int, body: Markdown, position: Position | None
        ) -> str:
            raise PositionRejected("400")

        def reply(self, project: int | str, iid: int, discussion_id: str, body: Markdown) -> str:
            raise AssertionError("no reply expected")

    a, b = _found("A"), _found("B")
    outcome = publish_inline(Refusing(), 1, 2, decide_publication([a, b], [], "h"))
    assert outcome.inline == [] and [f for f, _ in outcome.in_summary] == [a[0], b[0]]


def test_a_thread_whose_resolution_was_explained_is_resolved_without_a_second_reply() -> None:
    calls: list[Markdown | None] = []

    class Recorder:
        def resolve_thread(
            self, project: int | str, iid: int, discussion_id: str, reply: Markdown | None = None
        ) -> None:
            calls.append(reply)

    explained = BotThread("d", 1, ("f" * 16,), ("aaa",), False, "a.py", Side.NEW, 2, "h", True)
    fresh = BotThread("e", 1, ("e" * 16,), ("bbb", "ccc"), False, "a.py", Side.NEW, 3, "h")
    resolve_addressed(Recorder(), 1, 2, [explained, fresh], lambda path, side, anchor: anchor == "ccc")
    assert calls == [None]  # "e" keeps one of its lines: it stays open
