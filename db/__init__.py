"""Database plumbing: connections, migrations and the time-series store."""

from db.connect import DatabaseUnavailable, connect, mask_url

__all__ = ["DatabaseUnavailable", "connect", "mask_url"]
