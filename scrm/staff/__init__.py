"""Staff pages (``/s/…``): what a WeCom app-message link opens on a staff member's phone.

Signed in through WeCom's OAuth (`oauth`, `session`), authorised per page (`access`),
rendered on the server over the same services as the API (`customers`, `leads`, `tickets`).
"""
