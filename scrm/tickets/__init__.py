"""Tickets (工单): one pool fed from every entrance, routed to group channels, timed by SLAs.

models · states (the state machine) · routing (pure) · calendar (business hours, pure) ·
service (create, transition, comment, change) · handlers (ticket.requested, alert.raised) ·
notices (texts) · notify (delivery through the effect ledger) · sla (the sweep) ·
managers (escalation to the assignee's manager) · stats · the REST API: api (tickets),
group_channels_api, routes_api, sla_api.
"""
