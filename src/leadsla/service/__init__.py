"""Use cases over the store: ingest events, read clocks and leads, manage tokens."""
