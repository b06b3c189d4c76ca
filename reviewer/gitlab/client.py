"""Everything that talks to GitLab, through python-gitlab.

GitLab REST API v4 pages this module follows:
- Merge requests: get a single MR (``diff_refs``), list MR diffs (``/diffs``, paginated per file,
  GitLab 15.7+), show MR raw diffs (``/raw_diffs``), MR diff versions (``/versions``).
- Repositories: compare two commits (``/repository/compare``, ``straight=true``), raw file.
- Discussions: create a thread in the MR diff (``position`` with ``position_type=text``, the three
  SHAs of the latest version, ``old_path``/``new_path``, ``new_line``/``old_line`` and
  ``line_range`` with line codes), resolve a thread.
- Notes: list, create and edit MR notes (the one summary note), reply in a thread.
- Members, emoji reactions on notes, one thread: ``reviewer.gitlab.members``, ``reactions``,
  ``threads`` (the client's ``members``, ``reactions`` and ``threads``).
- Users: ``GET /user`` (the bot's own id, to recognise its notes; ``is_admin``, shown to
  administrators only). Personal access tokens: ``GET /personal_access_tokens/self`` (its scopes).

Bodies written to GitLab are ``Markdown`` values, which only ``reviewer.gitlab.markdown`` makes:
a write method refuses anything else, so no text reaches GitLab without the renderer.

Reads and edits (GET, PUT) use python-gitlab's transient-error retry; creation calls (thread,
reply, summary note) go once without it, as its retry re-sends a POST GitLab may have written.
After a lost answer (5xx, timeout, dropped connection) the bot reads back its markers: there, the
write is done; not there, TransientError, and only a later retry of the review (which reads
GitLab first) writes again, since a timed-out request may still be running. 429s are retried.

Only this module catches python-gitlab's exceptions; it raises the project's own from them
(reviewer.errors), with project, MR and status, never the token.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import gitlab
import requests
from gitlab.exceptions import GitlabError

from reviewer import deadline
from reviewer.diff.parsing import (
    DiffParseError,
    DiffRefs,
    FileDiff,
    MergeRequestDiff,
    parse_gitlab_diffs,
    parse_unified,
)
from reviewer.errors import GitLabError, TransientError
from reviewer.gitlab.api import (
    BotThread,
    TokenFacts,
    bot_thread,
    position_payload,
    translate,
)
from reviewer.gitlab.members import Members
from reviewer.gitlab.reactions import Reactions
from reviewer.gitlab.threads import Threads
from reviewer.gitlab.writes import NoteWrites

__all__ = ["BotThread", "GitLabClient", "MergeRequestInfo", "TokenFacts", "position_payload"]

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class MergeRequestInfo:
    project_id: int
    project_path: str
    iid: int
    title: str
    description: str
    state: str
    draft: bool
    source_branch: str
    target_branch: str
    head_sha: str | None
    web_url: str
    labels: tuple[str, ...] = ()


class _DeadlineSession(requests.Session):
    """Every request (python-gitlab's retries included) checks the review's deadline first and
    waits no longer than what is left of it."""

    def request(self, method: str, url: Any, *args: Any, **kwargs: Any) -> requests.Response:
        deadline.check(f"call GitLab ({method} {urlsplit(str(url)).path})")
        if isinstance(kwargs.get("timeout"), int | float):
            kwargs["timeout"] = deadline.clamp(float(kwargs["timeout"]))
        return super().request(method, url, *args, **kwargs)


class GitLabClient(NoteWrites):
    """The bot's view of one GitLab instance (its writes of threads, replies and the summary note:
    ``reviewer.gitlab.writes``)."""

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 3,
        diff_refs_wait: float = 0.5,
        diff_refs_attempts: int = 6,
    ) -> None:
        self._gl = gitlab.Gitlab(
            url,
            private_token=token,
            timeout=timeout,
            retry_transient_errors=True,
            per_page=100,
            session=_DeadlineSession(),
        )
        self._retries = max_retries
        self._diff_refs_wait = diff_refs_wait
        self._diff_refs_attempts = diff_refs_attempts
        self._bot_id: int | None = None
        self.url = url
        # people in the loop: who may command the bot, reactions, the thread a person wrote in
        self.members = Members(self._gl, retries=max_retries)
        self.reactions = Reactions(self._gl, retries=max_retries)
        self.threads = Threads(self._gl, retries=max_retries)

    # -- reading -----------------------------------------------------------------------------

    def bot_user_id(self) -> int:
        if self._bot_id is None:
            self._call("read the bot user", self._gl.auth)
            user = self._gl.user
            if user is None:
                raise GitLabError("GitLab did not say who the token belongs to")
            self._bot_id = int(user.id)
        return self._bot_id

    def bot_username(self) -> str:
        """The bot's username: a note that mentions ``@username`` speaks to it."""
        self.bot_user_id()
        return str(self._gl.user.attributes.get("username") or "") if self._gl.user else ""

    def token_facts(self) -> TokenFacts:
        """The token's user, whether it is an administrator, and the token's scopes."""
        self._call("read the bot user", self._gl.auth)
        user = self._gl.user
        if user is None:
            raise GitLabError("GitLab did not say who the token belongs to")
        try:
            token = self._call(
                "read the token's scopes", lambda: self._gl.http_get("/personal_access_tokens/self")
            )
        except GitLabError as exc:  # an OAuth or job token, or GitLab before 16.0
            log.info("no token details: %s", exc)
            token = None
        scopes = token.get("scopes") if isinstance(token, dict) else None
        return TokenFacts(
            user_id=int(user.id),
            username=str(user.attributes.get("username") or ""),
            is_admin=bool(user.attributes.get("is_admin")),
            scopes=tuple(str(s) for s in scopes) if isinstance(scopes, list) else None,
        )

    def merge_request(self, project: int | str, iid: int) -> MergeRequestInfo:
        mr = self._mr(project, iid)
        return self._info(mr)

    def fetch_diff(self, project: int | str, iid: int) -> tuple[MergeRequestInfo, MergeRequestDiff]:
        """The MR's latest version: its SHAs and every changed file.

        ``diff_refs`` can be null for a moment right after an MR is created, so it is polled
        briefly. Files whose text GitLab withholds (too large, collapsed) are fetched from the
        raw diff; what still has no text stays in the list, marked not reviewed.
        """
        mr = self._mr(project, iid)
        for _ in range(self._diff_refs_attempts - 1):
            if mr.attributes.get("diff_refs"):
                break
            time.sleep(self._diff_refs_wait)
            mr = self._mr(project, iid)
        refs_raw = mr.attributes.get("diff_refs")
        if not refs_raw or not refs_raw.get("head_sha"):
            raise TransientError(f"merge request {project}!{iid} has no diff_refs yet")
        refs = self._latest_version_refs(mr) or DiffRefs(
            refs_raw["base_sha"], refs_raw["start_sha"], refs_raw["head_sha"]
        )
        info = self._info(mr)
        entries = self._call(
            f"list the diffs of {project}!{iid}",
            lambda: list(
                self._gl.http_list(
                    f"/projects/{info.project_id}/merge_requests/{iid}/diffs",
                    iterator=True,
                    max_retries=self._retries,
                )
            ),
        )
        files = parse_gitlab_diffs(entries)
        if any(f.too_large for f in files):
            files = self._fill_withheld(info, files)
        diff = MergeRequestDiff(
            refs=refs,
            files=tuple(files),
            title=info.title,
            description=info.description,
            source_branch=info.source_branch,
            target_branch=info.target_branch,
        )
        return info, diff

    def _latest_version_refs(self, mr: Any) -> DiffRefs | None:
        """The SHAs of the MR's latest diff version, the ones GitLab's docs say a diff thread
        must carry (``/versions`` lists the newest first)."""
        try:
            versions = self._call(
                f"list the versions of !{mr.iid}",
                lambda: mr.diffs.list(per_page=1, page=1, max_retries=self._retries),
            )
        except GitLabError as exc:  # no versions API here: the MR's diff_refs are the latest version's
            log.info("using diff_refs of !%s: %s", mr.iid, exc)
            return None
        if not versions:
            return None
        v = versions[0].attributes
        if not (v.get("base_commit_sha") and v.get("start_commit_sha") and v.get("head_commit_sha")):
            return None
        return DiffRefs(v["base_commit_sha"], v["start_commit_sha"], v["head_commit_sha"])

    def _fill_withheld(self, info: MergeRequestInfo, files: list[FileDiff]) -> list[FileDiff]:
        try:
            raw = self._call(
                f"read the raw diff of {info.project_path}!{info.iid}",
                lambda: self._gl.http_get(
                    f"/projects/{info.project_id}/merge_requests/{info.iid}/raw_diffs",
                    raw=True,
                    max_retries=self._retries,
                ),
            )
            text = cast(requests.Response, raw).content.decode("utf-8", errors="replace")
            by_path = {(f.old_path, f.new_path): f for f in parse_unified(text)}
        except (GitLabError, DiffParseError) as exc:  # older GitLab without /raw_diffs, or over its limits
            log.info("raw diffs unavailable for %s!%s: %s", info.project_path, info.iid, exc)
            by_path = {}
        filled: list[FileDiff] = []
        for f in files:
            full = by_path.get((f.old_path, f.new_path)) if f.too_large else None
            filled.append(full if full is not None and full.hunks else f)
        return filled

    def compare(self, project: int | str, from_sha: str, to_sha: str) -> list[FileDiff]:
        """What changed from one commit to another, compared straight (not from their merge base)."""
        proj = self._gl.projects.get(project, lazy=True)
        result = self._call(
            f"compare {from_sha[:12]}..{to_sha[:12]} in {project}",
            lambda: proj.repository_compare(from_sha, to_sha, straight="true", max_retries=self._retries),
        )
        diffs = result.get("diffs") if isinstance(result, dict) else None
        if not isinstance(diffs, list):
            raise GitLabError(f"the compare of {from_sha[:12]}..{to_sha[:12]} had no diffs")
        return parse_gitlab_diffs(diffs)

    def read_file(self, project: int | str, path: str, ref: str) -> str | None:
        """A file's text at ``ref``, or None when it does not exist."""
        try:
            proj = self._call(f"read project {project}", lambda: self._gl.projects.get(project, lazy=True))
            content = self._call(
                f"read {path} at {ref[:12]}",
                lambda: proj.files.raw(file_path=path, ref=ref, max_retries=self._retries),
            )
        except GitLabError as exc:
            if exc.status == 404:
                return None
            raise
        data = content if isinstance(content, bytes) else bytes(content or b"")
        return data.decode("utf-8", errors="replace")

    def bot_threads(self, project: int | str, iid: int) -> list[BotThread]:
        """The discussions this bot started on the MR, with the fingerprints they carry."""
        bot = self.bot_user_id()
        mr = self._mr(project, iid, lazy=True)
        listing = self._iterate(f"list discussions of {project}!{iid}", mr.discussions.list)
        found = (bot_thread(str(d.id), d.attributes.get("notes") or [], bot) for d in listing)
        return [thread for thread in found if thread is not None]

    def open_merge_requests(
        self, project: int | str, *, updated_after: datetime | None = None
    ) -> Iterator[MergeRequestInfo]:
        """The project's open MRs (``head_sha`` is the list's ``sha``), fetched page by page;
        python-gitlab waits out a 429's Retry-After."""
        proj = self._gl.projects.get(project, lazy=True)
        params: dict[str, Any] = {"state": "opened", "order_by": "updated_at", "sort": "desc"}
        if updated_after is not None:
            params["updated_after"] = updated_after.isoformat()
        listing = self._iterate(
            f"list the open merge requests of {project}", lambda **kw: proj.mergerequests.list(**params, **kw)
        )
        for mr in listing:
            yield self._info(mr)

    # -- plumbing shared with the sibling modules (drafts, approvals, members, versions) -------

    @property
    def retries(self) -> int:
        """``max_retries`` for python-gitlab calls (transient errors of reads and edits)."""
        return self._retries

    def mr_resource(self, project: int | str, iid: int) -> Any:
        """python-gitlab's lazy merge request object (no request made)."""
        return self._mr(project, iid, lazy=True)

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one python-gitlab call; its errors leave as the project's own (see the module doc)."""
        return self._call(what, fn)

    def iterate(self, what: str, lister: Callable[..., Any]) -> Iterator[Any]:
        return self._iterate(what, lister)

    def create_once(self, what: str, send: Callable[[], Any], find: Callable[[], str | None]) -> str:
        return self._create_once(what, send, find)

    @property
    def api(self) -> gitlab.Gitlab:
        """python-gitlab's client, for the calls the sibling modules make through ``call``."""
        return self._gl

    # -- plumbing ----------------------------------------------------------------------------

    def _mr(self, project: int | str, iid: int, *, lazy: bool = False) -> Any:
        proj = self._gl.projects.get(project, lazy=True)
        return self._call(
            f"read merge request {project}!{iid}",
            lambda: proj.mergerequests.get(iid, lazy=lazy, max_retries=self._retries),
        )

    def _info(self, mr: Any) -> MergeRequestInfo:
        a = mr.attributes
        refs = a.get("diff_refs") or {}
        web_url = a.get("web_url") or ""
        return MergeRequestInfo(
            project_id=int(a["project_id"]),
            project_path=_project_path(web_url) or str(a["project_id"]),
            iid=int(a["iid"]),
            title=a.get("title") or "",
            description=a.get("description") or "",
            state=a.get("state") or "",
            draft=bool(a.get("draft", a.get("work_in_progress", False))),
            source_branch=a.get("source_branch") or "",
            target_branch=a.get("target_branch") or "",
            head_sha=refs.get("head_sha") or a.get("sha"),
            web_url=web_url,
            labels=tuple(str(label) for label in a.get("labels") or () if isinstance(label, str)),
        )

    def _iterate(self, what: str, lister: Callable[..., Any]) -> Iterator[Any]:
        try:
            yield from lister(iterator=True, max_retries=self._retries)
        except (GitlabError, requests.RequestException) as exc:
            raise translate(what, exc) from exc

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except (GitlabError, requests.RequestException) as exc:
            raise translate(what, exc) from exc


def _project_path(web_url: str) -> str | None:
    match = re.search(r"https?://[^/]+/(.+?)/-/merge_requests/", web_url)
    return match.group(1) if match else None
