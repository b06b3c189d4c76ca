"""reviewer.review.planning: what is reviewed, the tier, and chunks under the token budget."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewer.diff.parsing import DiffLine, FileDiff, FileStatus, Hunk, LineKind
from reviewer.review.detectors.secrets import Masker
from reviewer.review.planning import NOISE_GLOBS, Plan, PlanConfig, Tier, plan_review
from reviewer.review.tokens import EstimatedCounter

A, R, C = LineKind.ADDED, LineKind.REMOVED, LineKind.CONTEXT
COUNTER = EstimatedCounter()


def hunk(kinds: str, *, start: int = 1, text: str = "value = compute(item) + 1", section: str = "") -> Hunk:
    """A hunk from a string of kinds: ``+`` added, ``-`` removed, `` `` unchanged."""
    lines, old, new = [], start, start
    for n, mark in enumerate(kinds):
        kind = {"+": A, "-": R, " ": C}[mark]
        old_no, new_no = (old if kind is not A else None), (new if kind is not R else None)
        lines.append(DiffLine(kind, old_no, new_no, f"{text} {n}"))
        old += kind is not A
        new += kind is not R
    return Hunk(start, old - start, start, new - start, tuple(lines), section)


def changed(path: str, *hunks: Hunk, status: FileStatus = FileStatus.MODIFIED) -> FileDiff:
    return FileDiff(path, path, status, hunks)


def small(path: str) -> FileDiff:
    return changed(path, hunk("   +-   "))


def plan(files: list[FileDiff], **config: object) -> Plan:
    return plan_review(files, PlanConfig(**config), COUNTER)  # type: ignore[arg-type]


def changed_lines_of(files: list[FileDiff] | tuple[FileDiff, ...]) -> Counter[tuple[str, str, int | None]]:
    return Counter(
        (f.path, ln.kind.value, ln.old_no if ln.kind is R else ln.new_no)
        for f in files
        for h in f.hunks
        for ln in h.lines
        if ln.kind is not C
    )


def assert_every_changed_line_once(files: list[FileDiff], result: Plan) -> None:
    skipped = {s.path for s in result.skipped}
    expected = changed_lines_of([f for f in files if f.path not in skipped])
    in_chunks = changed_lines_of([f for chunk in result.chunks for f in chunk.files])
    assert in_chunks == expected
    rendered = Counter(
        line.split(" ", 2)[0] + line.split(" ", 2)[1]
        for chunk in result.chunks
        for line in chunk.text.splitlines()
        if line[:1].isdigit() and line.split(" ", 2)[1:2] in (["+"], ["-"])
    )
    assert sum(rendered.values()) == sum(expected.values())


def assert_every_file_accounted_for(files: list[FileDiff], result: Plan) -> None:
    in_chunks = {f.path for chunk in result.chunks for f in chunk.files}
    skipped = [s.path for s in result.skipped]
    assert len(skipped) == len(set(skipped))
    assert not in_chunks & set(skipped)
    assert in_chunks | set(skipped) == {f.path for f in files}
    assert result.reviewed_files == len(in_chunks)


# -- noise and what cannot be reviewed ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("package-lock.json", "lock file (package-lock.json)"),
        ("services/api/poetry.lock", "lock file (poetry.lock)"),
        ("go.sum", "lock file (go.sum)"),
        ("static/js/app.min.js", "minified (*.min.js)"),
        ("static/js/app.js.map", "source map (*.js.map)"),
        ("proto/user_pb2.py", "generated (*_pb2.py)"),
        ("api/v1/user.pb.go", "generated (*.pb.go)"),
        ("src/Client.generated.cs", "generated (*.generated.*)"),
        ("vendor/github.com/x/y.go", "vendored (vendor/)"),
        ("web/node_modules/left-pad/index.js", "vendored (node_modules/)"),
        ("libs/third_party/zlib/inflate.c", "vendored (third_party/)"),
        ("tests/__snapshots__/view.test.js.snap", "snapshot (*.snap)"),  # a file glob outranks a folder's
        ("tests/__snapshots__/view.txt", "snapshot (__snapshots__/)"),
        ("Web/Vendor/JQuery.MIN.JS", "minified (*.min.js)"),  # case does not matter
    ],
)
def test_noise_files_are_skipped_with_the_reason(path: str, reason: str) -> None:
    result = plan([small(path), small("app/main.py")])

    assert [(s.path, s.reason) for s in result.skipped] == [(path, reason)]
    assert [c.paths for c in result.chunks] == [("app/main.py",)]


def test_database_migrations_are_kept_even_when_a_noise_glob_matches() -> None:
    files = [small("app/migrations/0002_auto.py"), small("db/migrate/20240101_add_index.rb")]

    result = plan(files, noise_globs=(*NOISE_GLOBS, "*_auto.py", "*.rb"))

    assert result.skipped == ()
    assert result.reviewed_files == 2


def test_configured_noise_globs_say_they_come_from_configuration() -> None:
    result = plan([small("docs/guide/intro.md")], noise_globs=(*NOISE_GLOBS, "docs/**"))

    assert [s.reason for s in result.skipped] == ["ignored by configuration (docs/**)"]


@pytest.mark.parametrize(
    ("path", "skipped"),
    [
        ("docs/guide/intro.md", True),
        ("docs/api.md", False),  # taken back by the later !docs/api.md
        ("src/docs/intro.md", False),  # docs/** has a / before its end: anchored at the root
        ("src/generated/client.py", True),  # **/generated/ at any depth
        ("generated/client.py", True),
    ],
)
def test_configured_globs_follow_gitignore_rules(path: str, skipped: bool) -> None:
    globs = (*NOISE_GLOBS, "docs/**", "!docs/api.md", "**/generated/")

    result = plan([small(path)], noise_globs=globs)

    assert bool(result.skipped) is skipped


def test_migrations_are_kept_at_any_depth() -> None:
    files = [small("services/billing/alembic/versions/0001_init.py")]

    assert plan(files, noise_globs=("*.py",)).skipped == ()


def test_files_gitlab_marks_generated_are_skipped_unless_kept() -> None:
    files = [replace(small(path), generated=True) for path in ("src/schema.ts", "migrations/0003.py")]

    result = plan(files)

    assert [(s.path, s.reason) for s in result.skipped] == [
        ("src/schema.ts", "generated (GitLab marks it so)")
    ]


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        (FileDiff("logo.png", "logo.png", FileStatus.MODIFIED, is_binary=True), "binary file"),
        (
            FileDiff("big.sql", "big.sql", FileStatus.MODIFIED, too_large=True),
            "too large: GitLab sent no text for it",
        ),
        (replace(small("gone.py"), status=FileStatus.DELETED), "deleted"),
        (FileDiff("run.sh", "run.sh", FileStatus.MODIFIED, mode_changed=True), "mode change only"),
        (FileDiff("a/old.py", "a/new.py", FileStatus.RENAMED), "renamed without changes"),
        (FileDiff("empty.txt", "empty.txt", FileStatus.ADDED), "no changed lines"),
        (replace(small("odd.py"), not_reviewed="diff could not be parsed: x"), "diff could not be parsed: x"),
    ],
)
def test_files_that_cannot_be_reviewed_are_listed_with_the_reason(file: FileDiff, reason: str) -> None:
    result = plan([file])

    assert [(s.path, s.reason) for s in result.skipped] == [(file.path, reason)]
    assert result.chunks == ()


def test_deleted_files_can_be_reviewed_when_configured() -> None:
    result = plan([replace(small("gone.py"), status=FileStatus.DELETED)], review_deleted=True)

    assert result.skipped == ()
    assert result.chunks[0].text.startswith("## gone.py (deleted)\n")


# -- tiers -------------------------------------------------------------------------------------


def test_a_handful_of_lines_in_two_files_is_trivial() -> None:
    result = plan([changed("a.py", hunk("+++++")), changed("b.py", hunk("--+++"))])

    assert (result.tier, result.tier_reason) == (Tier.TRIVIAL, "10 changed lines in 2 files")


def test_a_few_lines_in_three_files_are_lite() -> None:
    result = plan([changed(f"{n}.py", hunk("+")) for n in "abc"])

    assert result.tier is Tier.LITE


def test_more_than_150_lines_are_full() -> None:
    result = plan([changed("a.py", hunk("+" * 151))])

    assert (result.tier, result.tier_reason) == (Tier.FULL, "151 changed lines in 1 file, over 150")


def test_thresholds_are_configurable() -> None:
    assert plan([changed("a.py", hunk("+" * 30))], trivial_max_lines=40).tier is Tier.TRIVIAL


@pytest.mark.parametrize(
    ("path", "why"),
    [
        ("app/auth/views.py", "auth"),
        ("src/OAuthController.java", "oauth"),
        ("infra/iam/role.tf", "iam"),
        ("src/IamPolicy.java", "iam"),
        ("lib/encryption_utils.py", "crypt"),
        ("api/session_store.go", "session"),
        ("certs/server.pem", "*.pem"),
        ("Dockerfile", "Dockerfile"),
        (".gitlab-ci.yml", ".gitlab-ci.yml"),
        (".github/workflows/release.yml", ".github/workflows/"),
    ],
)
def test_a_security_sensitive_path_makes_the_review_full_and_says_why(path: str, why: str) -> None:
    result = plan([changed(path, hunk("+"))])

    assert result.tier is Tier.FULL
    assert result.tier_reason == f"security-sensitive: {path} ({why})"


@pytest.mark.parametrize("path", ["src/diamond.py", "lib/miracle.js", "docs/spacing.md"])
def test_short_words_only_count_where_a_path_word_starts(path: str) -> None:
    assert plan([changed(path, hunk("+"))]).tier is Tier.TRIVIAL


def test_sensitive_globs_are_configurable() -> None:
    result = plan([changed("billing/ledger.py", hunk("+"))], sensitive_globs=("billing/**",))

    assert result.tier_reason == "security-sensitive: billing/ledger.py (billing/**)"


def test_skipped_files_do_not_raise_the_tier() -> None:
    assert plan([small("vendor/auth/login.go"), changed("a.py", hunk("+"))]).tier is Tier.TRIVIAL


def test_nothing_to_review_is_trivial() -> None:
    result = plan([small("yarn.lock")])

    assert (result.tier, result.tier_reason, result.chunks) == (Tier.TRIVIAL, "nothing to review", ())


# -- chunks ------------------------------------------------------------------------------------


def test_small_files_share_one_chunk_in_their_order() -> None:
    files = [small(f"src/m{n}.py") for n in range(5)]

    result = plan(files)

    assert [c.paths for c in result.chunks] == [tuple(f.path for f in files)]
    assert result.chunks[0].files == tuple(files)


def test_chunks_stay_under_the_budget_and_their_count_is_the_sum_of_their_parts() -> None:
    files = [changed(f"src/m{n}.py", hunk(" ++-- " * 3)) for n in range(40)]

    result = plan(files, chunk_tokens=400)

    assert len(result.chunks) > 1
    for chunk in result.chunks:
        assert chunk.tokens <= 400
        assert COUNTER.count(chunk.text) <= chunk.tokens
    assert_every_changed_line_once(files, result)


def test_a_file_over_the_budget_is_split_between_hunks_with_its_header_repeated() -> None:
    big = changed("src/big.py", *(hunk("  ++--  ", start=100 * n + 1) for n in range(12)))

    result = plan([big], chunk_tokens=300)

    assert len(result.chunks) > 1
    for chunk in result.chunks:
        assert chunk.text.startswith("## src/big.py\n")
        assert chunk.paths == ("src/big.py",)
        assert chunk.tokens <= 300
    assert sum(len(c.files[0].hunks) for c in result.chunks) == 12
    assert_every_changed_line_once([big], result)


def test_a_hunk_over_the_budget_is_split_between_lines_with_a_note() -> None:
    new_file = changed("src/generated_by_hand.py", hunk("+" * 400), status=FileStatus.ADDED)

    result = plan([new_file], chunk_tokens=500)

    assert len(result.chunks) > 1
    assert all(c.tokens <= 500 for c in result.chunks)
    assert any("split into" in note and "between lines" in note for note in result.notes)
    assert_every_changed_line_once([new_file], result)


def test_a_single_line_over_the_budget_is_sent_whole_with_a_note() -> None:
    huge = changed("data.py", hunk(" + ", text="x = '" + "ab " * 400 + "'"))

    result = plan([huge], chunk_tokens=200)

    assert_every_changed_line_once([huge], result)
    assert any("line 2 alone is over the budget" in note for note in result.notes)


def test_a_split_prefers_to_keep_a_removed_line_with_its_replacement() -> None:
    file = changed("a.py", hunk("  -+  " * 30))

    result = plan([file], chunk_tokens=250)

    for chunk in result.chunks:
        kinds = [ln.kind for h in chunk.files[0].hunks for ln in h.lines if ln.kind is not C]
        assert kinds.count(A) == kinds.count(R)


def test_secrets_are_masked_in_every_chunk() -> None:
    secret = "9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c"
    file = changed("conf.py", Hunk(1, 0, 1, 1, (DiffLine(A, None, 1, f'KEY = "{secret}"'),)))

    result = plan_review([file], PlanConfig(), COUNTER, masker=Masker([secret]))

    assert secret not in result.chunks[0].text
    assert "[REDACTED]" in result.chunks[0].text


def test_changed_lines_and_files_count_only_what_is_reviewed() -> None:
    result = plan([changed("a.py", hunk(" ++- ")), small("yarn.lock")])

    assert (result.changed_lines, result.reviewed_files) == (3, 1)


def test_a_2000_file_merge_request_puts_every_changed_line_in_exactly_one_chunk() -> None:
    rng = random.Random(2000)
    files = [_random_file(rng, n) for n in range(2000)]

    result = plan(files)

    assert_every_file_accounted_for(files, result)
    assert_every_changed_line_once(files, result)
    assert all(c.tokens <= 6000 for c in result.chunks)
    print(f"token counter: {COUNTER.name}; {len(result.chunks)} chunks, {result.changed_lines} changed lines")


def _random_file(rng: random.Random, n: int) -> FileDiff:
    roll = rng.random()
    path = f"src/pkg{n % 37}/module_{n}.py"
    if roll < 0.03:
        return small(f"web/app{n}/package-lock.json")
    if roll < 0.05:
        return changed(path, hunk("-" * 30), status=FileStatus.DELETED)
    if roll < 0.06:
        return FileDiff(path, path, FileStatus.MODIFIED, too_large=True)
    if roll < 0.09:
        return changed(path, hunk("+" * rng.choice((20, 150, 900))), status=FileStatus.ADDED)
    count = rng.choice((1, 1, 2, 3, 6))
    shapes = ["".join(rng.choice("+-  ") for _ in range(rng.randint(1, 25))) for _ in range(count)]
    hunks = [hunk(f"   {shape}+   ", start=80 * i + 1) for i, shape in enumerate(shapes)]
    return changed(path, *hunks)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.lists(st.text(alphabet="+- ", min_size=1, max_size=40), min_size=1, max_size=4), max_size=6),
    st.integers(min_value=60, max_value=2000),
    st.integers(min_value=0, max_value=5),
)
def test_any_diff_puts_every_changed_line_in_exactly_one_chunk(
    shapes: list[list[str]], budget: int, context: int
) -> None:
    files = [
        changed(f"f{i}.py", *(hunk(kinds, start=100 * j + 1) for j, kinds in enumerate(shape)))
        for i, shape in enumerate(shapes)
    ]

    result = plan(files, chunk_tokens=budget, context=context)

    assert_every_file_accounted_for(files, result)
    assert_every_changed_line_once(files, result)


def test_chunks_over_the_cost_guard_are_listed_as_not_reviewed() -> None:
    files = [changed(f"src/m{i}.py", hunk("+" * 40)) for i in range(5)]
    result = plan(files, chunk_tokens=500, max_chunks=2)
    assert len(result.chunks) == 2
    kept = {path for chunk in result.chunks for path in chunk.paths}
    listed = {s.path: s.reason for s in result.skipped}
    assert kept.isdisjoint(listed) or all(
        r.startswith("partly reviewed") for p, r in listed.items() if p in kept
    )
    assert kept | set(listed) == {f.path for f in files}
    assert any("size limit of 2 model calls" in reason for reason in listed.values())
    assert result.reviewed_files == len(kept)


def test_a_file_cut_by_the_cost_guard_is_partly_reviewed() -> None:
    big = changed("src/big.py", *(hunk("+" * 30, start=1 + 100 * i) for i in range(6)))
    result = plan([big], chunk_tokens=400, max_chunks=1)
    assert len(result.chunks) == 1
    (skipped,) = result.skipped
    assert skipped.path == "src/big.py" and skipped.reason.startswith("partly reviewed")
    assert 0 < result.changed_lines < 180


def test_a_large_merge_request_gets_two_lines_of_context_instead_of_three() -> None:
    def file(path: str, added: int) -> FileDiff:
        return changed(path, hunk("    " + "+" * added + "    ", start=10))

    small_plan = plan([file("src/a.py", 5)])
    large_plan = plan([file("src/a.py", 5), file("src/b.py", 160)])
    unchanged = "   value = compute(item) + 1"
    assert small_plan.chunks[0].text.count(unchanged) == 6  # 3 before and 3 after
    a_part = large_plan.chunks[0].text.split("## src/b.py")[0]
    assert a_part.count(unchanged) == 4  # 2 before and 2 after
