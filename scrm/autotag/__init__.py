"""Auto-tagging wired into the service: rules in the database, the chat handler, the API.

The engine itself is the pure `tagging` package; this package stores rules, keeps every
process's compiled `RuleBook` current, records hits and performs actions through adapters.
"""
