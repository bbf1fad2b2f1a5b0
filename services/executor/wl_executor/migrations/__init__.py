"""Alembic history of the executor schema (hand-written; runs on SQLite and PostgreSQL)."""
