"""Hand-written profiling notes included in ``docs/benchmarks.md`` (update them when you re-profile:
they are the one part of the page the bench does not measure on each run)."""

PROFILE_NOTES = """
### Profile of magec's request path

(to be filled in)
"""
