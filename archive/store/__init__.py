"""Storage of archived messages: write, read, partitions, import, retention.

Encrypt, chain and index messages; decrypt them back; crypto-shred old months.
"""
