"""What a submitted review says: the verdict that opens the summary and the bot's reviewer state,
each finding linked to its thread, the settings a repository got wrong, and a per-file table."""

from __future__ import annotations

import re

from harness import Scene, finding, io_with, open_mr


def web_url(scene: Scene) -> str:
    return str(scene.gitlab.mr(scene.pid, scene.iid)["web_url"])


def test_a_blocking_finding_requests_changes_and_links_its_thread(scene: Scene) -> None:
    open_mr(scene, {"app/io.py": io_with(l5="eval(user_input)", l15="x = 1 if y else  2")})
    scene.gitlab.add_reviewer(scene.pid, scene.iid, scene.gitlab.bot.id)
    scene.says = {
        "app/io.py": [
            finding("app/io.py", 5, "eval on user input", severity="critical"),
            finding("app/io.py", 15, "Odd spacing", severity="low", aspect="style"),
        ]
    }
    outcome = scene.review()
    assert outcome.verdict == "changes requested"
    line = scene.verdict_line()
    assert line.startswith("⛔ **Verdict: changes requested.** 1 blocking finding (1 critical security)")
    eval_thread = next(d for d in scene.bot_threads() if "eval on user input" in d["notes"][0]["body"])
    link = f"[thread]({web_url(scene)}#note_{eval_thread['notes'][0]['id']})"
    assert link in line
    summary = scene.summary()
    assert summary.index("**Verdict") < summary.index("new findings")  # the verdict opens it
    listed = [ln for ln in summary.splitlines() if ln.startswith("- **")]
    assert len(listed) == 2 and all(
        re.search(r"\(\[thread\]\(http://[^)]+#note_\d+\)\)$", ln) for ln in listed
    )
    assert scene.gitlab.reviewer_states(scene.pid, scene.iid) == {scene.gitlab.bot.id: "requested_changes"}


def test_style_findings_are_comments_and_a_clean_merge_request_looks_good(scene: Scene) -> None:
    open_mr(scene, {"app/io.py": io_with(l15="x = 1 if y else  2")})
    scene.gitlab.add_reviewer(scene.pid, scene.iid, scene.gitlab.bot.id)
    scene.says = {"app/io.py": [finding("app/io.py", 15, "Odd spacing", severity="high", aspect="style")]}
    assert scene.review().verdict == "comments"
    assert scene.verdict_line() == "💬 **Verdict: comments.** 1 open finding, none blocking."
    assert scene.gitlab.reviewer_states(scene.pid, scene.iid) == {scene.gitlab.bot.id: "reviewed"}

    scene.says = {}
    scene.push({"app/io.py": io_with(l15="x = compute(y)")})  # fixed: its thread is resolved
    assert scene.review("pushed").verdict == "looks good"
    assert scene.verdict_line() == "✅ **Verdict: looks good.** No open findings."
    assert all(d["notes"][0]["resolved"] for d in scene.bot_threads())


def test_a_push_that_fixes_the_blocking_finding_clears_the_verdict(scene: Scene) -> None:
    open_mr(scene, {"app/io.py": io_with(l5="eval(user_input)")})
    scene.gitlab.add_reviewer(scene.pid, scene.iid, scene.gitlab.bot.id)
    scene.says = {"app/io.py": [finding("app/io.py", 5, "eval on user input")]}
    assert scene.review().verdict == "changes requested"
    scene.says = {}
    scene.push({"app/io.py": io_with(l5="int(user_input)", l20="value_20 = 'twenty'")})
    assert scene.review("pushed").verdict == "looks good"
    assert scene.gitlab.reviewer_states(scene.pid, scene.iid) == {scene.gitlab.bot.id: "reviewed"}
    # a push that changes nothing else keeps the thread it left open in the verdict
    scene.says = {"app/io.py": [finding("app/io.py", 25, "Shell command", severity="critical")]}
    scene.push({"app/io.py": io_with(l5="int(user_input)", l20="value_20 = 'twenty'", l25="os.system(c)")})
    assert scene.review("pushed").verdict == "changes requested"
    scene.says = {}
    scene.push(
        {"app/io.py": io_with(l5="int(user_input)", l20="value_20 = 'twenty'", l25="os.system(c)", l2="x")}
    )
    assert scene.review("pushed").verdict == "changes requested"  # the open thread still blocks


def test_what_blocks_is_the_teams_choice(scene: Scene) -> None:
    scene.team(blocking={"security": [], "style": ["high"]})
    open_mr(scene, {"app/io.py": io_with(l5="eval(user_input)", l15="x = 1 if y else  2")})
    scene.says = {
        "app/io.py": [
            finding("app/io.py", 5, "eval on user input", severity="critical"),
            finding("app/io.py", 15, "Odd spacing", severity="high", aspect="style"),
        ]
    }
    scene.review()
    assert "1 blocking finding (1 high style)" in scene.verdict_line()


def test_a_repository_config_with_an_unknown_key_names_it_and_the_review_completes(scene: Scene) -> None:
    scene.repo.commit(
        {".ai-review.yaml": "colour: blue\nmin_severity: urgent\nmax_comments: 1\n"}, message="cfg"
    )
    open_mr(scene, {"app/io.py": io_with(l5="eval(user_input)", l15="os.system(c)")})
    scene.says = {
        "app/io.py": [
            finding("app/io.py", 5, "eval on user input"),
            finding("app/io.py", 15, "Shell command"),
        ]
    }
    outcome = scene.review()
    assert outcome.status == "reviewed" and outcome.inline == 1  # max_comments: 1 applied
    summary = scene.summary()
    assert "**Settings not applied**" in summary
    assert "- `.ai-review.yaml`: `colour`: unknown key, ignored" in summary
    assert "- `.ai-review.yaml`: `min_severity`: 'urgent' is not a severity" in summary


def test_a_merge_request_of_several_files_gets_a_per_file_table(scene: Scene) -> None:
    files = {f"app/m{n}.py": f"value = {n}\n" for n in range(3)}
    open_mr(scene, {**files, "app/io.py": io_with(l5="eval(user_input)"), "README.md": None})
    scene.says = {"app/io.py": [finding("app/io.py", 5, "eval on user input")]}
    scene.review()
    summary = scene.summary()
    table = summary[
        summary.index("<details><summary>Files: 5</summary>") : summary.index(
            "</details>", summary.index("Files: 5")
        )
    ]
    assert "| File | Change | Lines | Findings |" in table
    assert "| `app/io.py` | modified | +1 -1 | 1 |" in table
    assert "| `README.md` | deleted | +0 -1 | 0 |" in table and "| `app/m0.py` | added | +1 -0 | 0 |" in table


def test_a_small_merge_request_has_no_table(scene: Scene) -> None:
    open_mr(scene, {"app/io.py": io_with(l5="eval(user_input)")})
    scene.review()
    assert "<summary>Files" not in scene.summary()
