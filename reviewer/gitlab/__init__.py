"""Everything written to or read from GitLab: the python-gitlab client, publishing findings and the
summary, and follow-up increments.

Rule: only this package imports python-gitlab.
"""
