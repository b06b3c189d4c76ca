"""The bot's answers to people: to a command, to a question or a reply in one of its threads.

Every answer ends with a hidden marker naming the note it answers (``markers.reply_marker``), so a
retried task finds the answer it already wrote instead of writing it twice. Text from people and
from the model is rendered as prose with the primitives of ``reviewer.gitlab.markdown``: no
quick action, mention, link or image can form.
"""

from __future__ import annotations

from collections.abc import Sequence

from reviewer.gitlab.markdown import Markdown, _line, _made, code, sanitize
from reviewer.gitlab.markers import reply_marker


def reply(note_id: int, text: str) -> Markdown:
    """A short answer in plain words (or the model's answer), as untrusted prose."""
    return _made(f"{sanitize(text)}\n\n{reply_marker(note_id)}")


def help_reply(
    note_id: int,
    commands: Sequence[tuple[str, str]],
    settings: Sequence[tuple[str, str]],
    rules: Sequence[str] = (),
) -> Markdown:
    """What the bot answers to ``/ai-review help``: each command (as code) with what it does, the
    team's current settings, and the rules remembered for this repository, numbered for
    ``forget``."""
    lines = ["**AI review commands** (on a line of their own, in a comment or a thread):", ""]
    lines += [f"- {code(command)}: {_line(what)}" for command, what in commands]
    lines += ["", "**Settings for this merge request:**", ""]
    lines += [f"- {_line(name)}: {_line(value)}" for name, value in settings]
    if rules:
        lines += ["", "**Rules remembered for this repository:**", ""]
        lines += [f"{n}. {_line(rule)}" for n, rule in enumerate(rules, 1)]
    lines += ["", reply_marker(note_id)]
    return _made("\n".join(lines))
