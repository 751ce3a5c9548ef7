"""Tamper evidence: hash chains, signed checkpoints and `archive verify`.

Message and audit-log chains, the chained checkpoints that sign their heads.
"""
