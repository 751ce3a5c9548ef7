"""Reviewer access: the archive API, queries and scopes, search, export, audit log.

Who may read what, and the audit log of every request.
"""
