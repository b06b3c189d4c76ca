"""reviewer.gitlab.client against the GitLab stand-in, over HTTP through python-gitlab."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo

from reviewer.diff.parsing import LineKind
from reviewer.diff.positions import Inline, LineIndex
from reviewer.errors import GitLabError, PositionRejected, TransientError
from reviewer.gitlab import markdown
from reviewer.gitlab.client import GitLabClient
from reviewer.gitlab.summary import SummaryInput
from reviewer.model.usage import Usage
from reviewer.review.findings import Finding, Severity, Side
from reviewer.review.planning import Plan, Tier


@pytest.fixture
def standin() -> Iterator[GitLabStandIn]:
    with GitLabStandIn(collapse_patch_bytes=2_000) as server:
        yield server


def _client(standin: GitLabStandIn, token: str | None = None) -> GitLabClient:
    return GitLabClient(standin.url, token or standin.token, diff_refs_wait=0.01, max_retries=2)


def _mr(
    standin: GitLabStandIn, tmp_path: Path, files: dict[str, str | None], diff_refs_pending: int = 0
) -> tuple[int, int]:
    base = {"app/a.py": "".join(f"line {i}\n" for i in range(1, 41)), "gone.txt": "bye\n"}
    repo = GitRepo.create(tmp_path / "repo", files=base)
    repo.commit(files, branch="feature", message="change")
    pid = standin.add_project("group/app", repo)
    return pid, standin.open_mr(pid, "feature", diff_refs_pending=diff_refs_pending)


def test_every_page_of_a_large_merge_request_is_read(standin: GitLabStandIn, tmp_path: Path) -> None:
    files: dict[str, str | None] = {f"pkg/m{i:02}.py": f"x = {i}\n" for i in range(45)}
    pid, iid = _mr(standin, tmp_path, files)
    info, diff = _client(standin).fetch_diff(pid, iid)
    assert len(diff.files) == 45
    assert info.project_path == "group/app"
    assert len(standin.requests_to("GET", r"/diffs")) >= 3  # 20 per page by default


def test_a_collapsed_file_is_read_from_the_raw_diff(standin: GitLabStandIn, tmp_path: Path) -> None:
    big = "".join(f"value_{i} = {i} * 2  # padding padding padding\n" for i in range(200))
    pid, iid = _mr(standin, tmp_path, {"big.py": big})
    _, diff = _client(standin).fetch_diff(pid, iid)
    (file,) = [f for f in diff.files if f.new_path == "big.py"]
    assert not file.too_large and file.added_lines == 200
    assert standin.requests_to("GET", r"/raw_diffs")


def test_null_diff_refs_right_after_creation_are_waited_for(standin: GitLabStandIn, tmp_path: Path) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"}, diff_refs_pending=2)
    _, diff = _client(standin).fetch_diff(pid, iid)
    assert diff.refs.head_sha == standin.versions(pid, iid)[0]["head_commit_sha"]


def test_diff_refs_that_never_come_are_a_transient_error(standin: GitLabStandIn, tmp_path: Path) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"}, diff_refs_pending=50)
    with pytest.raises(TransientError):
        _client(standin).fetch_diff(pid, iid)


def test_server_errors_are_retried_transparently(standin: GitLabStandIn, tmp_path: Path) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"})
    standin.fail_next("GET", r"/diffs", 502, times=2)
    _, diff = _client(standin).fetch_diff(pid, iid)
    assert [f.new_path for f in diff.files if f.hunks]


def test_a_wrong_token_is_a_clear_error_without_the_token(standin: GitLabStandIn, tmp_path: Path) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"})
    with pytest.raises(GitLabError) as caught:
        _client(standin, token="glpat-wrong-token").fetch_diff(pid, iid)
    assert caught.value.status == 401 and "glpat-wrong-token" not in str(caught.value)


def test_positions_for_every_kind_of_line_are_accepted(standin: GitLabStandIn, tmp_path: Path) -> None:
    edited = "".join(f"line {i}\n" for i in range(1, 41)).replace("line 20\n", "line twenty\nline 20.5\n")
    pid, iid = _mr(standin, tmp_path, {"app/a.py": edited, "gone.txt": None, "fresh.py": "a = 1\nb = 2\n"})
    client = _client(standin)
    _, diff = client.fetch_diff(pid, iid)
    index = LineIndex(diff.files, diff.refs)
    wanted = [
        ("app/a.py", 20, Side.OLD, None),  # removed
        ("app/a.py", 21, Side.NEW, None),  # added
        ("app/a.py", 19, Side.NEW, None),  # unchanged, both numbers
        ("app/a.py", 20, Side.NEW, 21),  # a range of added lines
        ("gone.txt", 1, Side.OLD, None),  # a deleted file's line
        ("fresh.py", 2, Side.NEW, None),  # a new file's line
    ]
    for path, line, side, end in wanted:
        placement = index.place(path, line, side, end)
        assert isinstance(placement, Inline), (path, line)
        client.create_thread(pid, iid, markdown.note(f"on {path}:{line}"), placement.position)
    assert standin.position_rejections == []
    kinds = {
        p["new_line"] if p.get("new_line") else -p["old_line"] for p in standin.inline_positions(pid, iid)
    }
    assert kinds >= {-20, 21, 19}


def test_a_stale_position_is_rejected_and_reported(standin: GitLabStandIn, tmp_path: Path) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"})
    client = _client(standin)
    _, diff = client.fetch_diff(pid, iid)
    placement = LineIndex(diff.files, diff.refs).place("new.py", 1)
    assert isinstance(placement, Inline)
    repo_path = tmp_path / "repo"
    GitRepo(repo_path).commit({"new.py": "print(2)\n"}, branch="feature", message="again")
    standin.push(pid, "feature")
    with pytest.raises(PositionRejected):
        client.create_thread(pid, iid, markdown.note("stale"), placement.position)


def test_the_summary_is_edited_in_place_and_threads_are_found_again(
    standin: GitLabStandIn, tmp_path: Path
) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"})
    client = _client(standin)
    first = client.upsert_summary(pid, iid, _summary("a" * 40))
    second = client.upsert_summary(pid, iid, _summary("b" * 40))
    assert first == second
    bodies = [n["body"] for n in standin.notes(pid, iid)]
    assert bodies == [_summary("b" * 40).text]

    finding = Finding(
        "style", Severity.LOW, "new.py", 1, Side.NEW, "general", "", fingerprint="0123456789abcdef"
    )
    client.create_thread(pid, iid, markdown.comment(finding, None), None)
    standin.add_note(pid, iid, "a person's note <!-- ai-review fp=ffffffffffffffff -->")
    assert [t.fingerprints for t in client.bot_threads(pid, iid)] == [("0123456789abcdef",)]


def _marked(title: str, fingerprint: str, anchor: str) -> markdown.Markdown:
    """A finding's comment, as the renderer writes it: its markers are what the bot reads back."""
    finding = Finding(
        "security", Severity.HIGH, "new.py", 1, Side.NEW, title, "", fingerprint=fingerprint, anchor=anchor
    )
    return markdown.comment(finding, None)


