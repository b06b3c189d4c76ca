"""GitLabStandIn: a strict, small GitLab REST API v4 over real HTTP on loopback.

python-gitlab (or anything else) talks to it exactly as to GitLab. It follows these GitLab docs:

- REST API basics (doc/api/rest/index.md): ``PRIVATE-TOKEN`` or ``Authorization: Bearer``;
  ``401 {"message": "401 Unauthorized"}``; projects by id or URL-encoded path (``group%2Fapp``);
  offset pagination with ``page``/``per_page`` (default 20, max 100), ``X-Page``, ``X-Per-Page``,
  ``X-Total``, ``X-Total-Pages``, ``X-Next-Page``, ``X-Prev-Page`` and a ``Link`` header.
- Users API: ``GET /user`` (``is_admin`` only for an administrator, as ``UserWithAdmin`` shows it).
  Personal access tokens API: ``GET /personal_access_tokens/self`` (the token's scopes).
  Projects API: ``GET /projects/:id``.
- Merge requests API (doc/api/merge_requests.md): list, get one (``diff_refs``, ``sha``,
  ``changes_count``...), ``/versions``, ``/versions/:id`` (full diffs, commits), ``/diffs``
  (paginated per file, GitLab 15.7+; subject to the collapse limits; ``unidiff``), ``/raw_diffs``.
- Repositories API ``/repository/compare``; Repository files API ``/repository/files/:path[/raw]``.
- Discussions API (doc/api/discussions.md) and Notes API (doc/api/notes.md) for merge requests.
- Members API and emoji reactions on notes: ``fakes.gitlab_people`` (mixed in).

Behaviour taken from GitLab's code where the docs are silent: per-file diffs come from
``Gitlab::Git::Diff`` (binary notice, ``too_large`` at ``diff_max_patch_bytes`` (200 KiB),
``collapsed`` at a tenth of it in ``/diffs`` only, generated files collapsed); MR diff files are
ordered by ``Gitlab::Diff::FileCollectionSorter`` (directories first, then names); positions
are checked by ``fakes.gitlab_rules`` (read its doc for where it is stricter than GitLab);
replies in a diff thread are DiffNotes carrying the thread's position; only DiffNotes and
DiscussionNotes are resolvable.

Test-only knobs: ``fail_next`` and ``inject`` (fault injection, below), ``reject_positions``
(every POSTed position answers 400), ``diff_refs_pending`` on ``open_mr`` (``diff_refs`` null for
the first GETs), ``diffs_max_per_page`` (GitLab before 17.11 answered 500 to ``/diffs?per_page``
above 30). Everything the server saw or did can be read without HTTP: ``requests``,
``discussions()``, ``notes()``, ``inline_positions()``, ``executed_quick_actions``,
``position_rejections``; ``wait_idle()`` waits until no request is being handled (a slow write
has landed).

Faults, chosen by method (``*`` for any), a ``re.search`` over the URL-encoded path, and which
matching requests they hit (``nth``, 1-based, counted from the moment the fault is added):

- ``fail_next(method, path, status, times=1)``: answer ``status`` without doing anything;
- ``inject(method, path, "lost_answer", nth=(1, 3), status=500)``: the request takes effect, then
  the answer is ``status`` (a 5xx after the write, as when a proxy loses Rails' answer);
- ``inject(..., "dropped_answer")``: the request takes effect, then the connection is closed
  without an answer (a connection reset after sending);
- ``inject(..., "late_answer", delay=2.0)``: the request takes effect at once, the answer leaves
  ``delay`` seconds later (a client with a shorter timeout sees a timeout);
- ``inject(..., "slow_write", delay=2.0)``: the request is held ``delay`` seconds, then takes
  effect and is answered (a client that times out sees nothing written until it lands).

Delays run outside the server's lock: other requests (a read-back) are served meanwhile. A
recorded request carries the fault that hit it (``fault``) and the status sent (0: none).

Quick actions: every note body written (created or edited) goes through GitLab's extractor
(``fakes.gitlab_markdown.quick_actions``); each command found is recorded in
``executed_quick_actions``, and ``close``, ``reopen``, ``merge``, ``approve``, ``unapprove``,
``draft`` and ``ready`` take effect on the MR (state, ``approved_by``, draft), as GitLab runs them
with the author's rights.

    with GitLabStandIn() as server:
        repo = GitRepo.create(tmp_path / "app", files={"app.py": "x = 1\n"})
        pid = server.add_project("group/app", repo)
        repo.commit({"app.py": "x = 2\n"}, branch="feature")
        iid = server.open_mr(pid, "feature")
        gl = gitlab.Gitlab(server.url, private_token=server.token)
        ...                               # the code under test talks to GitLab
        repo.commit({...}, branch="feature"); server.push(pid, "feature")   # a new MR version
        assert server.inline_positions(pid, iid) == [...]
"""

from __future__ import annotations

import base64
import contextlib
import email
import email.policy
import fnmatch
import hashlib
import itertools
import json
import math
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

from fakes import gitlab_markdown
from fakes import gitlab_rules as rules
from fakes.gitlab_http import (
    ApiError,
    Json,
    Request,
    Response,
    _bad_request,
    _bool_param,
    _not_found,
    normalize_position,
)
from fakes.gitlab_people import PEOPLE_ROUTES, PeopleMixin
from fakes.gitlab_reviews import DEVELOPER, ReviewsApi
from fakes.gitrepo import GitError, GitRepo

BOT_TOKEN = "glpat-standin-bot-token"
# every stand-in made and not yet checked after its test, by a serial number that grows
LIVE: dict[int, GitLabStandIn] = {}
_SERIALS = itertools.count(1)
_STATE_OF = {"close": "closed", "reopen": "opened", "merge": "merged"}
MAX_PATCH_BYTES = 200 * 1024  # ApplicationSetting diff_max_patch_bytes default
SECRET_HEADERS = ("private-token", "authorization", "job-token")
T0 = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)

# -- state --------------------------------------------------------------------------------------


@dataclass
class User:
    id: int
    username: str
    name: str
    token: str | None
    bot: bool = False
    admin: bool = False
    scopes: tuple[str, ...] = ("api",)  # the token's

    def entity(self, base_url: str) -> Json:
        """UserBasic, as embedded in notes and merge requests."""
        return {
            "id": self.id,
            "username": self.username,
            "name": self.name,
            "state": "active",
            "locked": False,
            "avatar_url": None,
            "web_url": f"{base_url}/{self.username}",
        }


@dataclass
class Project:
    id: int
    path_with_namespace: str
    repo: GitRepo
    default_branch: str
    merge_requests: dict[int, MergeRequest] = field(default_factory=dict)
    members: dict[int, int] = field(default_factory=dict)  # user id -> access level (30 Developer)


