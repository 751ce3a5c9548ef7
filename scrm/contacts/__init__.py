"""Contacts: customers, follow relations, corp tags — kept in step with WeCom."""
