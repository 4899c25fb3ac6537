"""Seeding, separate from migrations: reference data mirrored from the rules file."""

from __future__ import annotations

import psycopg

from config.rules import Rules


def sync_rules(conn: psycopg.Connection, rules: Rules) -> int:
    """Upsert the benefit categories of ``rules`` into the database; return how many."""
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO benefit_categories"
            " (code, name, monthly_limit, yearly_limit, rules_version)"
            " VALUES (%s, %s, %s, %s, %s)"
            " ON CONFLICT (code) DO UPDATE SET name = EXCLUDED.name,"
            " monthly_limit = EXCLUDED.monthly_limit, yearly_limit = EXCLUDED.yearly_limit,"
            " rules_version = EXCLUDED.rules_version",
            [
                (c.code, c.name, c.monthly_limit, c.yearly_limit, rules.version)
                for c in rules.benefit_categories
            ],
        )
    return len(rules.benefit_categories)
