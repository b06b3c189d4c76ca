"""Everything written to or read from GitLab: the python-gitlab client, the one markdown renderer,
publishing findings and the summary, and follow-up increments.

Rules: only this package imports python-gitlab; only ``markdown`` makes the text written to GitLab
(the client's write methods take its ``Markdown`` values and nothing else).
"""
