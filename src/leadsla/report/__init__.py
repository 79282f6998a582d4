"""Adapters for large histories, on Polars and NumPy around the core: columnar reading
and evaluation (:mod:`.engine`), and the analytics beyond the SPEC §8 scorecard —
demand waterfall, speed to lead, commitment burn-up and closed-loop segments.

Adapters import the core (definitions in :mod:`leadsla.core.analytics`), never the
reverse. Definitions: ``docs/analytics.md``.
"""
