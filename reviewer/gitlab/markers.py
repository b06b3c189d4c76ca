"""The hidden markers in the bot's notes: HTML comments GitLab keeps but does not show. They are how
the bot recognises what it wrote, on a re-review and after an answer GitLab lost. Written by
``reviewer.gitlab.markdown``, read by ``reviewer.gitlab.api``; this module is their one owner."""

from __future__ import annotations

import re

SUMMARY_MARKER = "<!-- ai-review summary -->"
RESOLVED_MARKER = "<!-- ai-review resolved -->"  # in the bot's reply saying why it resolves a thread
# groups: fingerprint, code hash, severity, aspect (the last three optional; older notes lack them)
FINGERPRINT_MARKER = re.compile(
    r"<!-- ai-review fp=([0-9a-f]{6,64})(?: code=([0-9a-f]{6,64}))?"
    r"(?: sev=([a-z]{1,10}))?(?: aspect=([a-z][a-z0-9_-]{0,30}))? -->"
)
ANY_MARKER = re.compile(r"<!-- ai-review [^<>]*-->")
# in the bot's answer to a person's note (a command, a question in a thread): which note it answers
REPLY_MARKER = re.compile(r"<!-- ai-review re=([0-9]{1,19}) -->")
_HEX = re.compile(r"[0-9a-f]{6,64}")
_WORD = re.compile(r"[a-z]{1,10}")
_ASPECT = re.compile(r"[a-z][a-z0-9_-]{0,30}")


def fingerprint_marker(
    fingerprint: str, anchor: str = "", severity: str = "", aspect: str = ""
) -> str | None:
    """A finding's marker: its fingerprint, the hash of the line it is about, and its severity and
    aspect (what the verdict of a later review weighs the open thread by); None for a fingerprint
    that is not a hash (nothing but hex and known words ever goes into a marker)."""
    if not _HEX.fullmatch(fingerprint):
        return None
    code = f" code={anchor}" if _HEX.fullmatch(anchor) else ""
    grade = f" sev={severity}" if _WORD.fullmatch(severity) else ""
    grade += f" aspect={aspect}" if grade and _ASPECT.fullmatch(aspect) else ""
    return f"<!-- ai-review fp={fingerprint}{code}{grade} -->"


def reply_marker(note_id: int) -> str:
    """The marker of the bot's answer to note ``note_id``: a retry finds it and answers no twice."""
    return f"<!-- ai-review re={int(note_id)} -->"


def fingerprints_in(body: str) -> tuple[str, ...]:
    """The fingerprints of the findings a note of the bot's lists, in order, each once."""
    return tuple(dict.fromkeys(m.group(1) for m in FINGERPRINT_MARKER.finditer(body)))


def answers(body: str, note_id: int) -> bool:
    """Whether a note of the bot's is its answer to note ``note_id``."""
    return any(m.group(1) == str(note_id) for m in REPLY_MARKER.finditer(body))


def without_markers(body: str) -> str:
    """A note's text without the bot's hidden markers."""
    return ANY_MARKER.sub("", body).strip()