FP_BODY = _marked("finding", "0123456789abcdef", "aaaaaaaaaaaa")


@pytest.mark.parametrize("fault", ["lost_answer", "dropped_answer"])
def test_a_thread_whose_answer_was_lost_is_found_and_not_sent_again(
    standin: GitLabStandIn, tmp_path: Path, fault: str
) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"})
    client = _client(standin)
    _, diff = client.fetch_diff(pid, iid)
    placement = LineIndex(diff.files, diff.refs).place("new.py", 1)
    assert isinstance(placement, Inline)
    standin.inject("POST", r"/discussions$", fault)
    discussion_id = client.create_thread(pid, iid, FP_BODY, placement.position)
    (discussion,) = standin.discussions(pid, iid)
    assert discussion["id"] == discussion_id and discussion["notes"][0]["body"] == FP_BODY.text
    assert len(standin.requests_to("POST", r"/discussions$")) == 1  # never sent twice


def test_a_write_that_did_not_happen_is_a_transient_error_and_not_repeated(
    standin: GitLabStandIn, tmp_path: Path
) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"})
    client = _client(standin)
    standin.fail_next("POST", r"/notes$", 502)
    with pytest.raises(TransientError, match="not there"):
        client.upsert_summary(pid, iid, _summary("f" * 40))
    assert standin.notes(pid, iid) == [] and len(standin.requests_to("POST", r"/notes$")) == 1
    client.upsert_summary(pid, iid, _summary("f" * 40))  # the review's retry
    assert len(standin.notes(pid, iid)) == 1


