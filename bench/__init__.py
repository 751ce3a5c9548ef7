"""Reproducible benchmarks, each printing a table and ratios (DESIGN.md, bench/)."""
