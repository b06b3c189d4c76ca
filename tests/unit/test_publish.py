from __future__ import annotations

from reviewer.gitlab import markdown
from reviewer.gitlab.client import BotThread
from reviewer.gitlab.markdown import Markdown
from reviewer.gitlab.publish import resolve_addressed
from reviewer.review.findings import Side


def test_only_open_threads_whose_line_is_gone_are_resolved() -> None:
    def thread(name: str, anchor: str | None, resolved: bool = False) -> BotThread:
        return BotThread(name, 1, "f" * 16, resolved, "a.py", Side.NEW, anchor)

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