@dataclass
class Version:
    id: int
    base: str
    start: str
    head: str
    created_at: str
    files: list[Json]  # full per-file entries, GitLab-ordered, no limits applied

    @property
    def refs(self) -> dict[str, str]:
        return {"base_sha": self.base, "start_sha": self.start, "head_sha": self.head}


@dataclass
class Note:
    id: int
    type: str | None
    body: str
    author: User
    created_at: str
    updated_at: str
    position: Json | None = None
    commit_id: str | None = None
    resolved_by: User | None = None
    resolved_at: str | None = None
    system: bool = False  # GitLab's own note ("resolved all threads", "added 1 commit")

    @property
    def resolvable(self) -> bool:
        return self.type in ("DiffNote", "DiscussionNote")


@dataclass
class Draft:
    """A draft note (Draft Notes API): seen by its author only, until it is published."""

    id: int
    author: User
    note: str
    position: Json | None  # as GitLab stores it; None for a draft on no line
    discussion_id: str | None  # the thread it replies to
    resolve_discussion: bool
    commit_id: str | None = None


@dataclass
class Discussion:
    id: str
    individual_note: bool
    notes: list[Note]


@dataclass
class MergeRequest:
    id: int
    iid: int
    project: Project
    title: str
    description: str
    source_branch: str
    target_branch: str
    author: User
    draft: bool
    created_at: str
    updated_at: str
    state: str = "opened"
    approved_by: list[int] = field(default_factory=list)  # user ids, through /approve
    versions: list[Version] = field(default_factory=list)  # oldest first
    discussions: list[Discussion] = field(default_factory=list)
    diff_refs_pending: int = 0
    drafts: list[Draft] = field(default_factory=list)  # every author's; each sees only their own
    reviewers: dict[int, str] = field(default_factory=dict)  # user id -> review state
    labels: list[str] = field(default_factory=list)
    label_events: list[Json] = field(default_factory=list)  # resource label events, oldest first

    @property
    def latest(self) -> Version:
        return self.versions[-1]


FAULT_KINDS = ("refused", "lost_answer", "dropped_answer", "late_answer", "slow_write")


