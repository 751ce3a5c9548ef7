"""Department scopes: a reviewer scoped to departments sees the staff in them today.

WeCom's directory, through the adapter, says who is in a department, sub-departments
included: `department/simplelist` gives the sub-departments and `user/simplelist` lists each
one (its `fetch_child` is no longer documented, so it is not relied on). The answer is cached
in the shared KV for five minutes, so a transfer takes effect within that time and a burst of
queries costs one walk of the directory. A failed walk refuses the query (503, audited).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from scrm.services import Services

CACHE_SECONDS = 300.0


class DepartmentsUnavailable(Exception):
    """The directory could not be read; the query must be refused (fail closed)."""


async def staff_of_departments(services: Services, departments: Sequence[str]) -> tuple[str, ...]:
    """The userids of every member of `departments` (sorted, deduplicated)."""
    if services.wecom is None or services.kv is None:
        raise DepartmentsUnavailable("no WeCom directory is configured")
    staff: set[str] = set()
    corp = services.settings.wecom.corp_id  # one Redis may serve several corps
    for department in departments:
        key = services.kv.keys("archive", "department", corp, department)
        cached = await services.kv.get(key)
        if cached is not None:
            members = json.loads(cached)
        else:
            try:
                members = await services.wecom.department_members(int(department))
            except Exception as exc:  # WeComAPIError, timeouts: refuse rather than guess
                raise DepartmentsUnavailable(f"{type(exc).__name__}: {exc}") from None
            await services.kv.set(key, json.dumps(members), ttl=CACHE_SECONDS)
        staff.update(members)
    return tuple(sorted(staff))
