"""Executor schema revisions."""
