"""Benchmarks, each beside its baseline in the same run; ``python -m bench`` writes docs/benchmarks.md."""

# The schema's migrations, as ``sealgate db upgrade`` applies them: a location, not an import of the top.
MIGRATIONS = "sealgate:migrations"
