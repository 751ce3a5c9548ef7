"""Leads (线索): a scan → a mobile form → a lead assigned to someone who must follow up."""
