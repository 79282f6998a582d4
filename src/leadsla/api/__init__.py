"""The REST API adapter."""
