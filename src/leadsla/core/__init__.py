"""The pure domain core: calendars, durations, events, policies and the SLA clock.

Nothing here reads the wall clock, touches files or imports a framework; adapters
(config loader, CLI, storage, API) hand it plain values.
"""