def test_a_summary_and_a_reply_whose_answers_were_lost_are_written_once(
    standin: GitLabStandIn, tmp_path: Path
) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"})
    client = _client(standin)
    standin.inject("POST", r"/notes$", "lost_answer", status=503)
    note_id = client.upsert_summary(pid, iid, _summary("f" * 40))
    assert [n["id"] for n in standin.notes(pid, iid)] == [note_id]

    discussion_id = client.create_thread(pid, iid, FP_BODY, None)
    reply = _marked("more", "fedcba9876543210", "bbbbbbbbbbbb")
    standin.inject("POST", r"/discussions/[0-9a-f]+/notes$", "dropped_answer")
    client.reply(pid, iid, discussion_id, reply)
    (thread,) = client.bot_threads(pid, iid)
    assert thread.fingerprints == ("0123456789abcdef", "fedcba9876543210")
    assert thread.anchors == ("aaaaaaaaaaaa", "bbbbbbbbbbbb")


def test_a_thread_is_resolved_with_one_reply_even_when_resolving_is_retried(
    standin: GitLabStandIn, tmp_path: Path
) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"})
    client = _client(standin)
    discussion_id = client.create_thread(pid, iid, FP_BODY, None)
    standin.fail_next("PUT", r"/discussions/[0-9a-f]+$", 500, times=5)  # more than the client retries
    with pytest.raises(TransientError):
        client.resolve_thread(pid, iid, discussion_id, markdown.resolved_reply())
    (thread,) = client.bot_threads(pid, iid)
    assert thread.resolution_explained and not thread.resolved
    client.resolve_thread(pid, iid, discussion_id, None)  # the retry sees the reply is there
    (thread,) = client.bot_threads(pid, iid)
    assert thread.resolved
    assert len(standin.discussions(pid, iid)[0]["notes"]) == 2


def test_a_body_not_made_by_the_renderer_is_refused_before_anything_is_sent(
    standin: GitLabStandIn, tmp_path: Path
) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"})
    client = _client(standin)
    sent = len(standin.requests)
    with pytest.raises(TypeError):
        client.create_thread(pid, iid, "/approve", None)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.upsert_summary(pid, iid, "/close")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        client.resolve_thread(pid, iid, "d", "/merge")  # type: ignore[arg-type]
    assert len(standin.requests) == sent and standin.notes(pid, iid) == []


def test_token_facts_say_who_the_token_is_and_what_it_may_do(tmp_path: Path) -> None:
    with GitLabStandIn(bot_admin=True, token_scopes=("api", "sudo")) as admin:
        facts = _client(admin).token_facts()
    assert (facts.user_id, facts.is_admin, facts.scopes) == (admin.bot.id, True, ("api", "sudo"))
    with GitLabStandIn() as plain:
        facts = _client(plain).token_facts()
    assert (facts.is_admin, facts.scopes) == (False, ("api",))


def _summary(head: str) -> markdown.Markdown:
    plan = Plan(Tier.TRIVIAL, "nothing to review", (), (), 0, 0)
    return markdown.summary(SummaryInput(head, plan, [], [], 0, [], [], Usage(), {}, ()))


def test_read_file_answers_none_for_a_missing_file(standin: GitLabStandIn, tmp_path: Path) -> None:
    pid, iid = _mr(standin, tmp_path, {"new.py": "print(1)\n"})
    client = _client(standin)
    head = standin.versions(pid, iid)[0]["head_commit_sha"]
    assert client.read_file(pid, "new.py", head) == "print(1)\n"
    assert client.read_file(pid, ".ai-review.yaml", head) is None


def test_parsed_lines_match_what_git_computed(standin: GitLabStandIn, tmp_path: Path) -> None:
    pid, iid = _mr(standin, tmp_path, {"app/a.py": "line 1\n"})
    _, diff = _client(standin).fetch_diff(pid, iid)
    (file,) = [f for f in diff.files if f.new_path == "app/a.py"]
    kinds = [ln.kind for h in file.hunks for ln in h.lines]
    assert kinds.count(LineKind.REMOVED) == 39 and kinds.count(LineKind.CONTEXT) == 1
