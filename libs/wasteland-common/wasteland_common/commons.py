"""The Wasteland commons schema (v1.2): the DDL a new commons is created with.

``commons.sql`` is written from the table in ``/work/shared/spec/wasteland-protocol.md``
section 1 (MySQL dialect, as Dolt runs it). The registry loads it into a freshly created
database; the DoltHub sandbox seeds its demo databases with it.
"""

from __future__ import annotations

from importlib import resources

SCHEMA_VERSION = "1.2"


def ddl_statements() -> list[str]:
    """The statements of ``commons.sql``: the nine tables and the schema_version row."""
    text = resources.files("wasteland_common").joinpath("commons.sql").read_text("utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("--")]
    # The file has no semicolon inside a literal, so a statement ends at each one.
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
