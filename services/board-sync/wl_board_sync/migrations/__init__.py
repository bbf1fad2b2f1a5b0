"""Alembic migrations of board-sync (run by ``wasteland_common.db.migrate`` at start)."""
