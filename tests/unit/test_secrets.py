"""reviewer.review.detectors.secrets: secrets on any line and in file names, findings for added
lines, and the masker that keeps every one of them in.

Test secrets are assembled at run time so that no scanner flags this file itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reviewer.diff.parsing import DiffLine, FileDiff, FileStatus, Hunk, LineKind, parse_unified
from reviewer.diff.render import render_file
from reviewer.review.detectors import secrets
from reviewer.review.detectors.secrets import REDACTED, Masker, masked_preview, scan
from reviewer.review.findings import Severity, Side

AWS_KEY = "AKIA" + "IOSFODNN7" + "EXAMPLE"  # AWS's documentation example
GITHUB_TOKEN = "ghp_" + "x7Kp2QmZ9vR4tL8wN3bY6cH1dF5gJ0sA" + "e2Wq"
HEX_32 = "2b00042f7481c7b056c4b410d28f33cf"  # the sample diff's
PRIVATE_KEY_HEADER = "-----BEGIN RSA " + "PRIVATE KEY-----"
PASSWORD_LINE = 'db_password = "' + "Tr0ub4dor&3-horse" + '"'


def added_file(path: str, *texts: str, start: int = 1) -> FileDiff:
    lines = tuple(DiffLine(LineKind.ADDED, None, start + i, text) for i, text in enumerate(texts))
    return FileDiff(path, path, FileStatus.MODIFIED, (Hunk(start, 0, start, len(lines), lines),))


@pytest.fixture
def sample(corpus: Path) -> list[FileDiff]:
    return parse_unified((corpus / "secrets" / "detect-secrets-sample.diff").read_text())


def test_the_sample_diffs_secrets_are_found_in_its_three_files_on_their_lines(sample: list[FileDiff]) -> None:
    result = scan(sample)

    assert [(f.path, f.line) for f in result.findings] == [
        (".secrets.baseline", 13),
        ("detect_secrets/core/baseline.py", 92),
        ("tests/core/secrets_collection_test.py", 83),
    ]
    for finding in result.findings:
        assert (finding.aspect, finding.severity, finding.side, finding.source) == (
            "security",
            Severity.CRITICAL,
            Side.NEW,
            "secrets",
        )


def test_a_short_hex_literal_is_not_reported(sample: list[FileDiff]) -> None:
    """detect-secrets' own test counts "012345678a" (line 82 of baseline.py) too; ten hex
    characters are below this detector's 16-character floor for hex strings."""
    assert ("detect_secrets/core/baseline.py", 82) not in {(f.path, f.line) for f in scan(sample).findings}


def test_the_sample_diffs_secrets_are_masked_in_the_rendering(sample: list[FileDiff]) -> None:
    result = scan(sample)
    text = "".join(render_file(file, masker=result.masker) for file in sample)

    assert HEX_32 not in text
    assert "a2480a72004fc40d124495fd59f5b482034fbadd" not in text
    assert text.count(REDACTED) == 3


