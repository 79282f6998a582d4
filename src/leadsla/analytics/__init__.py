"""Analytics beyond the SPEC §8 scorecard: demand waterfall, speed to lead, commitment
burn-up and closed-loop segments, computed with Polars and NumPy over the whole history.

An adapter: it imports the core (definitions in :mod:`leadsla.core.analytics`), never
the reverse. Definitions: ``docs/analytics.md``.
"""
