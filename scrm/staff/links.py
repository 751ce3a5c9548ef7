"""Where the staff pages live: the paths notices link to (``{SCRM_PUBLIC_URL}`` + path)."""

from __future__ import annotations

from urllib.parse import quote


def customer_path(external_userid: str) -> str:
    return f"/s/customers/{quote(external_userid, safe='')}"


def lead_path(lead_id: int) -> str:
    return f"/s/leads/{lead_id}"


def ticket_path(ticket_id: int) -> str:
    return f"/s/tickets/{ticket_id}"
