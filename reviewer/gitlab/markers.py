"""The hidden markers in the bot's notes: HTML comments GitLab keeps but does not show. They are how
the bot recognises what it wrote, on a re-review and after an answer GitLab lost. Written by
``reviewer.gitlab.markdown``, read by ``reviewer.gitlab.api``; this module is their one owner."""

from __future__ import annotations

import re

SUMMARY_MARKER = "<!-- ai-review summary -->"
RESOLVED_MARKER = "<!-- ai-review resolved -->"  # in the bot's reply saying why it resolves a thread
FINGERPRINT_MARKER = re.compile(r"<!-- ai-review fp=([0-9a-f]{6,64})(?: code=([0-9a-f]{6,64}))? -->")
ANY_MARKER = re.compile(r"<!-- ai-review [^<>]*-->")
_HEX = re.compile(r"[0-9a-f]{6,64}")


def fingerprint_marker(fingerprint: str, anchor: str = "") -> str | None:
    """A finding's marker: its fingerprint and the hash of the line it is about; None for a
    fingerprint that is not a hash (nothing but hex ever goes into a marker)."""
    if not _HEX.fullmatch(fingerprint):
        return None
    code = f" code={anchor}" if _HEX.fullmatch(anchor) else ""
    return f"<!-- ai-review fp={fingerprint}{code} -->"
