"""The GitLab stand-in, driven by python-gitlab over real HTTP, against GitLab's documented behaviour.

Line numbers below are worked out by hand from the repositories each test builds, not with
``gitlab_rules``, so these tests check the rules instead of repeating them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gitlab
import pytest
import requests
from fakes.gitlab_rules import INCOMPLETE_ERROR, LINE_CODE_ERROR, check_position, diff_lines, line_code
from fakes.gitlab_server import GitLabStandIn
from fakes.gitrepo import GitRepo
from fakes.webhooks import merge_request_hook, note_hook

SERVICE = "".join(f"line {n}\n" for n in range(1, 41))
BASE_FILES: dict[str, str | bytes | None] = {
    "app/service.py": SERVICE,
    "gone.py": "x = 1\ny = 2\n",
    "old_name.py": "".join(f"keep {n}\n" for n in range(1, 11)),
    "moved.py": "".join(f"moved {n}\n" for n in range(1, 21)),
    "run.sh": "echo hi\n",
    "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR",
    "dos.txt": "one\r\ntwo\r\nthree\r\n",
}
UNICODE_PATH = "docs/ünïcödé file.md"


def service_change() -> str:
    """Line 20 rewritten; two lines added after line 30 (old 31.. becomes new 33..)."""
    lines = [f"line {n}\n" for n in range(1, 41)]
    lines[19] = "line twenty\n"
    lines[30:30] = ["added A\n", "added B\n"]
    return "".join(lines)


FEATURE_FILES: dict[str, str | bytes | None] = {
    "app/service.py": service_change(),
    UNICODE_PATH: "héllo wörld\n",
    "gone.py": None,
    "pkg/moved.py": "".join(f"moved {n}\n" if n != 5 else "moved FIVE\n" for n in range(1, 21)),
    "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x01",
    "empty.txt": "",
    "notrail.txt": "a\nb",
    "dos.txt": "one\r\nTWO\r\nthree\r\n",
}


@pytest.fixture
def standin() -> Iterator[GitLabStandIn]:
    with GitLabStandIn() as server:
        yield server


@pytest.fixture
def gl(standin: GitLabStandIn) -> Iterator[gitlab.Gitlab]:
    client = gitlab.Gitlab(standin.url, private_token=standin.token)
    yield client
    client.session.close()


@pytest.fixture
def repo(tmp_path: Path) -> GitRepo:
    return GitRepo.create(tmp_path / "app", files=BASE_FILES)


@pytest.fixture
def feature(standin: GitLabStandIn, repo: GitRepo) -> tuple[int, int]:
    """Project ``group/app`` with MR !1 from ``feature``: every shape of change at once."""
    pid = standin.add_project("group/app", repo)
    repo.commit(
        FEATURE_FILES,
        branch="feature",
        renames={"old_name.py": "new_name.py", "moved.py": "pkg/moved.py"},
        executable={"run.sh": True},
        message="Feature work",
    )
    return pid, standin.open_mr(pid, "feature", title="Feature work")


def position(refs: dict[str, str], old_path: str, new_path: str, **lines: Any) -> dict[str, Any]:
    return {
        "position_type": "text",
        "base_sha": refs["base_sha"],
        "start_sha": refs["start_sha"],
        "head_sha": refs["head_sha"],
        "old_path": old_path,
        "new_path": new_path,
        **lines,
    }


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


# -- auth, users, projects -----------------------------------------------------------------------


def test_token_maps_to_the_bot_user_and_bad_tokens_get_401(standin: GitLabStandIn, gl: gitlab.Gitlab) -> None:
    gl.auth()
    assert gl.user is not None
    assert (gl.user.username, gl.user.bot) == ("review-bot", True)

    bearer = gitlab.Gitlab(standin.url, oauth_token=standin.token)
    bearer.auth()
    assert bearer.user is not None and bearer.user.id == gl.user.id

    with pytest.raises(gitlab.GitlabAuthenticationError) as caught:
        gitlab.Gitlab(standin.url, private_token="wrong").auth()
    assert caught.value.response_code == 401
    anonymous = requests.get(f"{standin.url}/api/v4/projects/1", timeout=5)
    assert (anonymous.status_code, anonymous.json()) == (401, {"message": "401 Unauthorized"})


def test_project_by_id_or_url_encoded_path(standin: GitLabStandIn, gl: gitlab.Gitlab, repo: GitRepo) -> None:
    pid = standin.add_project("group/sub/app", repo)
    by_path = gl.projects.get("group/sub/app")  # python-gitlab sends group%2Fsub%2Fapp
    assert by_path.id == pid and gl.projects.get(pid).path_with_namespace == "group/sub/app"
    assert standin.requests[-2].path == "/api/v4/projects/group%2Fsub%2Fapp"
    with pytest.raises(gitlab.GitlabGetError) as caught:
        gl.projects.get("group/other")
    assert (caught.value.response_code, caught.value.error_message) == (404, "404 Project Not Found")


# -- merge requests, versions, diffs -------------------------------------------------------------


def test_mr_diff_refs_come_from_the_latest_version(
    standin: GitLabStandIn, gl: gitlab.Gitlab, repo: GitRepo, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    main, head = repo.rev_parse("main"), repo.rev_parse("feature")
    assert mr.diff_refs == {"base_sha": main, "head_sha": head, "start_sha": main}
    assert (mr.sha, mr.state, mr.draft, mr.source_branch, mr.target_branch) == (
        head,
        "opened",
        False,
        "feature",
        "main",
    )
    assert mr.changes_count == "10" and mr.web_url.endswith("/group/app/-/merge_requests/1")

    repo.commit({"late.txt": "late\n"}, branch="main", message="Main moves on")
    second = repo.commit({"app/service.py": service_change() + "line 41\n"}, branch="feature")
    assert standin.push(pid, "feature") == [iid]
    versions = mr.diffs.list(get_all=True)  # python-gitlab's mr.diffs reads /versions
    assert [v.head_commit_sha for v in versions] == [second, head]  # newest first
    latest = versions[0]
    assert (latest.base_commit_sha, latest.start_commit_sha) == (main, repo.rev_parse("main"))
    assert latest.state == "collected" and latest.real_size == "10"
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    assert mr.diff_refs == {"base_sha": main, "head_sha": second, "start_sha": repo.rev_parse("main")}

    detail = mr.diffs.get(latest.id)
    assert [c["id"] for c in detail.commits] == [second, head]
    assert {d["new_path"] for d in detail.diffs} >= {"app/service.py", UNICODE_PATH}
    assert standin.push(pid, "feature") == []  # nothing moved, no new version


def test_diff_refs_are_null_right_after_creation(
    standin: GitLabStandIn, gl: gitlab.Gitlab, repo: GitRepo
) -> None:
    pid = standin.add_project("group/app", repo)
    repo.commit({"a.txt": "a\n"}, branch="feature")
    iid = standin.open_mr(pid, "feature", diff_refs_pending=2)
    project = gl.projects.get(pid, lazy=True)
    seen = [project.mergerequests.get(iid).diff_refs for _ in range(3)]
    assert seen[:2] == [None, None] and seen[2]["head_sha"] == repo.rev_parse("feature")


def test_diffs_endpoint_pages_per_file_and_iterator_walks_all_pages(
    standin: GitLabStandIn, gl: gitlab.Gitlab, repo: GitRepo
) -> None:
    pid = standin.add_project("group/app", repo)
    files: dict[str, str | bytes | None] = {f"src/f{n:02}.py": f"v = {n}\n" for n in range(43)}
    files.update({"z_top.txt": "top\n", "a/deep/x.txt": "deep\n"})
    repo.commit(files, branch="feature")
    iid = standin.open_mr(pid, "feature")

    diffs = list(gl.http_list(f"/projects/{pid}/merge_requests/{iid}/diffs", iterator=True))
    assert len(diffs) == 45 and len(standin.requests_to("GET", r"/diffs$")) == 3
    # Gitlab::Diff::FileCollectionSorter: directories before files at each level, then by name
    assert [d["new_path"] for d in diffs][:2] == ["a/deep/x.txt", "src/f00.py"] and diffs[-1][
        "new_path"
    ] == "z_top.txt"
    assert all(d["new_file"] and d["diff"].startswith("@@ -0,0 +1 @@\n+") for d in diffs)

    first = requests.get(
        f"{standin.url}/api/v4/projects/{pid}/merge_requests/{iid}/diffs",
        params={"per_page": 20},
        headers={"PRIVATE-TOKEN": standin.token},
        timeout=5,
    )
    h = first.headers
    assert (h["X-Page"], h["X-Per-Page"], h["X-Total"], h["X-Total-Pages"]) == ("1", "20", "45", "3")
    assert (h["X-Next-Page"], h["X-Prev-Page"]) == ("2", "")
    assert (
        first.links["next"]["url"]
        == f"{standin.url}/api/v4/projects/{pid}/merge_requests/{iid}/diffs?page=2&per_page=20"
    )
    assert first.links["last"]["url"].endswith("page=3&per_page=20") and "prev" not in first.links


def test_each_shape_of_change_as_gitlab_lists_it(gl: gitlab.Gitlab, feature: tuple[int, int]) -> None:
    pid, iid = feature
    by_path = {
        d["new_path"]: d for d in gl.http_list(f"/projects/{pid}/merge_requests/{iid}/diffs", iterator=True)
    }
    assert not any(
        "diff --git" in d["diff"] or d["diff"].startswith(("---", "+++")) for d in by_path.values()
    )
    flags = {
        p: (d["old_path"], d["new_file"], d["deleted_file"], d["renamed_file"], d["a_mode"], d["b_mode"])
        for p, d in by_path.items()
    }
    assert flags == {
        "app/service.py": ("app/service.py", False, False, False, "100644", "100644"),
        UNICODE_PATH: (UNICODE_PATH, True, False, False, "0", "100644"),
        "dos.txt": ("dos.txt", False, False, False, "100644", "100644"),
        "empty.txt": ("empty.txt", True, False, False, "0", "100644"),
        "gone.py": ("gone.py", False, True, False, "100644", "0"),
        "logo.png": ("logo.png", False, False, False, "100644", "100644"),
        "new_name.py": ("old_name.py", False, False, True, "100644", "100644"),
        "notrail.txt": ("notrail.txt", True, False, False, "0", "100644"),
        "pkg/moved.py": ("moved.py", False, False, True, "100644", "100644"),
        "run.sh": ("run.sh", False, False, False, "100644", "100755"),
    }
    assert by_path["app/service.py"]["diff"].startswith("@@ -17,7 +17,7 @@ line 16\n line 17\n")
    assert "@@ -28,6 +28,8 @@" in by_path["app/service.py"]["diff"]
    assert by_path[UNICODE_PATH]["diff"] == "@@ -0,0 +1 @@\n+héllo wörld\n"
    assert by_path["gone.py"]["diff"] == "@@ -1,2 +0,0 @@\n-x = 1\n-y = 2\n"
    assert by_path["logo.png"]["diff"] == "Binary files a/logo.png and b/logo.png differ\n"
    assert by_path["notrail.txt"]["diff"] == "@@ -0,0 +1,2 @@\n+a\n+b\n\\ No newline at end of file\n"
    assert by_path["dos.txt"]["diff"] == "@@ -1,3 +1,3 @@\n one\r\n-two\r\n+TWO\r\n three\r\n"
    assert by_path["pkg/moved.py"]["diff"].startswith("@@ -2,7 +2,7 @@")
    assert [by_path[p]["diff"] for p in ("empty.txt", "new_name.py", "run.sh")] == ["", "", ""]
    assert not any(d["too_large"] or d["collapsed"] or d["generated_file"] for d in by_path.values())


def test_raw_diffs_compare_and_raw_files(
    standin: GitLabStandIn, gl: gitlab.Gitlab, repo: GitRepo, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    raw = gl.http_get(f"/projects/{pid}/merge_requests/{iid}/raw_diffs", raw=True)
    assert isinstance(raw, requests.Response) and raw.text.startswith(
        "diff --git a/app/service.py b/app/service.py\n"
    )
    assert "rename from old_name.py\nrename to new_name.py\n" in raw.text

    project = gl.projects.get(pid)
    compared = project.repository_compare("main", "feature")
    assert isinstance(compared, dict)
    assert compared["commit"]["id"] == repo.rev_parse("feature") and len(compared["diffs"]) == 10
    assert project.files.raw(file_path=UNICODE_PATH, ref="feature") == "héllo wörld\n".encode()
    assert project.files.raw(file_path="logo.png", ref="main") == BASE_FILES["logo.png"]
    assert project.files.get(file_path="dos.txt", ref="feature").decode() == b"one\r\nTWO\r\nthree\r\n"
    with pytest.raises(gitlab.GitlabGetError) as caught:
        project.files.raw(file_path="gone.py", ref="feature")
    assert caught.value.error_message == "404 File Not Found"


def test_collapsed_and_too_large_files_lose_their_text_where_gitlab_drops_it(tmp_path: Path) -> None:
    big, huge = "".join(f"+{n:04}\n" for n in range(60)), "".join(f"{n:04}\n" for n in range(400))
    with GitLabStandIn(max_patch_bytes=1000, generated_globs=("*.lock",)) as standin:
        repo = GitRepo.create(tmp_path / "r", files={"keep.txt": "k\n"})
        pid = standin.add_project("g/r", repo)
        repo.commit(
            {"big.txt": big, "huge.txt": huge, "deps.lock": "x\n", "small.txt": "s\n"}, branch="feature"
        )
        iid = standin.open_mr(pid, "feature")
        gl = gitlab.Gitlab(standin.url, private_token=standin.token)
        listed = {
            d["new_path"]: d
            for d in gl.http_list(f"/projects/{pid}/merge_requests/{iid}/diffs", iterator=True)
        }
        assert (
            listed["big.txt"]["collapsed"],
            listed["big.txt"]["too_large"],
            listed["big.txt"]["diff"],
        ) == (True, False, "")
        assert (listed["huge.txt"]["too_large"], listed["huge.txt"]["diff"]) == (True, "")
        assert (listed["deps.lock"]["generated_file"], listed["deps.lock"]["collapsed"]) == (True, True)
        assert listed["small.txt"]["diff"] == "@@ -0,0 +1 @@\n+s\n"

        version = (
            gl.projects.get(pid, lazy=True)
            .mergerequests.get(iid, lazy=True)
            .diffs.get(standin.versions(pid, iid)[0]["id"])
        )
        full = {d["new_path"]: d for d in version.diffs}
        assert full["big.txt"]["collapsed"] is False and full["big.txt"]["diff"].startswith(
            "@@ -0,0 +1,60 @@"
        )
        assert full["huge.txt"]["too_large"] is True and full["huge.txt"]["diff"] == ""
        raw = gl.http_get(f"/projects/{pid}/merge_requests/{iid}/raw_diffs", raw=True)
        assert isinstance(raw, requests.Response) and "+0399\n" in raw.text
        gl.session.close()


# -- positions -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old_path", "new_path", "lines", "expect_code"),
    [
        ("app/service.py", "app/service.py", {"new_line": 20}, "_21_20"),  # added: new_line only
        ("app/service.py", "app/service.py", {"old_line": 20}, "_20_20"),  # removed: old_line only
        ("app/service.py", "app/service.py", {"old_line": 18, "new_line": 18}, "_18_18"),  # context
        ("app/service.py", "app/service.py", {"old_line": 32, "new_line": 34}, "_32_34"),  # shifted context
        ("app/service.py", "app/service.py", {"new_line": 32}, "_31_32"),  # second added line
        (UNICODE_PATH, UNICODE_PATH, {"new_line": 1}, "_0_1"),  # new file: both paths are the new one
        ("gone.py", "gone.py", {"old_line": 2}, "_2_0"),  # deleted file: both paths are the old one
        ("moved.py", "pkg/moved.py", {"new_line": 5}, "_6_5"),  # renamed and edited
        ("dos.txt", "dos.txt", {"old_line": 2}, "_2_2"),
        ("notrail.txt", "notrail.txt", {"new_line": 2}, "_0_2"),
    ],
)
def test_positions_on_lines_in_the_diff_are_accepted(
    standin: GitLabStandIn,
    gl: gitlab.Gitlab,
    feature: tuple[int, int],
    old_path: str,
    new_path: str,
    lines: dict[str, int],
    expect_code: str,
) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    discussion = mr.discussions.create(
        {"body": "finding", "position": position(mr.diff_refs, old_path, new_path, **lines)}
    )
    note = discussion.attributes["notes"][0]
    assert (note["type"], note["resolvable"], note["resolved"], discussion.individual_note) == (
        "DiffNote",
        True,
        False,
        False,
    )
    assert note["position"]["old_line"] == lines.get("old_line") and note["position"][
        "new_line"
    ] == lines.get("new_line")
    assert standin.inline_positions(pid, iid)[0]["new_path"] == new_path
    # the line code GitLab derives for it, worked out by hand
    entry = next(f for f in standin.version_files(pid, iid) if f["new_path"] == new_path)
    codes = {line_code(new_path, ln.old_counter, ln.new_counter) for ln in diff_lines(entry["diff"])}
    assert sha1(new_path) + expect_code in codes


@pytest.mark.parametrize(
    ("old_path", "new_path", "lines", "message"),
    [
        (
            "app/service.py",
            "app/service.py",
            {"old_line": 20, "new_line": 20},
            LINE_CODE_ERROR,
        ),  # added given both
        (
            "app/service.py",
            "app/service.py",
            {"new_line": 18},
            LINE_CODE_ERROR,
        ),  # context given new_line only
        (
            "app/service.py",
            "app/service.py",
            {"old_line": 34, "new_line": 34},
            LINE_CODE_ERROR,
        ),  # shifted context
        ("app/service.py", "app/service.py", {"new_line": 5}, LINE_CODE_ERROR),  # outside every hunk
        (
            "app/service.py",
            "app/service.py",
            {"old_line": 25, "new_line": 25},
            LINE_CODE_ERROR,
        ),  # between hunks
        ("app/service.py", "app/service.py", {}, INCOMPLETE_ERROR),  # no line at all
        ("pkg/moved.py", "pkg/moved.py", {"new_line": 5}, LINE_CODE_ERROR),  # rename given the new path twice
        (None, "app/service.py", {"new_line": 20}, LINE_CODE_ERROR),  # old_path missing
        ("logo.png", "logo.png", {"new_line": 1}, LINE_CODE_ERROR),  # binary file
        ("run.sh", "run.sh", {"old_line": 1, "new_line": 1}, LINE_CODE_ERROR),  # mode-only change
        ("empty.txt", "empty.txt", {"new_line": 1}, LINE_CODE_ERROR),  # empty new file
        ("notrail.txt", "notrail.txt", {"new_line": 3}, LINE_CODE_ERROR),  # the "\ No newline" line
    ],
)
def test_positions_gitlab_refuses_answer_400_with_its_message(
    standin: GitLabStandIn,
    gl: gitlab.Gitlab,
    feature: tuple[int, int],
    old_path: str | None,
    new_path: str,
    lines: dict[str, int],
    message: str,
) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    pos = position(mr.diff_refs, old_path or "", new_path, **lines)
    if old_path is None:
        del pos["old_path"]
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        mr.discussions.create({"body": "finding", "position": pos})
    assert (caught.value.response_code, caught.value.error_message) == (400, message)
    assert standin.discussions(pid, iid) == [] and standin.position_rejections[0]["reason"]


def test_grape_rejects_a_position_without_its_shas(gl: gitlab.Gitlab, feature: tuple[int, int]) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    pos = position(mr.diff_refs, "app/service.py", "app/service.py", new_line=20)
    del pos["start_sha"]
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        mr.discussions.create({"body": "finding", "position": pos})
    assert (caught.value.response_code, caught.value.error_message) == (400, "position[start_sha] is missing")


def test_positions_with_the_shas_of_an_older_version_are_refused(
    standin: GitLabStandIn, gl: gitlab.Gitlab, repo: GitRepo, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    project = gl.projects.get(pid, lazy=True)
    stale_refs = project.mergerequests.get(iid).diff_refs
    repo.commit({"another.txt": "more\n"}, branch="feature")
    standin.push(pid, "feature")
    mr = project.mergerequests.get(iid)
    stale = position(stale_refs, "app/service.py", "app/service.py", new_line=20)
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        mr.discussions.create({"body": "finding", "position": stale})
    assert caught.value.error_message == LINE_CODE_ERROR
    assert "latest MR version" in standin.position_rejections[-1]["reason"]
    mr.discussions.create({"body": "finding", "position": {**stale, **mr.diff_refs}})


def test_line_ranges_need_codes_of_lines_in_the_diff(
    standin: GitLabStandIn, gl: gitlab.Gitlab, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    code = sha1("app/service.py")
    base = position(mr.diff_refs, "app/service.py", "app/service.py", new_line=20)

    def with_range(
        start: str, start_type: str, end: str, end_type: str, **lines: int | None
    ) -> dict[str, Any]:
        return {
            **base,
            **lines,
            "line_range": {
                "start": {"line_code": f"{code}{start}", "type": start_type},
                "end": {"line_code": f"{code}{end}", "type": end_type},
            },
        }

    # context 18 .. removed 20 .. added 20: codes use the parser's counters (added 20 is _21_20)
    accepted = mr.discussions.create(
        {"body": "range", "position": with_range("_18_18", "old", "_21_20", "new")}
    )
    assert accepted.attributes["notes"][0]["position"]["line_range"]["end"]["line_code"] == f"{code}_21_20"
    refused = [
        with_range("_18_18", "old", "_20_20", "new"),  # _20_20 is the removed line: its type is old
        with_range("_18_18", "new", "_0_20", "new"),  # a code computed with no old counter
        with_range("_21_20", "new", "_18_18", "old", old_line=18, new_line=18),  # end before start
        with_range(
            "_18_18", "old", "_19_19", "new", old_line=None, new_line=20
        ),  # the note's line is not the end
        {
            **base,
            "line_range": {"start": {"type": "new"}, "end": {"line_code": f"{code}_21_20", "type": "new"}},
        },
    ]
    for pos in refused:
        with pytest.raises(gitlab.GitlabCreateError) as caught:
            mr.discussions.create({"body": "range", "position": pos})
        assert caught.value.error_message == LINE_CODE_ERROR
    assert len(standin.position_rejections) == len(refused)


def test_form_encoded_positions_are_understood(
    standin: GitLabStandIn, gl: gitlab.Gitlab, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    refs = gl.projects.get(pid, lazy=True).mergerequests.get(iid).diff_refs
    form = {
        "body": "from curl",
        "position[position_type]": "text",
        "position[old_path]": "gone.py",
        "position[new_path]": "gone.py",
        "position[old_line]": "1",
        **{f"position[{k}]": v for k, v in refs.items()},
    }
    answer = requests.post(
        f"{standin.url}/api/v4/projects/group%2Fapp/merge_requests/{iid}/discussions",
        data=form,
        headers={"PRIVATE-TOKEN": standin.token},
        timeout=5,
    )
    assert answer.status_code == 201, answer.text
    assert answer.json()["notes"][0]["position"]["old_line"] == 1


def test_check_position_is_usable_without_a_server(standin: GitLabStandIn, feature: tuple[int, int]) -> None:
    pid, iid = feature
    files, refs = standin.version_files(pid, iid), standin.versions(pid, iid)[0]
    refs = {
        "base_sha": refs["base_commit_sha"],
        "start_sha": refs["start_commit_sha"],
        "head_sha": refs["head_commit_sha"],
    }
    assert check_position(files, refs, position(refs, "gone.py", "gone.py", old_line=1)) is None
    assert check_position(files, refs, position(refs, "gone.py", "gone.py", new_line=1)) == LINE_CODE_ERROR


def test_reject_positions_switch_forces_the_fallback(
    standin: GitLabStandIn, gl: gitlab.Gitlab, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    standin.reject_positions = True
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    with pytest.raises(gitlab.GitlabCreateError):
        mr.discussions.create(
            {"body": "x", "position": position(mr.diff_refs, "gone.py", "gone.py", old_line=1)}
        )
    mr.discussions.create({"body": "fallback in the overview"})
    assert [d["notes"][0]["type"] for d in standin.discussions(pid, iid)] == ["DiscussionNote"]


# -- discussions and notes -----------------------------------------------------------------------


def test_discussion_reply_resolve_and_edit(
    standin: GitLabStandIn, gl: gitlab.Gitlab, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    inline = mr.discussions.create(
        {"body": "finding", "position": position(mr.diff_refs, "gone.py", "gone.py", old_line=1)}
    )
    reply = inline.notes.create({"body": "won't fix"})
    assert reply.type == "DiffNote" and reply.position["old_line"] == 1  # replies carry the thread's position

    inline.resolved = True
    inline.save()
    assert all(
        n["resolved"] and n["resolved_by"]["username"] == "review-bot"
        for n in standin.discussions(pid, iid)[0]["notes"]
    )

    first = inline.notes.get(inline.attributes["notes"][0]["id"])
    first.body = "finding, reworded"
    first.save()
    assert mr.discussions.get(inline.id).attributes["notes"][0]["body"] == "finding, reworded"

    person = standin.add_note(pid, iid, "a person's comment")
    assert (person["type"], person["resolvable"]) == (None, False)
    with pytest.raises(gitlab.GitlabHttpError) as caught:
        gl.http_put(
            f"/projects/{pid}/merge_requests/{iid}/notes/{person['id']}", post_data={"body": "hijacked"}
        )
    assert caught.value.response_code == 403
    with pytest.raises(gitlab.GitlabUpdateError):
        mr.discussions.update(standin.discussion_id_of(pid, iid, person["id"]), {"resolved": True})


def test_notes_api_lists_sorted_and_paginated(
    standin: GitLabStandIn, gl: gitlab.Gitlab, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    created = [mr.notes.create({"body": f"note {n}"}) for n in range(5)]
    assert all(n.type is None for n in created)
    assert [n.body for n in mr.notes.list(get_all=True)] == [
        f"note {n}" for n in reversed(range(5))
    ]  # default desc
    assert mr.notes.list(sort="asc", order_by="created_at", get_all=True)[0].body == "note 0"

    created[1].body = "summary v2"
    created[1].save()
    assert mr.notes.list(order_by="updated_at", get_all=True)[0].body == "summary v2"
    assert mr.notes.get(created[1].id).body == "summary v2"

    page = requests.get(
        f"{standin.url}/api/v4/projects/{pid}/merge_requests/{iid}/notes",
        params={"per_page": "2", "page": "2", "sort": "asc"},
        headers={"PRIVATE-TOKEN": standin.token},
        timeout=5,
    )
    assert [n["body"] for n in page.json()] == ["note 2", "note 3"]
    h = page.headers
    assert (h["X-Page"], h["X-Next-Page"], h["X-Prev-Page"], h["X-Total"], h["X-Total-Pages"]) == (
        "2",
        "3",
        "1",
        "5",
        "3",
    )
    assert set(page.links) == {"prev", "next", "first", "last"} and "sort=asc" in page.links["next"]["url"]
    assert len(list(mr.discussions.list(iterator=True, per_page=2))) == 5


@pytest.mark.unsafe_notes  # it posts quick actions as the bot on purpose
def test_quick_actions_in_notes_are_run_with_the_authors_rights(
    standin: GitLabStandIn, gl: gitlab.Gitlab, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    mr.notes.create({"body": "```suggestion:-0+0\n/usr/bin/env python\n```"})
    assert standin.executed_quick_actions == []
    mr.notes.create({"body": "Looks good\n/approve"})
    note = mr.notes.create({"body": "harmless"})
    note.body = "edited\n/close"
    note.save()
    assert [(a["line"], a["author_id"]) for a in standin.executed_quick_actions] == [
        ("/approve", standin.bot.id),
        ("/close", standin.bot.id),
    ]
    assert standin.mr(pid, iid)["state"] == "closed"
    assert standin.approvals(pid, iid) == [standin.bot.id]


# -- faults and the request log ------------------------------------------------------------------


def test_injected_faults_answer_once_then_the_real_thing(
    standin: GitLabStandIn, gl: gitlab.Gitlab, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid)
    standin.fail_next("POST", r"/discussions$", 502)
    with pytest.raises(gitlab.GitlabCreateError) as caught:
        mr.discussions.create({"body": "first try"})
    assert caught.value.response_code == 502
    mr.discussions.create({"body": "second try"})

    standin.fail_next("GET", r"/merge_requests/1$", 429, times=2, headers={"Retry-After": "0"})
    assert (
        gl.projects.get(pid, lazy=True).mergerequests.get(iid).iid == iid
    )  # python-gitlab obeys 429 and retries
    assert [r.status for r in standin.requests_to("GET", r"/merge_requests/1$")][-3:] == [429, 429, 200]

    standin.fail_next("*", r"/notes", 500, body={"message": "boom"})
    with pytest.raises(gitlab.GitlabListError) as listed:
        mr.notes.list(get_all=True)
    assert listed.value.error_message == "boom"


def test_a_lost_answer_comes_after_the_write_took_effect(
    standin: GitLabStandIn, gl: gitlab.Gitlab, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid, lazy=True)
    standin.inject("POST", r"/discussions$", "lost_answer", nth=(1, 3), status=502)
    outcomes = []
    for n in range(1, 5):
        try:
            mr.discussions.create({"body": f"thread {n}"}, retry_transient_errors=False)
            outcomes.append("ok")
        except gitlab.GitlabCreateError as caught:
            outcomes.append(str(caught.response_code))
    assert outcomes == ["502", "ok", "502", "ok"]
    assert [d["notes"][0]["body"] for d in standin.discussions(pid, iid)] == [
        f"thread {n}" for n in range(1, 5)
    ]
    assert [r.fault for r in standin.requests_to("POST", r"/discussions$")] == [
        "lost_answer",
        None,
        "lost_answer",
        None,
    ]


def test_a_dropped_answer_closes_the_connection_after_the_write(
    standin: GitLabStandIn, gl: gitlab.Gitlab, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    mr = gl.projects.get(pid, lazy=True).mergerequests.get(iid, lazy=True)
    standin.inject("POST", r"/notes$", "dropped_answer")
    with pytest.raises(requests.ConnectionError):
        mr.notes.create({"body": "hello"}, retry_transient_errors=False)
    assert [n["body"] for n in standin.notes(pid, iid)] == ["hello"]
    assert standin.requests_to("POST", r"/notes$")[-1].status == 0
    mr.notes.create({"body": "again"})  # the next request gets a fresh connection and an answer
    assert len(standin.notes(pid, iid)) == 2


def test_a_slow_write_lands_after_the_client_gave_up(
    standin: GitLabStandIn, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    impatient = gitlab.Gitlab(standin.url, private_token=standin.token, timeout=0.3)
    mr = impatient.projects.get(pid, lazy=True).mergerequests.get(iid, lazy=True)
    standin.inject("POST", r"/discussions$", "slow_write", delay=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        mr.discussions.create({"body": "late"}, retry_transient_errors=False)
    assert standin.discussions(pid, iid) == []  # a read right now sees nothing
    assert standin.wait_idle(timeout=10)
    assert [d["notes"][0]["body"] for d in standin.discussions(pid, iid)] == ["late"]


def test_a_late_answer_times_out_a_client_though_the_write_is_done(
    standin: GitLabStandIn, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    impatient = gitlab.Gitlab(standin.url, private_token=standin.token, timeout=0.3)
    mr = impatient.projects.get(pid, lazy=True).mergerequests.get(iid, lazy=True)
    standin.inject("POST", r"/discussions$", "late_answer", delay=1.0)
    with pytest.raises(requests.exceptions.Timeout):
        mr.discussions.create({"body": "done"}, retry_transient_errors=False)
    assert [d["notes"][0]["body"] for d in standin.discussions(pid, iid)] == ["done"]
    assert standin.wait_idle(timeout=10)


def test_an_unknown_fault_is_refused(standin: GitLabStandIn) -> None:
    with pytest.raises(ValueError, match="unknown fault"):
        standin.inject("POST", r"/notes$", "explode")
    with pytest.raises(ValueError, match="from 1"):
        standin.inject("POST", r"/notes$", "lost_answer", nth=(0,))


def test_request_log_keeps_bodies_but_not_tokens(
    standin: GitLabStandIn, gl: gitlab.Gitlab, feature: tuple[int, int]
) -> None:
    pid, iid = feature
    gl.projects.get(pid, lazy=True).mergerequests.get(iid, lazy=True).notes.create({"body": "hello"})
    last = standin.requests[-1]
    assert (last.method, last.status, last.body, last.user) == ("POST", 201, {"body": "hello"}, "review-bot")
    assert not any(
        k.lower() in ("private-token", "authorization") for r in standin.requests for k in r.headers
    )
    assert standin.server_errors == []


def test_diffs_per_page_limit_of_older_gitlab(tmp_path: Path) -> None:
    with GitLabStandIn(diffs_max_per_page=30) as standin:
        repo = GitRepo.create(tmp_path / "r", files={"a.txt": "a\n"})
        pid = standin.add_project("g/r", repo)
        repo.commit({"b.txt": "b\n"}, branch="feature")
        iid = standin.open_mr(pid, "feature")
        gl = gitlab.Gitlab(standin.url, private_token=standin.token)
        with pytest.raises(gitlab.GitlabHttpError) as caught:
            gl.http_list(f"/projects/{pid}/merge_requests/{iid}/diffs", per_page=100, get_all=True)
        assert caught.value.response_code == 500
        assert (
            len(gl.http_list(f"/projects/{pid}/merge_requests/{iid}/diffs", per_page=30, get_all=True)) == 1
        )
        gl.session.close()


# -- webhooks ------------------------------------------------------------------------------------


def test_merge_request_hook_shapes(standin: GitLabStandIn, repo: GitRepo, feature: tuple[int, int]) -> None:
    pid, iid = feature
    headers, payload = merge_request_hook(standin, pid, iid, secret="s3cret")
    assert (headers["X-Gitlab-Event"], headers["X-Gitlab-Token"], headers["Content-Type"]) == (
        "Merge Request Hook",
        "s3cret",
        "application/json",
    )
    assert headers["User-Agent"].startswith("GitLab/17.") and headers["X-Gitlab-Instance"] == standin.url
    attrs = payload["object_attributes"]
    assert (payload["object_kind"], payload["event_type"], attrs["action"], attrs["state"]) == (
        "merge_request",
        "merge_request",
        "open",
        "opened",
    )
    assert (attrs["iid"], attrs["source_branch"], attrs["last_commit"]["id"]) == (
        iid,
        "feature",
        repo.rev_parse("feature"),
    )
    assert "oldrev" not in attrs and payload["project"]["path_with_namespace"] == "group/app"

    old_head = repo.rev_parse("feature")
    repo.commit({"more.txt": "m\n"}, branch="feature")
    standin.push(pid, "feature")
    update_headers, update = merge_request_hook(
        standin, pid, iid, "update", oldrev=old_head, changes={"draft": {"previous": True, "current": False}}
    )
    assert (
        update["object_attributes"]["oldrev"] == old_head and update["changes"]["draft"]["current"] is False
    )
    assert update_headers["Idempotency-Key"] != headers["Idempotency-Key"]
    assert update_headers["X-Gitlab-Webhook-UUID"] == headers["X-Gitlab-Webhook-UUID"]  # same hook
    assert merge_request_hook(standin, pid, iid, "merge")[1]["object_attributes"]["state"] == "merged"


def test_note_hook_comes_from_a_comment_that_exists(standin: GitLabStandIn, feature: tuple[int, int]) -> None:
    pid, iid = feature
    headers, payload = note_hook(standin, pid, iid, "/ai-review please", secret=None)
    assert headers["X-Gitlab-Event"] == "Note Hook" and "X-Gitlab-Token" not in headers
    attrs = payload["object_attributes"]
    assert (attrs["note"], attrs["noteable_type"], attrs["action"]) == (
        "/ai-review please",
        "MergeRequest",
        "create",
    )
    assert attrs["author_id"] != standin.bot.id and payload["merge_request"]["iid"] == iid
    assert [n["body"] for n in standin.notes(pid, iid)] == ["/ai-review please"]
    assert attrs["discussion_id"] == standin.discussions(pid, iid)[0]["id"]


# -- the git helper ------------------------------------------------------------------------------


def test_git_repos_are_reproducible_and_diff_like_gitlab(tmp_path: Path) -> None:
    def build(where: Path) -> tuple[GitRepo, list[str]]:
        repo = GitRepo.create(where, files={"a.py": "".join(f"a{n}\n" for n in range(12)), "b.sh": "b\n"})
        shas = [repo.rename("a.py", "lib/a.py", "".join(f"a{n}\n" for n in range(11)), branch="topic")]
        shas.append(repo.chmod("b.sh", branch="topic"))
        shas.append(repo.commit({"main.txt": "m\n"}, branch="main"))
        return repo, shas

    (one, shas), (two, again) = build(tmp_path / "one"), build(tmp_path / "two")
    assert shas == again and one.branches() == two.branches()
    assert one.merge_base("main", "topic") == one.rev_parse("main~1")
    files = one.file_diffs(one.merge_base("main", "topic"), one.rev_parse("topic"))
    assert [(f["old_path"], f["new_path"], f["renamed_file"], f["b_mode"]) for f in files] == [
        ("b.sh", "b.sh", False, "100755"),  # git's order: by new path
        ("a.py", "lib/a.py", True, "100644"),
    ]
    assert files[0]["diff"] == "" and files[1]["diff"].startswith("@@ -9,4 +9,3 @@")
    assert one.read_file("topic", "lib/a.py") == "".join(f"a{n}\n" for n in range(11)).encode()
    assert one.read_file("main", "lib/a.py") is None
