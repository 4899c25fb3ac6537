"""Registries, passenger search, booking, quota and co-payment, trip lifecycle, assignment."""
