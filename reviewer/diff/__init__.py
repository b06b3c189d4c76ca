"""Diffs: GitLab's per-file diffs and unified diffs parsed into FileDiff/Hunk/DiffLine, the lines a
comment can sit on (GitLab positions), and the numbered rendering the model reads.

Rule: pure data and computation; imports nothing of the project but ``reviewer.errors`` and
``reviewer.review.findings``' small value types.
"""
