from __future__ import annotations

from reviewer.review.findings import Severity
from reviewer.review.prompts import TeamPolicy
from reviewer.review.verdict import Override, Standing, Verdict, judge

BLOCKS = TeamPolicy().blocks  # critical and high security findings


def test_a_critical_or_high_security_finding_requests_changes() -> None:
    stand = [Standing("a" * 16, "security", Severity.HIGH, 7), Standing("b" * 16, "style", Severity.CRITICAL)]
    verdicts = judge(stand, BLOCKS, complete=True)
    assert verdicts.verdict is Verdict.CHANGES_REQUESTED and verdicts.open == 2
    assert [b.fingerprint for b in verdicts.blocking] == ["a" * 16]
    assert verdicts.reviewer_state == "requested_changes" and not verdicts.approvable


def test_findings_that_do_not_block_are_comments_and_none_looks_good() -> None:
    style = judge([Standing("b" * 16, "style", Severity.CRITICAL)], BLOCKS, complete=True)
    assert (style.verdict, style.reviewer_state, style.approvable) == (Verdict.COMMENTS, "reviewed", False)
    medium = judge([Standing("c" * 16, "security", Severity.MEDIUM)], BLOCKS, complete=True)
    assert medium.verdict is Verdict.COMMENTS
    clean = judge([], BLOCKS, complete=True)
    assert (clean.verdict, clean.reviewer_state, clean.approvable) == (Verdict.LOOKS_GOOD, "reviewed", True)
    assert not judge([], BLOCKS, complete=False).approvable  # some files could not be reviewed


def test_one_finding_counts_once_whatever_lists_it() -> None:
    same = [Standing("a" * 16, "security", Severity.HIGH, 3), Standing("a" * 16, "security", Severity.HIGH)]
    assert judge(same, BLOCKS, complete=True).open == 1


def test_a_team_decides_what_blocks() -> None:
    strict = TeamPolicy(blocking={"style": frozenset({Severity.HIGH})}).blocks
    assert (
        judge([Standing("b" * 16, "style", Severity.HIGH)], strict, complete=True).verdict
        is Verdict.CHANGES_REQUESTED
    )
    lenient = TeamPolicy(blocking={}).blocks
    assert (
        judge([Standing("a" * 16, "security", Severity.CRITICAL)], lenient, complete=True).verdict
        is Verdict.COMMENTS
    )


def test_an_override_lifts_the_block_but_never_allows_approval() -> None:
    stand = [Standing("a" * 16, "security", Severity.CRITICAL)]
    label = Override("alice", "ai-review::override", "label")
    verdicts = judge(stand, BLOCKS, complete=True, overrides=[label])
    assert verdicts.verdict is Verdict.CHANGES_REQUESTED and verdicts.override == label
    assert verdicts.reviewer_state == "reviewed" and not verdicts.approvable


def test_a_command_override_covers_the_findings_it_was_given_for() -> None:
    given = Override("alice", "hotfix", "command", ("a" * 16,))
    assert judge(
        [Standing("a" * 16, "security", Severity.HIGH)], BLOCKS, complete=True, overrides=[given]
    ).overridden
    later = [Standing("a" * 16, "security", Severity.HIGH), Standing("c" * 16, "security", Severity.HIGH)]
    assert not judge(later, BLOCKS, complete=True, overrides=[given]).overridden
    assert Override.from_record(given.as_record()) == given