def test_findings_never_contain_the_secret() -> None:
    lines = (f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"', f'TOKEN = "{GITHUB_TOKEN}"')
    files = [added_file("deploy/settings.py", *lines)]

    findings = scan(files).findings

    assert [f.title for f in findings] == ["AWS Access Key committed", "GitHub Token committed"]
    for finding, secret in zip(findings, (AWS_KEY, GITHUB_TOKEN), strict=True):
        text = f"{finding.title} {finding.body} {finding.suggestion}"
        assert secret not in text
        assert secret[4:-4] not in text
        assert masked_preview(secret) in finding.body
        assert "rotate" in finding.body


def test_the_keyword_rule_and_private_keys_are_reported() -> None:
    files = [added_file("config/db.py", PASSWORD_LINE), added_file("keys/id_rsa", PRIVATE_KEY_HEADER)]

    titles = {(f.path, f.title) for f in scan(files).findings}

    assert titles == {
        ("config/db.py", "Hard-coded password or secret committed"),
        ("keys/id_rsa", "Private Key committed"),
    }


def test_a_private_key_is_masked_down_to_its_end_line() -> None:
    body = ["MIIEowIBAAKCAQEA" + "q7Zr" * 12, "xY3wP0" + "Lm9N" * 14, "Qk=="]
    end = "-----END RSA " + "PRIVATE KEY-----"
    texts = ['KEY = """', PRIVATE_KEY_HEADER, *body, end, '"""', "user = 'me'"]

    result = scan([added_file("deploy/key.py", *texts)])
    masked = "\n".join(map(result.masker, texts))

    assert [(f.line, f.title) for f in result.findings] == [(2, "Private Key committed")]
    assert all(line not in masked for line in body)
    assert "user = 'me'" in masked


def test_secrets_on_removed_and_unchanged_lines_are_masked_but_not_reported() -> None:
    lines = (
        DiffLine(LineKind.REMOVED, 1, None, f'KEY = "{AWS_KEY}"'),
        DiffLine(LineKind.CONTEXT, 2, 1, f'OTHER = "{GITHUB_TOKEN}"'),
        DiffLine(LineKind.ADDED, None, 2, "KEY = os.environ['KEY']"),
    )
    file = FileDiff("app.py", "app.py", FileStatus.MODIFIED, (Hunk(1, 2, 1, 2, lines),))

    result = scan([file])

    assert result.findings == ()  # the MR adds no secret: removing one is not a finding
    rendered = render_file(file, masker=result.masker)
    assert AWS_KEY not in rendered and GITHUB_TOKEN not in rendered
    assert rendered.count(REDACTED) == 2


def test_a_removed_private_key_is_masked_whole() -> None:
    body = "MIIEowIBAAKCAQEAx7Kp2QmZ9vR4tL8wN3bY6cH1dF5gJ0sAe2Wq"
    texts = [PRIVATE_KEY_HEADER, body, "-----END RSA PRIVATE KEY-----"]
    lines = tuple(DiffLine(LineKind.REMOVED, 1 + i, None, text) for i, text in enumerate(texts))
    file = FileDiff("id_rsa", "id_rsa", FileStatus.DELETED, (Hunk(1, 3, 0, 0, lines),))

    result = scan([file])

    assert result.findings == ()
    assert texts[1] not in render_file(file, masker=result.masker)


def test_a_secret_in_a_file_name_is_masked() -> None:
    name = f"keys/{AWS_KEY}.txt"
    file = added_file(name, "harmless = 1")

    result = scan([file])

    assert AWS_KEY not in result.masker(name) and REDACTED in result.masker(name)
    assert AWS_KEY not in render_file(file, masker=result.masker)
    assert AWS_KEY not in result.masker(f"see {AWS_KEY} here")  # the key alone, wherever it shows


def test_a_line_with_several_secrets_gets_one_finding_and_all_are_masked() -> None:
    line = f'pair = ("{AWS_KEY}", "{GITHUB_TOKEN}")'

    result = scan([added_file("creds.py", line)])

    assert len(result.findings) == 1
    assert "1 more string on this line" in result.findings[0].body
    assert result.masker(line) == f'pair = ("{REDACTED}", "{REDACTED}")'


def test_a_line_allowlisted_with_the_detect_secrets_pragma_is_not_reported() -> None:
    line = f'CHECKSUM = "{HEX_32}"  # pragma: allowlist secret'

    assert scan([added_file("checksums.py", line)]).findings == ()


def test_entropy_findings_say_how_to_allowlist_a_hash() -> None:
    (finding,) = scan([added_file("fixtures.py", f'digest = "{HEX_32}"')]).findings

    assert finding.title == "Possible secret committed (hex high entropy)"
    assert "pragma: allowlist secret" in finding.body
    assert finding.confidence < 1.0


def test_public_ip_addresses_are_not_secrets() -> None:
    assert scan([added_file("hosts.py", 'DNS = "8.8.8.8"')]).findings == ()


def test_lock_files_are_left_to_detect_secrets_filename_filters() -> None:
    line = f'"integrity": "{HEX_32}{HEX_32}"'

    assert scan([added_file("package-lock.json", line)]).findings == ()


@pytest.mark.parametrize(
    "line",
    [
        f'AWS_ACCESS_KEY_ID = "{AWS_KEY}"',
        f"token: {GITHUB_TOKEN}",
        PASSWORD_LINE,
        PRIVATE_KEY_HEADER,
        f'x = "{HEX_32}"',
        'url = "https://admin:' + "s3cr3tPa55" + '@db.internal:5432/app"',
        "jwt = 'eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0" + ".c2lnbmF0dXJlLXNpZ25hdHVyZQ'",
        'blob = "' + "Zm9vYmFyYmF6cXV4cXV1eA7x9K2mPq8Lw3Rt5Vn" + '"',
        "def handler(request):  # nothing here",
        "",
    ],
)
def test_the_prescreen_finds_what_scanning_every_line_finds(line: str) -> None:
    files = [added_file("src/module.py", "import os", line, "x = 1", start=10)]

    screened, every_line = secrets._scan(files, prescreen=True), secrets._scan(files, prescreen=False)

    assert screened.findings == every_line.findings
    assert screened.masker(line) == every_line.masker(line)


def test_masker_replaces_long_secrets_anywhere_and_short_ones_as_whole_words() -> None:
    masker = Masker([HEX_32, "hunter2"])

    assert masker(f"x{HEX_32}y") == f"x{REDACTED}y"
    assert masker("pw=hunter2;") == f"pw={REDACTED};"
    assert masker("hunter2hunter2") == "hunter2hunter2"


def test_a_masker_without_secrets_changes_nothing_and_never_shows_its_secrets() -> None:
    assert Masker()("anything") == "anything"
    assert HEX_32 not in repr(Masker([HEX_32]))


@pytest.mark.parametrize(
    ("secret", "preview"),
    [(AWS_KEY, "AK…LE"), (HEX_32, "2b0…3cf"), ("short", "…"), ("x" * 80, "xxxx…xxxx")],
)
def test_the_preview_shows_at_most_a_fifth_of_a_secret(secret: str, preview: str) -> None:
    assert masked_preview(secret) == preview
    assert len(preview) - 1 <= len(secret) / 5
