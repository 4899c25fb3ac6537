"""PostgreSQL persistence for dispatch: registries, search, trips, events, documents, users and
the access log (one module each; the SQL helpers live in :mod:`dispatch.store._sql`).

Every function takes the connection first and its options keyword-only; none decides anything.
:mod:`dispatch.models` holds the values they take and return; it imports no psycopg, so
pure modules (the CSV import) may use the models.
"""