@dataclass
class Fault:
    method: str
    pattern: re.Pattern[str]
    kind: str  # one of FAULT_KINDS
    nth: frozenset[int]  # which matching requests it hits, 1-based
    status: int
    headers: dict[str, str]
    body: Json
    delay: float = 0.0
    seen: int = 0  # matching requests so far


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server saw it; token headers are dropped."""

    method: str
    path: str  # as sent, still URL-encoded, without the query
    query: dict[str, str]
    headers: dict[str, str]
    body: Any  # parsed JSON or form parameters, None when there was no body
    status: int  # 0 when the connection was dropped without an answer
    user: str | None  # username the token mapped to
    fault: str | None = None  # the injected fault that hit it


# -- the stand-in -------------------------------------------------------------------------------


class GitLabStandIn(PeopleMixin, ReviewsApi):
    """A GitLab that serves ``/api/v4`` on ``127.0.0.1:<ephemeral port>``; see the module doc."""

    def __init__(
        self,
        *,
        token: str = BOT_TOKEN,
        bot_username: str = "review-bot",
        max_patch_bytes: int = MAX_PATCH_BYTES,
        collapse_patch_bytes: int | None = None,
        generated_globs: tuple[str, ...] = (),
        binary_diff: str = "notice",
        diffs_max_per_page: int | None = None,
        bot_admin: bool = False,
        token_scopes: tuple[str, ...] = ("api",),
    ) -> None:
        self.max_patch_bytes = max_patch_bytes
        self.collapse_patch_bytes = (
            collapse_patch_bytes if collapse_patch_bytes is not None else max_patch_bytes // 10
        )
        self.generated_globs = generated_globs
        self.binary_diff = binary_diff  # "notice" (GitLab) or "empty"
        self.diffs_max_per_page = diffs_max_per_page
        self.reject_positions = False
        self.executed_quick_actions: list[Json] = []
        self.position_rejections: list[Json] = []
        self.server_errors: list[str] = []
        self._init_reviews()
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._clock = itertools.count(1)
        self._users: dict[int, User] = {}
        self._projects: dict[int, Project] = {}
        self._requests: list[RecordedRequest] = []
        self._faults: list[Fault] = []
        self._inherited: set[tuple[int, int]] = set()  # (project, user): a member through a group
        self._awards: list[Json] = []
        self._in_flight = 0
        self._idle = threading.Condition(threading.Lock())
        self.slowed = threading.Event()  # set when a slow_write fault holds a request
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.standin = self
        self._thread: threading.Thread | None = None
        bot = self.add_user(
            bot_username, "AI Review Bot", token=token, bot=True, admin=bot_admin, scopes=token_scopes
        )
        self.bot = self._users[bot["id"]]
        LIVE[next(_SERIALS)] = self

    # lifecycle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:<port>``: what to give ``gitlab.Gitlab(url, ...)``."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def token(self) -> str:
        """The bot user's token."""
        return str(self.bot.token)

    def start(self) -> GitLabStandIn:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="gitlab-standin",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join()
            self._thread = None
        self._server.close_connections()
        self._server.server_close()

    def __enter__(self) -> GitLabStandIn:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # setting the scene (no HTTP)

    def add_user(
        self,
        username: str,
        name: str | None = None,
        *,
        token: str | None = None,
        bot: bool = False,
        admin: bool = False,
        scopes: tuple[str, ...] = ("api",),
    ) -> Json:
        """Register a user; with ``token`` (of ``scopes``) it can call the API. Returns its UserBasic
        entity."""
        with self._lock:
            user = User(next(self._ids), username, name or username.title(), token, bot, admin, scopes)
            self._users[user.id] = user
            return user.entity(self.url)

    def add_project(self, path_with_namespace: str, repo: GitRepo) -> int:
        """Serve ``repo`` as project ``path_with_namespace``; returns the project id."""
        with self._lock:
            project = Project(next(self._ids), path_with_namespace, repo, repo.default_branch)
            project.members[self.bot.id] = DEVELOPER  # the bot's role, as README's least privilege says
            self._projects[project.id] = project
            return project.id

    def open_mr(
        self,
        project: int | str,
        source_branch: str,
        target_branch: str = "main",
        *,
        title: str | None = None,
        description: str = "",
        draft: bool = False,
        author_id: int | None = None,
        diff_refs_pending: int = 0,
    ) -> int:
        """Open a merge request with its first version; ``diff_refs`` is null for the first
        ``diff_refs_pending`` GETs of it (as right after creation). Returns the iid."""
        with self._lock:
            proj = self._project(project)
            iid = max(proj.merge_requests, default=0) + 1
            author = self._users[author_id] if author_id else self._human()
            now = self._now()
            mr = MergeRequest(
                next(self._ids),
                iid,
                proj,
                title or f"Merge {source_branch}",
                description,
                source_branch,
                target_branch,
                author,
                draft,
                now,
                now,
                diff_refs_pending=diff_refs_pending,
            )
            proj.merge_requests[iid] = mr
            self._add_version(mr)
            return iid

    def push(self, project: int | str, branch: str) -> list[int]:
        """Record that ``branch`` moved: every open MR from or into it whose refs changed gets a
        new version. Returns the iids that did."""
        with self._lock:
            proj = self._project(project)
            moved = []
            for mr in proj.merge_requests.values():
                if (
                    mr.state == "opened"
                    and branch in (mr.source_branch, mr.target_branch)
                    and self._add_version(mr)
                ):
                    moved.append(mr.iid)
            return moved

    def update_mr(self, project: int | str, iid: int, **fields: Any) -> None:
        """Change ``title``, ``description``, ``draft`` or ``state`` (opened/closed/merged) directly."""
        with self._lock:
            mr = self._mr(project, iid)
            for key, value in fields.items():
                if key not in ("title", "description", "draft", "state"):
                    raise KeyError(key)
                setattr(mr, key, value)
            mr.updated_at = self._now()

    def add_note(
        self,
        project: int | str,
        iid: int,
        body: str,
        *,
        author_id: int | None = None,
        discussion_id: str | None = None,
        system: bool = False,
    ) -> Json:
        """A person's comment (a new top-level note, or a reply in ``discussion_id``), made
        without HTTP; with ``system``, a note GitLab writes itself about the person's action.
        Returns the note entity."""
        with self._lock:
            mr = self._mr(project, iid)
            author = self._users[author_id] if author_id else self._human()
            if discussion_id is None:
                note = self._new_discussion(mr, author, body, None, individual=True).notes[0]
            else:
                note = self._reply(mr, self._discussion(mr, discussion_id), author, body)
            note.system = system
            self._notify(mr, author, "note")
            return self._note_entity(mr, note)

    # fault injection

    def fail_next(
        self,
        method: str,
        path_regex: str,
        status: int,
        times: int = 1,
        headers: dict[str, str] | None = None,
        body: Json | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose method matches (``*`` for any) and whose
        URL-encoded path matches ``path_regex`` (``re.search``) with ``status``, doing nothing."""
        self._add_fault(method, path_regex, "refused", range(1, times + 1), status, headers, body)

    def inject(
        self,
        method: str,
        path_regex: str,
        kind: str,
        *,
        nth: Iterable[int] = (1,),
        status: int = 500,
        delay: float = 0.0,
    ) -> None:
        """A fault on the ``nth`` matching requests (see the module doc for ``kind``)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}: use one of {FAULT_KINDS}")
        self._add_fault(method, path_regex, kind, nth, status, None, None, delay)

    def _add_fault(
        self,
        method: str,
        path_regex: str,
        kind: str,
        nth: Iterable[int],
        status: int,
        headers: dict[str, str] | None,
        body: Json | None,
        delay: float = 0.0,
    ) -> None:
        hits = frozenset(nth)
        if not hits or min(hits) < 1:
            raise ValueError("nth counts matching requests from 1")
        reason = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        with self._lock:
            self._faults.append(
                Fault(
                    method.upper(),
                    re.compile(path_regex),
                    kind,
                    hits,
                    status,
                    dict(headers or {}),
                    body or {"message": f"{status} {reason}"},
                    delay,
                )
            )

    def wait_idle(self, timeout: float = 30.0) -> bool:
        """Wait until no request is being handled (a held slow write has landed); False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    # reading state (no HTTP)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_to(self, method: str, path_regex: str) -> list[RecordedRequest]:
        """Recorded requests with this method whose path matches ``path_regex``."""
        return [r for r in self.requests if r.method == method.upper() and re.search(path_regex, r.path)]

    def project(self, project: int | str) -> Json:
        with self._lock:
            return self._project_entity(self._project(project))

    def mr(self, project: int | str, iid: int) -> Json:
        """The merge request entity (never with pending diff_refs)."""
        with self._lock:
            return self._mr_entity(self._mr(project, iid), pending=False)

    def bot_note_problems(self) -> list[str]:
        """Everything in the notes the bot wrote that GitLab would run (a quick action) or that a
        bot must not post (``fakes.gitlab_markdown``), with where it is."""
        problems = []
        with self._lock:
            for project in self._projects.values():
                for mr in project.merge_requests.values():
                    for note in self._all_notes(mr):
                        if note.author.id != self.bot.id:
                            continue
                        web = self._mr_entity(mr, pending=False)["web_url"]
                        found = [
                            *(f"quick action /{c}" for c in gitlab_markdown.quick_actions(note.body)),
                            *(f"command line {c!r}" for c in gitlab_markdown.command_lines(note.body)),
                            *gitlab_markdown.unsafe_markup(note.body, links_to=f"{web}#note_"),
                        ]
                        problems += [f"!{mr.iid} note {note.id}: {problem}" for problem in found]
        return problems

    def approvals(self, project: int | str, iid: int) -> list[int]:
        """Ids of the users who approved the MR (through ``/approve``)."""
        with self._lock:
            return list(self._mr(project, iid).approved_by)

    def versions(self, project: int | str, iid: int) -> list[Json]:
        """Version entities, newest first."""
        with self._lock:
            mr = self._mr(project, iid)
            return [self._version_entity(mr, v) for v in reversed(mr.versions)]

    def version_files(self, project: int | str, iid: int) -> list[Json]:
        """The latest version's full per-file entries (no limits applied)."""
        with self._lock:
            return [dict(f) for f in self._mr(project, iid).latest.files]

    def discussions(self, project: int | str, iid: int) -> list[Json]:
        with self._lock:
            mr = self._mr(project, iid)
            return [self._discussion_entity(mr, d) for d in mr.discussions]

    def notes(self, project: int | str, iid: int) -> list[Json]:
        """All notes of the merge request, oldest first."""
        with self._lock:
            mr = self._mr(project, iid)
            return [self._note_entity(mr, n) for n in self._all_notes(mr)]

    def inline_positions(self, project: int | str, iid: int) -> list[Json]:
        """The position of every thread opened on a diff line, in posting order."""
        return [
            d["notes"][0]["position"]
            for d in self.discussions(project, iid)
            if d["notes"][0]["type"] == "DiffNote"
        ]

    def user(self, user_id: int) -> Json:
        with self._lock:
            return self._users[user_id].entity(self.url)

    def commit(self, project: int | str, sha: str) -> Json:
        with self._lock:
            return self._project(project).repo.commit_info(sha)

    def discussion_id_of(self, project: int | str, iid: int, note_id: int) -> str:
        with self._lock:
            mr = self._mr(project, iid)
            return next(d.id for d in mr.discussions for n in d.notes if n.id == note_id)

    # internals: lookups and model changes

    def _now(self) -> str:
        moment = T0 + timedelta(seconds=next(self._clock))
        return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")

    def _human(self) -> User:
        human = next((u for u in self._users.values() if u.username == "developer"), None)
        if human is None:
            human = self._users[self.add_user("developer", "Dev Eloper")["id"]]
        return human

    def _project(self, ref: int | str) -> Project:
        for project in self._projects.values():
            if str(ref) in (str(project.id), project.path_with_namespace):
                return project
        raise _not_found("Project")

    def _mr(self, project: int | str, iid: int | str) -> MergeRequest:
        mr = self._project(project).merge_requests.get(int(iid)) if str(iid).isdigit() else None
        if mr is None:
            raise _not_found("Merge Request")
        return mr

    def _discussion(self, mr: MergeRequest, discussion_id: str) -> Discussion:
        found = next((d for d in mr.discussions if d.id == discussion_id), None)
        if found is None:
            raise _not_found("Discussion")
        return found

    def _note(self, mr: MergeRequest, note_id: str, discussion: Discussion | None = None) -> Note:
        pool = discussion.notes if discussion else self._all_notes(mr)
        found = next((n for n in pool if str(n.id) == note_id), None)
        if found is None:
            raise _not_found("Note")
        return found

    def _all_notes(self, mr: MergeRequest) -> list[Note]:
        return sorted((n for d in mr.discussions for n in d.notes), key=lambda n: n.id)

    def _add_version(self, mr: MergeRequest) -> bool:
        repo = mr.project.repo
        head, start = repo.rev_parse(mr.source_branch), repo.rev_parse(mr.target_branch)
        base = repo.merge_base(start, head)
        if mr.versions and (mr.latest.base, mr.latest.start, mr.latest.head) == (base, start, head):
            return False
        files = sorted(repo.file_diffs(base, head), key=_path_sort_key)
        mr.versions.append(Version(next(self._ids), base, start, head, self._now(), files))
        mr.updated_at = mr.latest.created_at
        return True

    def _new_discussion(
        self,
        mr: MergeRequest,
        author: User,
        body: str,
        position: Json | None,
        individual: bool = False,
        commit_id: str | None = None,
    ) -> Discussion:
        kind = None if individual else ("DiffNote" if position else "DiscussionNote")
        number = next(self._ids)
        discussion = Discussion(
            hashlib.sha1(f"discussion-{number}".encode()).hexdigest(),
            individual,
            [self._make_note(mr, kind, body, author, position, commit_id)],
        )
        mr.discussions.append(discussion)
        return discussion

    def _reply(self, mr: MergeRequest, discussion: Discussion, author: User, body: str) -> Note:
        first = discussion.notes[0]
        if discussion.individual_note:  # replying turns a lone comment into a thread
            discussion.individual_note = False
            first.type = "DiscussionNote"
        note = self._make_note(mr, first.type, body, author, first.position, first.commit_id)
        discussion.notes.append(note)
        return note

    def _make_note(
        self,
        mr: MergeRequest,
        kind: str | None,
        body: str,
        author: User,
        position: Json | None,
        commit_id: str | None,
    ) -> Note:
        now = self._now()
        note = Note(next(self._ids), kind, body, author, now, now, position, commit_id)
        self._record_quick_actions(mr, note)
        mr.updated_at = now
        return note

    def _record_quick_actions(self, mr: MergeRequest, note: Note) -> None:
        for command in gitlab_markdown.quick_actions(note.body):
            self.executed_quick_actions.append(
                {
                    "project_id": mr.project.id,
                    "iid": mr.iid,
                    "note_id": note.id,
                    "author_id": note.author.id,
                    "line": f"/{command}",
                }
            )
            name = command.split(" ", 1)[0]
            if name in _STATE_OF and mr.state != "merged":
                mr.state = _STATE_OF[name]
            elif name == "approve" and note.author.id not in mr.approved_by:
                mr.approved_by.append(note.author.id)
            elif name == "unapprove" and note.author.id in mr.approved_by:
                mr.approved_by.remove(note.author.id)
            elif name in ("draft", "ready"):
                mr.draft = name == "draft"

    def _set_resolved(self, notes: list[Note], resolved: bool, user: User) -> None:
        now = self._now()
        for note in notes:
            if note.resolvable:
                note.resolved_by, note.resolved_at = (user, now) if resolved else (None, None)

    # internals: entities

    def _project_entity(self, project: Project) -> Json:
        namespace, _, path = project.path_with_namespace.rpartition("/")
        web = f"{self.url}/{project.path_with_namespace}"
        return {
            "id": project.id,
            "name": path,
            "path": path,
            "description": "",
            "name_with_namespace": project.path_with_namespace.replace("/", " / "),
            "path_with_namespace": project.path_with_namespace,
            "default_branch": project.default_branch,
            "visibility": "private",
            "web_url": web,
            "http_url_to_repo": f"{web}.git",
            "ssh_url_to_repo": f"git@127.0.0.1:{project.path_with_namespace}.git",
            "created_at": T0.isoformat(),
            "namespace": {
                "id": 1,
                "name": namespace,
                "path": namespace,
                "kind": "group",
                "full_path": namespace,
            },
            "archived": False,
            "empty_repo": False,
            "topics": [],
        }

    def _mr_entity(self, mr: MergeRequest, pending: bool) -> Json:
        v, base = mr.latest, self.url
        web = f"{base}/{mr.project.path_with_namespace}/-/merge_requests/{mr.iid}"
        closed = mr.state == "closed"
        return {
            "id": mr.id,
            "iid": mr.iid,
            "project_id": mr.project.id,
            "title": mr.title,
            "description": mr.description,
            "state": mr.state,
            "created_at": mr.created_at,
            "updated_at": mr.updated_at,
            "merged_by": None,
            "merge_user": None,
            "merged_at": None,
            "closed_by": mr.author.entity(base) if closed else None,
            "closed_at": mr.updated_at if closed else None,
            "target_branch": mr.target_branch,
            "source_branch": mr.source_branch,
            "user_notes_count": sum(len(d.notes) for d in mr.discussions),
            "upvotes": 0,
            "downvotes": 0,
            "author": mr.author.entity(base),
            "assignees": [],
            "assignee": None,
            "reviewers": [self._users[uid].entity(base) for uid in mr.reviewers],
            "source_project_id": mr.project.id,
            "target_project_id": mr.project.id,
            "labels": list(mr.labels),
            "draft": mr.draft,
            "work_in_progress": mr.draft,
            "imported": False,
            "imported_from": "none",
            "milestone": None,
            "merge_when_pipeline_succeeds": False,
            "merge_status": "can_be_merged",
            "detailed_merge_status": "draft_status" if mr.draft else "mergeable",
            "sha": v.head,
            "merge_commit_sha": None,
            "squash_commit_sha": None,
            "discussion_locked": None,
            "should_remove_source_branch": None,
            "force_remove_source_branch": False,
            "prepared_at": mr.created_at,
            "reference": f"!{mr.iid}",
            "web_url": web,
            "squash": False,
            "squash_on_merge": False,
            "references": {
                "short": f"!{mr.iid}",
                "relative": f"!{mr.iid}",
                "full": f"{mr.project.path_with_namespace}!{mr.iid}",
            },
            "time_stats": {
                "time_estimate": 0,
                "total_time_spent": 0,
                "human_time_estimate": None,
                "human_total_time_spent": None,
            },
            "task_completion_status": {"count": 0, "completed_count": 0},
            "has_conflicts": False,
            "blocking_discussions_resolved": all(
                n.resolved_by for d in mr.discussions for n in d.notes if n.resolvable
            ),
            "subscribed": False,
            "changes_count": str(len(v.files)),
            "first_contribution": False,
            "pipeline": None,
            "head_pipeline": None,
            "merge_error": None,
            "diverged_commits_count": 0,
            "rebase_in_progress": False,
            "user": {"can_merge": False},
            "diff_refs": None if pending else {"base_sha": v.base, "head_sha": v.head, "start_sha": v.start},
        }

    def _version_entity(self, mr: MergeRequest, v: Version) -> Json:
        return {
            "id": v.id,
            "head_commit_sha": v.head,
            "base_commit_sha": v.base,
            "start_commit_sha": v.start,
            "created_at": v.created_at,
            "merge_request_id": mr.id,
            "state": "collected",
            "real_size": str(len(v.files)),
        }

    def _commit_entity(self, project: Project, info: Json) -> Json:
        return {**info, "web_url": f"{self.url}/{project.path_with_namespace}/-/commit/{info['id']}"}

    def _diff_entity(self, f: Json, *, collapse: bool, unidiff: bool = False) -> Json:
        """``API::Entities::Diff`` of one file, with ``Gitlab::Git::Diff``'s limits applied."""
        text = str(f["diff"])
        binary = rules.is_binary_diff(text)
        if binary and self.binary_diff == "empty":
            text = ""
        size = len(text.encode("utf-8"))
        generated = any(fnmatch.fnmatchcase(f["new_path"], glob) for glob in self.generated_globs)
        too_large = size >= self.max_patch_bytes
        collapsed = collapse and (size >= self.collapse_patch_bytes or generated)
        if too_large or collapsed:
            text = ""
        if unidiff and text and not binary:
            old = "/dev/null" if f["new_file"] else f"a/{f['old_path']}"
            new = "/dev/null" if f["deleted_file"] else f"b/{f['new_path']}"
            text = f"--- {old}\n+++ {new}\n{text}"
        keys = ("new_path", "old_path", "a_mode", "b_mode", "new_file", "renamed_file", "deleted_file")
        return {
            "diff": text,
            "collapsed": collapsed,
            "too_large": too_large,
            **{k: f[k] for k in keys},
            "generated_file": generated,
        }

    def _note_entity(self, mr: MergeRequest, note: Note) -> Json:
        base = self.url
        entity: Json = {
            "id": note.id,
            "type": note.type,
            "body": note.body,
            "attachment": None,
            "author": note.author.entity(base),
            "created_at": note.created_at,
            "updated_at": note.updated_at,
            "system": note.system,
            "noteable_id": mr.id,
            "noteable_type": "MergeRequest",
            "project_id": mr.project.id,
            "noteable_iid": mr.iid,
            "resolvable": note.resolvable,
            "confidential": False,
            "internal": False,
            "imported": False,
            "imported_from": "none",
            "commands_changes": {},
        }
        if note.resolvable:
            entity.update(
                resolved=note.resolved_by is not None,
                resolved_at=note.resolved_at,
                resolved_by=note.resolved_by.entity(base) if note.resolved_by else None,
            )
        if note.type == "DiffNote":
            entity.update(commit_id=note.commit_id, position=dict(note.position or {}))
        return entity

    def _discussion_entity(self, mr: MergeRequest, d: Discussion) -> Json:
        return {
            "id": d.id,
            "individual_note": d.individual_note,
            "notes": [self._note_entity(mr, n) for n in d.notes],
        }

    # internals: HTTP

    def _handle(self, handler: _Handler) -> None:
        with self._idle:
            self._in_flight += 1
        try:
            self._handle_request(handler)
        finally:
            with self._idle:
                self._in_flight -= 1
                self._idle.notify_all()

    def _handle_request(self, handler: _Handler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        raw_body = handler.rfile.read(length) if length else b""
        request = _request(handler)
        with self._lock:
            fault = self._take_fault(request)
        if fault is not None and fault.kind == "slow_write":
            self.slowed.set()
            time.sleep(fault.delay)  # held outside the lock: other requests go on meanwhile
        with self._lock:
            try:
                request.body = _parsed_body(raw_body, handler.headers.get("Content-Type", ""))
                request.params.update(request.body)
                if fault is not None and fault.kind == "refused":
                    response = Response(fault.status, fault.body, dict(fault.headers))
                else:
                    response = self._answer(request)
            except ApiError as error:
                response = Response(error.status, error.body, error.headers)
            except Exception as error:  # a bug in the stand-in: answer like GitLab, keep the trace
                self.server_errors.append(f"{request.method} {request.path}: {error!r}")
                response = Response(500, {"message": "500 Internal Server Error"})
            if fault is not None and fault.kind == "lost_answer":
                response = Response(fault.status, fault.body)  # it took effect; the answer is lost
            dropped = fault is not None and fault.kind == "dropped_answer"
            self._requests.append(
                RecordedRequest(
                    request.method,
                    request.path,
                    dict(request.query),
                    {k: v for k, v in request.headers.items() if k.lower() not in SECRET_HEADERS},
                    request.body if raw_body else None,
                    0 if dropped else response.status,
                    request.user.username if request.user else None,
                    fault.kind if fault is not None else None,
                )
            )
        if fault is not None and fault.kind == "late_answer":
            time.sleep(fault.delay)
        if dropped:
            handler.close_connection = True  # no answer: the client sees the connection close
            return
        try:
            _send(handler, response)
        except OSError:  # the client gave up waiting (a late answer): nobody to answer
            handler.close_connection = True

    def _answer(self, request: Request) -> Response:
        request.user = self._authenticate(request.headers)
        if not request.path.startswith("/api/v4/"):
            raise ApiError(404, {"error": "404 Not Found"})
        segments = [unquote(s) for s in request.path[len("/api/v4/") :].rstrip("/").split("/")]
        for method, pattern, name in ROUTES:
            params = _match(pattern, segments)
            if params is not None and method == request.method:
                handler: Callable[[Request, dict[str, str]], Response] = getattr(self, name)
                return handler(request, params)
        raise ApiError(404, {"error": "404 Not Found"})

    def _take_fault(self, request: Request) -> Fault | None:
        """The fault this request meets, if any; every matching fault counts the request."""
        hit = None
        for fault in list(self._faults):
            if fault.method in ("*", request.method) and fault.pattern.search(request.path):
                fault.seen += 1
                if fault.seen >= max(fault.nth):
                    self._faults.remove(fault)
                if hit is None and fault.seen in fault.nth:
                    hit = fault
        return hit

    def _authenticate(self, headers: dict[str, str]) -> User:
        lowered = {k.lower(): v for k, v in headers.items()}
        token = lowered.get("private-token")
        bearer = lowered.get("authorization", "")
        if token is None and bearer.lower().startswith("bearer "):
            token = bearer[7:].strip()
        user = next((u for u in self._users.values() if token and u.token == token), None)
        if user is None:
            raise ApiError(401, {"message": "401 Unauthorized"})
        return user

    def _paginate(self, request: Request, items: list[Any], max_per_page: int = 100) -> Response:
        page = _int_query(request, "page", 1)
        per_page = min(_int_query(request, "per_page", 20), max_per_page)
        total_pages = max(1, math.ceil(len(items) / per_page))
        chunk = items[(page - 1) * per_page : page * per_page]
        headers = {
            "X-Page": str(page),
            "X-Per-Page": str(per_page),
            "X-Total": str(len(items)),
            "X-Total-Pages": str(total_pages),
            "X-Next-Page": str(page + 1) if page < total_pages else "",
            "X-Prev-Page": str(page - 1) if page > 1 else "",
        }
        host = request.headers.get("Host") or self.url.removeprefix("http://")
        links = [(page - 1, "prev")] if page > 1 else []
        links += [(page + 1, "next")] if page < total_pages else []
        links += [(1, "first"), (total_pages, "last")]
        headers["Link"] = ", ".join(
            f'<http://{host}{request.path}?{_page_query(request, n, per_page)}>; rel="{rel}"'
            for n, rel in links
        )
        return Response(200, chunk, headers)

    # routes: users, projects, merge requests

    def get_user(self, request: Request, _: dict[str, str]) -> Response:
        assert request.user is not None
        user = request.user
        entity = {
            **user.entity(self.url),
            "bot": user.bot,
            "created_at": T0.isoformat(),
            "bio": "",
            "public_email": None,
            "email": f"{user.username}@example.com",
        }
        if user.admin:  # UserWithAdmin: only an administrator's own entity shows it
            entity["is_admin"] = True
        return Response(200, entity)

    def get_own_token(self, request: Request, _: dict[str, str]) -> Response:
        """``GET /personal_access_tokens/self``: the token the request authenticated with."""
        assert request.user is not None
        user = request.user
        return Response(
            200,
            {
                "id": user.id * 100,
                "name": f"{user.username}-token",
                "revoked": False,
                "created_at": T0.isoformat(),
                "description": None,
                "scopes": list(user.scopes),
                "user_id": user.id,
                "last_used_at": None,
                "active": True,
                "expires_at": None,
            },
        )

    def get_project(self, _: Request, p: dict[str, str]) -> Response:
        return Response(200, self._project_entity(self._project(p["project"])))

    def list_mrs(self, request: Request, p: dict[str, str]) -> Response:
        state = request.query.get("state", "all")
        mrs = [mr for mr in self._project(p["project"]).merge_requests.values() if state in ("all", mr.state)]
        return self._paginate(
            request, [self._mr_entity(mr, False) for mr in sorted(mrs, key=lambda m: -m.iid)]
        )

    def get_mr(self, _: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        pending = mr.diff_refs_pending > 0
        mr.diff_refs_pending = max(0, mr.diff_refs_pending - 1)
        return Response(200, self._mr_entity(mr, pending))

    def list_versions(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        return self._paginate(request, [self._version_entity(mr, v) for v in reversed(mr.versions)])

    def get_version(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        version = next((v for v in mr.versions if str(v.id) == p["version"]), None)
        if version is None:
            raise _not_found("Merge Request Diff")
        unidiff = _truthy(request.query.get("unidiff"))
        commits = mr.project.repo.commits_between(version.base, version.head)
        return Response(
            200,
            {
                **self._version_entity(mr, version),
                "commits": [self._commit_entity(mr.project, c) for c in commits],
                "diffs": [self._diff_entity(f, collapse=False, unidiff=unidiff) for f in version.files],
            },
        )

    def list_diffs(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        wanted = _int_query(request, "per_page", 20)
        if self.diffs_max_per_page is not None and wanted > self.diffs_max_per_page:
            raise ApiError(500, {"message": "500 Internal Server Error"})
        unidiff = _truthy(request.query.get("unidiff"))
        return self._paginate(
            request, [self._diff_entity(f, collapse=True, unidiff=unidiff) for f in mr.latest.files]
        )

    def get_raw_diffs(self, _: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        return Response(
            200,
            mr.project.repo.raw_diff(mr.latest.base, mr.latest.head),
            content_type="text/plain; charset=utf-8",
        )

    # routes: repository

    def get_compare(self, request: Request, p: dict[str, str]) -> Response:
        project = self._project(p["project"])
        repo, q = project.repo, request.query
        if not q.get("from") or not q.get("to"):
            raise _bad_request("from is missing, to is missing" if not q.get("from") else "to is missing")
        try:
            start, head = repo.rev_parse(q["from"]), repo.rev_parse(q["to"])
        except GitError:
            raise ApiError(404, {"message": "404 Not found"}) from None
        base = start if _truthy(q.get("straight")) else repo.merge_base(start, head)
        commits = [self._commit_entity(project, c) for c in reversed(repo.commits_between(base, head))]
        unidiff = _truthy(q.get("unidiff"))
        return Response(
            200,
            {
                "commit": commits[-1] if commits else None,
                "commits": commits,
                "diffs": [
                    self._diff_entity(f, collapse=False, unidiff=unidiff) for f in repo.file_diffs(base, head)
                ],
                "compare_timeout": False,
                "compare_same_ref": start == head,
                "web_url": f"{self.url}/{project.path_with_namespace}/-/compare/{start}...{head}",
            },
        )

    def _blob(self, request: Request, p: dict[str, str]) -> tuple[Project, str, bytes]:
        project = self._project(p["project"])
        ref = request.query.get("ref") or project.default_branch
        content = project.repo.read_file(ref, p["path"])
        if content is None:
            raise _not_found("File")
        return project, ref, content

    def get_file_raw(self, request: Request, p: dict[str, str]) -> Response:
        _, _, content = self._blob(request, p)
        try:
            content.decode("utf-8")
            kind = "text/plain; charset=utf-8"
        except UnicodeDecodeError:
            kind = "application/octet-stream"
        return Response(200, content, content_type=kind)

    def get_file(self, request: Request, p: dict[str, str]) -> Response:
        project, ref, content = self._blob(request, p)
        commit = project.repo.rev_parse(ref)
        return Response(
            200,
            {
                "file_name": p["path"].rsplit("/", 1)[-1],
                "file_path": p["path"],
                "size": len(content),
                "encoding": "base64",
                "content": base64.b64encode(content).decode(),
                "content_sha256": hashlib.sha256(content).hexdigest(),
                "ref": ref,
                "blob_id": project.repo.text("rev-parse", f"{commit}:{p['path']}"),
                "commit_id": commit,
                "last_commit_id": project.repo.text("log", "-1", "--format=%H", commit, "--", p["path"]),
                "execute_filemode": False,
            },
        )

    # routes: discussions

    def list_discussions(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        return self._paginate(request, [self._discussion_entity(mr, d) for d in mr.discussions])

    def get_discussion(self, _: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        return Response(200, self._discussion_entity(mr, self._discussion(mr, p["discussion"])))

    def create_discussion(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        body = _body_param(request.params)
        position = request.params.get("position")
        if position is not None:
            position = self._accept_position(request, mr, position)
        assert request.user is not None
        discussion = self._new_discussion(
            mr, request.user, body, position, commit_id=request.params.get("commit_id") if position else None
        )
        self._notify(mr, request.user, "note")
        return Response(201, self._discussion_entity(mr, discussion))

    def _accept_position(self, request: Request, mr: MergeRequest, position: Any) -> Json:
        refs = mr.latest.refs
        if self.reject_positions:
            error = rules.PositionError(rules.LINE_CODE_ERROR, "reject_positions is set")
        else:
            try:
                rules.validate_position(mr.latest.files, refs, position)
                return normalize_position(position)
            except rules.PositionError as caught:
                error = caught
        self.position_rejections.append(
            {
                "project_id": mr.project.id,
                "iid": mr.iid,
                "position": position,
                "message": error.message,
                "reason": error.reason,
                "user": request.user.username if request.user else None,
            }
        )
        raise ApiError(400, rules.error_body(error.message))

    def resolve_discussion(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        discussion = self._discussion(mr, p["discussion"])
        resolved = _bool_param(request.params, "resolved", required=True)
        if not any(n.resolvable for n in discussion.notes):
            raise ApiError(403, {"message": "403 Forbidden"})
        assert request.user is not None
        self._set_resolved(discussion.notes, bool(resolved), request.user)
        return Response(200, self._discussion_entity(mr, discussion))

    def reply_to_discussion(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        discussion = self._discussion(mr, p["discussion"])
        assert request.user is not None
        note = self._reply(mr, discussion, request.user, _body_param(request.params))
        self._notify(mr, request.user, "note")
        return Response(201, self._note_entity(mr, note))

    def get_discussion_note(self, _: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        return Response(
            200, self._note_entity(mr, self._note(mr, p["note"], self._discussion(mr, p["discussion"])))
        )

    def update_discussion_note(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        note = self._note(mr, p["note"], self._discussion(mr, p["discussion"]))
        has_body, has_resolved = "body" in request.params, "resolved" in request.params
        if has_body == has_resolved:
            raise _bad_request(
                "body, resolved are mutually exclusive"
                if has_body
                else "body, resolved are missing, exactly one parameter must be provided"
            )
        if has_resolved:
            assert request.user is not None
            self._set_resolved([note], bool(_bool_param(request.params, "resolved")), request.user)
            return Response(200, self._note_entity(mr, note))
        return self._edit(request, mr, note)

    def delete_discussion_note(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        return self._delete(request, mr, self._note(mr, p["note"], self._discussion(mr, p["discussion"])))

    # routes: notes

    def list_notes(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        key = "updated_at" if request.query.get("order_by") == "updated_at" else "created_at"
        notes = sorted(
            self._all_notes(mr),
            key=lambda n: (getattr(n, key), n.id),
            reverse=request.query.get("sort", "desc") != "asc",
        )
        return self._paginate(request, [self._note_entity(mr, n) for n in notes])

    def get_note(self, _: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        return Response(200, self._note_entity(mr, self._note(mr, p["note"])))

    def create_note(self, request: Request, p: dict[str, str]) -> Response:
        """Notes API: a top-level comment. It has no ``position`` parameter (GitLab ignores one)."""
        mr = self._mr(p["project"], p["iid"])
        assert request.user is not None
        note = self._new_discussion(
            mr, request.user, _body_param(request.params), None, individual=True
        ).notes[0]
        self._notify(mr, request.user, "note")
        return Response(201, self._note_entity(mr, note))

    def update_note(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        if "body" not in request.params:
            raise _bad_request("body is missing")
        return self._edit(request, mr, self._note(mr, p["note"]))

    def delete_note(self, request: Request, p: dict[str, str]) -> Response:
        mr = self._mr(p["project"], p["iid"])
        return self._delete(request, mr, self._note(mr, p["note"]))

    def _edit(self, request: Request, mr: MergeRequest, note: Note) -> Response:
        if request.user is None or note.author.id != request.user.id:
            raise ApiError(403, {"message": "403 Forbidden"})
        note.body = _body_param(request.params)
        note.updated_at = self._now()
        self._record_quick_actions(mr, note)
        return Response(200, self._note_entity(mr, note))

    def _delete(self, request: Request, mr: MergeRequest, note: Note) -> Response:
        if request.user is None or note.author.id != request.user.id:
            raise ApiError(403, {"message": "403 Forbidden"})
        for discussion in mr.discussions:
            if note in discussion.notes:
                discussion.notes.remove(note)
        mr.discussions = [d for d in mr.discussions if d.notes]
        return Response(204, None)


# -- routing table ------------------------------------------------------------------------------

_MR = "projects/:project/merge_requests/:iid"
ROUTES: list[tuple[str, tuple[str, ...], str]] = [
    (method, tuple(pattern.split("/")), name)
    for method, pattern, name in [
        ("GET", "user", "get_user"),
        ("GET", "personal_access_tokens/self", "get_own_token"),
        ("GET", "projects/:project", "get_project"),
        ("GET", "projects/:project/merge_requests", "list_mrs"),
        ("GET", _MR, "get_mr"),
        ("GET", f"{_MR}/versions", "list_versions"),
        ("GET", f"{_MR}/versions/:version", "get_version"),
        ("GET", f"{_MR}/diffs", "list_diffs"),
        ("GET", f"{_MR}/raw_diffs", "get_raw_diffs"),
        ("GET", "projects/:project/repository/compare", "get_compare"),
        ("GET", "projects/:project/repository/files/:path/raw", "get_file_raw"),
        ("GET", "projects/:project/repository/files/:path", "get_file"),
        ("GET", f"{_MR}/discussions", "list_discussions"),
        ("POST", f"{_MR}/discussions", "create_discussion"),
        ("GET", f"{_MR}/discussions/:discussion", "get_discussion"),
        ("PUT", f"{_MR}/discussions/:discussion", "resolve_discussion"),
        ("POST", f"{_MR}/discussions/:discussion/notes", "reply_to_discussion"),
        ("GET", f"{_MR}/discussions/:discussion/notes/:note", "get_discussion_note"),
        ("PUT", f"{_MR}/discussions/:discussion/notes/:note", "update_discussion_note"),
        ("DELETE", f"{_MR}/discussions/:discussion/notes/:note", "delete_discussion_note"),
        ("GET", f"{_MR}/notes", "list_notes"),
        ("POST", f"{_MR}/notes", "create_note"),
        ("GET", f"{_MR}/notes/:note", "get_note"),
        ("PUT", f"{_MR}/notes/:note", "update_note"),
        ("DELETE", f"{_MR}/notes/:note", "delete_note"),
        *PEOPLE_ROUTES,
        ("GET", f"{_MR}/draft_notes", "list_drafts"),
        ("POST", f"{_MR}/draft_notes", "create_draft"),
        ("POST", f"{_MR}/draft_notes/bulk_publish", "bulk_publish_drafts"),
        ("GET", f"{_MR}/draft_notes/:draft", "get_draft"),
        ("PUT", f"{_MR}/draft_notes/:draft", "update_draft"),
        ("DELETE", f"{_MR}/draft_notes/:draft", "delete_draft"),
        ("PUT", f"{_MR}/draft_notes/:draft/publish", "publish_draft"),
        ("GET", f"{_MR}/approvals", "get_approvals"),
        ("POST", f"{_MR}/approve", "approve_mr"),
        ("POST", f"{_MR}/unapprove", "unapprove_mr"),
        ("GET", f"{_MR}/reviewers", "list_reviewers"),
        ("GET", f"{_MR}/resource_label_events", "list_label_events"),
        ("GET", "projects/:project/members/all/:user", "get_member_all"),
    ]
]


def _request(handler: BaseHTTPRequestHandler) -> Request:
    parts = urlsplit(handler.path)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    return Request(
        handler.command, parts.path, dict(pairs), pairs, nest(pairs), dict(handler.headers.items())
    )


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    params: dict[str, str] = {}
    for token, segment in zip(pattern, segments, strict=True):
        if token.startswith(":"):
            params[token[1:]] = segment
        elif token != segment:
            return None
    return params


# -- request helpers (pure) ---------------------------------------------------------------------


def parse_body(raw: bytes, content_type: str) -> Json:
    """JSON, form-encoded (``position[new_line]=5``) or multipart bodies, as nested params."""
    if not raw:
        return {}
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/json":
        parsed = json.loads(raw.decode("utf-8"))
        return parsed if isinstance(parsed, dict) else {}
    if kind == "multipart/form-data":
        message = email.message_from_bytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw, policy=email.policy.HTTP
        )
        pairs = []
        for part in message.iter_parts():
            payload = part.get_payload(decode=True)
            text = payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
            pairs.append((str(part.get_param("name", header="content-disposition")), text))
        return nest(pairs)
    return nest(parse_qsl(raw.decode("utf-8"), keep_blank_values=True))


def _parsed_body(raw: bytes, content_type: str) -> Json:
    try:
        return parse_body(raw, content_type)
    except (ValueError, UnicodeDecodeError) as error:  # json.JSONDecodeError is a ValueError
        raise ApiError(400, {"error": f"body is invalid: {error}"}) from None


def nest(pairs: list[tuple[str, str]]) -> Json:
    """Rack-style nesting: ``a[b][c]=1`` -> ``{"a": {"b": {"c": "1"}}}``, ``a[]=1`` -> list."""
    result: Json = {}
    for key, value in pairs:
        names = re.findall(r"[^\[\]]+|\[\]", key)
        target = result
        for name, after in itertools.zip_longest(names, names[1:]):
            if after is None:
                if name == "[]":
                    continue
                target[name] = value
            elif after == "[]":
                target.setdefault(name, []).append(value)
                break
            else:
                target = target.setdefault(name, {})
    return result


def _body_param(params: Json) -> str:
    if "body" not in params or params["body"] is None:
        raise _bad_request("body is missing")
    body = str(params["body"])
    if not body.strip():
        raise ApiError(400, {"message": '400 Bad request - Note {:note=>["can\'t be blank"]}'})
    if len(body) > 1_000_000:
        raise ApiError(
            400,
            {"message": '400 Bad request - Note {:note=>["is too long (maximum is 1000000 characters)"]}'},
        )
    return body


def _truthy(value: str | None) -> bool:
    return str(value).lower() in ("true", "1", "yes")


def _int_query(request: Request, key: str, default: int) -> int:
    value = request.query.get(key)
    if value in (None, ""):
        return default
    if not re.fullmatch(r"-?\d+", str(value)):
        raise _bad_request(f"{key} is invalid")
    number = int(str(value))
    return number if number > 0 else default


def _page_query(request: Request, page: int, per_page: int) -> str:
    pairs = [(k, v) for k, v in request.query_pairs if k not in ("page", "per_page")]
    return urlencode([*pairs, ("page", str(page)), ("per_page", str(per_page))], quote_via=quote)


def _path_sort_key(entry: Json) -> tuple[tuple[int, str], ...]:
    """``Gitlab::Diff::FileCollectionSorter``: at each level directories first, then by name."""
    parts = (entry["new_path"] or entry["old_path"]).split("/")
    return tuple((0 if n < len(parts) - 1 else 1, part) for n, part in enumerate(parts))


# -- HTTP plumbing ------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    standin: GitLabStandIn

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive client connections so their handler threads finish."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: _Server

    def do_GET(self) -> None:
        self.server.standin._handle(self)

    do_POST = do_PUT = do_DELETE = do_GET

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the stand-in records requests itself."""


def _send(handler: _Handler, response: Response) -> None:
    if response.body is None:
        payload = b""
    elif isinstance(response.body, bytes):
        payload = response.body
    elif isinstance(response.body, str) and not response.content_type.startswith("application/json"):
        payload = response.body.encode("utf-8")
    else:
        payload = json.dumps(response.body).encode("utf-8")
    handler.send_response(response.status)
    if response.status != 204:
        handler.send_header("Content-Type", response.content_type)
    handler.send_header("Content-Length", str(len(payload)))
    handler.send_header("X-Request-Id", hashlib.sha1(repr(id(handler)).encode()).hexdigest()[:26])
    for key, value in response.headers.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.wfile.write(payload)
