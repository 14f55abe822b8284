"""Benchmarks, each beside its baseline in the same run; ``python -m bench`` writes docs/benchmarks.md."""
