"""How a damaged link reads in `archive verify`'s output: where, what, and which record."""

from __future__ import annotations

from collections.abc import Mapping

from archive.integrity.problems import Problem


def problem_line(where: str, problem: Problem, msgids: Mapping[int | str, str]) -> str:
    """``{where} conversation … position N: kind record R (msgid M): detail``."""
    record = ""
    if problem.record_id is not None:
        record = f" record {problem.record_id} (msgid {msgids.get(problem.record_id, '?')})"
    chain = f" conversation {problem.chain[:16]}" if problem.chain else ""
    return f"{where}{chain} position {problem.position}: {problem.kind}{record}: {problem.detail}"
