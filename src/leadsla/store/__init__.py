"""Storage adapter: the schema, migrations and the repository the service writes through."""
