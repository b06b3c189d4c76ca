"""The merge request's diff versions (GitLab's ``/versions`` and ``/versions/:id``): each push
makes one, and its ``diffs`` are the MR's own changes as they stood at that head (from the merge
base, so a rebase that changes nothing of the MR shows the same patches)."""

from __future__ import annotations

import logging

from reviewer.diff.parsing import DiffParseError, FileDiff, parse_gitlab_diffs
from reviewer.errors import GitLabError
from reviewer.gitlab.client import GitLabClient

log = logging.getLogger(__name__)


def version_files(gitlab: GitLabClient, project: int | str, iid: int, head_sha: str) -> list[FileDiff] | None:
    """The MR's files as its newest version whose head is ``head_sha`` shows them; None when no
    version has that head any more, or the versions cannot be read (then the caller does without)."""
    mr = gitlab.mr_resource(project, iid)
    try:
        version = next(
            (
                v
                for v in gitlab.iterate(f"list the versions of {project}!{iid}", mr.diffs.list)
                if v.attributes.get("head_commit_sha") == head_sha
            ),
            None,
        )
        if version is None:
            return None
        detail = gitlab.call(
            f"read a version of {project}!{iid}", lambda: mr.diffs.get(version.id, max_retries=gitlab.retries)
        )
        return parse_gitlab_diffs(detail.attributes.get("diffs") or [])
    except (GitLabError, DiffParseError) as exc:
        log.info("no version of %s!%s at %s: %s", project, iid, head_sha[:12], exc)
        return None
