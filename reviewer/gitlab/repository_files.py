"""A repository's files as one commit has them, read through the client for a review: the head's
(enclosing context, the second look) and the target branch's (the instructions the repository
already writes: GitLab Duo's file, ``AGENTS.md``). A file GitLab refuses counts as absent and the
review goes on."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from reviewer.diff.parsing import FileDiff
from reviewer.errors import GitLabError
from reviewer.gitlab.client import GitLabClient, MergeRequestInfo
from reviewer.review.files import FileReader
from reviewer.review.instructions import Instruction, read_instructions

log = logging.getLogger(__name__)


def file_reader(gitlab: GitLabClient, info: MergeRequestInfo, ref: str) -> FileReader:
    """Files as ``ref`` has them: path -> text, or None when absent or refused."""

    def read(path: str) -> str | None:
        try:
            return gitlab.read_file(info.project_id, path, ref)
        except GitLabError as exc:
            log.info("cannot read %s of %s at %s: %s", path, info.project_path, ref[:12], exc)
            return None

    return read


def repository_instructions(
    gitlab: GitLabClient, info: MergeRequestInfo, target_sha: str, files: Sequence[FileDiff]
) -> tuple[Instruction, ...]:
    """The instructions the repository already writes for these files, as the target branch
    (``target_sha``) has them: an MR cannot rewrite the rules of its own review."""
    found = read_instructions(file_reader(gitlab, info, target_sha), [f.path for f in files])
    for note in found.notes:
        log.warning("%s: %s", info.project_path, note)
    return found.items
