"""The report (SPEC §8 scorecard and the analytics beyond it), on Polars and NumPy
around the core. Where things are:

* :mod:`.settings`: what the report reads of the rulebook and config, built once.
* :mod:`.sources`: the events of a file (:mod:`.fast_reader`, the Polars reader, or
  the careful reader) or of the database, as one lead-grouped table.
* :mod:`.full`: the report of such a table, from :mod:`.scorecard` and
  :mod:`.analytics` (demand waterfall, speed to lead, commitment burn-up; and the
  closed-loop segments), which work on :mod:`.columns`, :mod:`.leads` and
  :mod:`.figures`; :mod:`.sidecar` computes the analytics keys of a large file in a
  second process.
* :mod:`.partials` and :mod:`.partition`: a history larger than memory, split by a
  hash of the lead id, computed in parts (worker processes) and merged exactly.
* :mod:`.formats` and :mod:`.charts`: the report as CSV, HTML and charts;
  :mod:`.clocks_csv`: the clocks CSV of ``leadsla evaluate``.

Nothing here imports the service layer or the web; the core never imports this
package. SQLAlchemy loads only when the database is read. Definitions:
``docs/analytics.md``.
"""
