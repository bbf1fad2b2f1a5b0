"""The demo data ``--seed demo`` loads into an empty data directory (the local-run contract).

Accounts (user → API token → orgs it may write):

* ``alice`` → ``sandbox-token-alice`` → ``alice``
* ``bob`` → ``sandbox-token-bob`` → ``bob``
* ``hop-maintainer`` → ``sandbox-token-hop`` → ``hop``
* org ``kilo-wastelands`` has no members: nobody can write the template.

Databases:

* ``hop/wl-commons`` (public): commons schema v1.2 (``wasteland_common/commons.sql``),
  ``_meta`` with ``schema_version`` 1.2 and ``wasteland_name``, three rigs, and seven wanted items
  ``w-demo-001``…``w-demo-007``: five ``open`` (feature/bug/docs/design/rfc at priorities
  0…4), one ``claimed`` and one ``completed`` with its completion and stamp.
* ``kilo-wastelands/wl-template`` (public): the schema and ``_meta`` only.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import closing
from datetime import datetime

from wasteland_common import commons

from . import dialect, sqlrun
from .repo import Repo
from .snapshot import connect
from .storage import Store

USERS = [
    ("alice", "alice@example.com", "sandbox-token-alice"),
    ("bob", "bob@example.com", "sandbox-token-bob"),
    ("hop-maintainer", "maintainer@hop.example", "sandbox-token-hop"),
]
ORGS = {"hop": ["hop-maintainer"], "kilo-wastelands": []}

COMMONS = ("hop", "wl-commons")
TEMPLATE = ("kilo-wastelands", "wl-template")
MAINTAINER = "hop-maintainer"

RIGS = [
    "INSERT INTO rigs (handle, display_name, dolthub_org, hop_uri, owner_email, gt_version,"
    " trust_level, registered_at, last_seen) VALUES"
    " ('hop-maintainer', 'Hop Maintainer', 'hop', 'hop://maintainer@hop.example/hop-maintainer/',"
    "  'maintainer@hop.example', 'dev', 3, '2026-03-01 09:00:00', '2026-03-01 09:00:00'),"
    " ('scav-ruby', 'Ruby the Scavenger', 'scav-ruby', 'hop://ruby@scav.example/scav-ruby/',"
    "  'ruby@scav.example', 'dev', 1, '2026-03-01 10:00:00', '2026-03-02 10:00:00'),"
    " ('scav-otto', 'Otto the Tinkerer', 'scav-otto', 'hop://otto@scav.example/scav-otto/',"
    "  'otto@scav.example', 'dev', 2, '2026-03-01 11:00:00', '2026-03-03 11:00:00')",
]

_WANTED_COLUMNS = (
    "INSERT INTO wanted (id, title, description, project, type, priority, tags, posted_by,"
    " claimed_by, status, effort_level, evidence_url, created_at, updated_at) VALUES "
)
WANTED = [
    _WANTED_COLUMNS + "('w-demo-001', 'Add a dark mode to the wanted board',"
    " 'The board is hard to read at night. Add a dark theme that follows the OS setting.',"
    " 'board', 'feature', 0, '[\"ui\",\"board\"]', 'hop-maintainer', NULL, 'open', 'medium',"
    " NULL, '2026-03-02 09:00:00', '2026-03-02 09:00:00')",
    _WANTED_COLUMNS + "('w-demo-002', 'Claim button submits twice on slow networks',"
    " 'Double clicks create two claim attempts; debounce the button.',"
    " 'board', 'bug', 1, '[\"ui\"]', 'scav-otto', NULL, 'open', 'small',"
    " NULL, '2026-03-02 10:00:00', '2026-03-02 10:00:00')",
    _WANTED_COLUMNS + "('w-demo-003', 'Document the rig registration flow',"
    " 'Explain wl join, the fork and the registration pull request.',"
    " 'docs', 'docs', 2, NULL, 'hop-maintainer', NULL, 'open', 'small',"
    " NULL, '2026-03-02 11:00:00', '2026-03-02 11:00:00')",
    _WANTED_COLUMNS + "('w-demo-004', 'Sketch badge artwork for first completions',"
    " NULL, 'art', 'design', 3, '[\"badges\",\"art\"]', 'scav-ruby', NULL, 'open', 'medium',"
    " NULL, '2026-03-02 12:00:00', '2026-03-02 12:00:00')",
    _WANTED_COLUMNS + "('w-demo-005', 'RFC: stamps should decay over time',"
    " 'Proposal: old stamps weigh less in the scoreboard.',"
    " 'protocol', 'rfc', 4, '[\"stamps\"]', 'hop-maintainer', NULL, 'open', 'large',"
    " NULL, '2026-03-02 13:00:00', '2026-03-02 13:00:00')",
    _WANTED_COLUMNS + "('w-demo-006', 'Export the leaderboard as CSV',"
    " 'A download button on the leaderboard page.',"
    " 'board', 'feature', 2, '[\"export\"]', 'hop-maintainer', 'scav-ruby', 'claimed', 'small',"
    " NULL, '2026-03-02 14:00:00', '2026-03-03 09:00:00')",
    _WANTED_COLUMNS + "('w-demo-007', 'Fix the broken link in the README',"
    " 'The quickstart link points to a renamed page.',"
    " 'docs', 'bug', 1, NULL, 'hop-maintainer', 'scav-otto', 'completed', 'trivial',"
    " 'https://example.com/pr/7', '2026-03-02 15:00:00', '2026-03-04 09:00:00')",
]

COMPLETION = [
    "INSERT INTO completions (id, wanted_id, completed_by, evidence, validated_by, stamp_id,"
    " hop_uri, completed_at, validated_at) VALUES ('c-demo-007', 'w-demo-007', 'scav-otto',"
    " 'https://example.com/pr/7', 'hop-maintainer', 's-demo-007',"
    " 'hop://otto@scav.example/scav-otto/', '2026-03-03 16:00:00', '2026-03-04 09:00:00')",
    "INSERT INTO stamps (id, author, subject, valence, confidence, severity, context_id,"
    " context_type, skill_tags, message, hop_uri, created_at) VALUES ('s-demo-007',"
    " 'hop-maintainer', 'scav-otto', '{\"quality\": 4, \"reliability\": 5}', 1.0, 'leaf',"
    " 'c-demo-007', 'completion', '[\"docs\"]', 'Quick and tidy fix.',"
    " 'hop://maintainer@hop.example/hop-maintainer/', '2026-03-04 09:00:00')",
]


def commons_ddl() -> list[str]:
    """The statements of the commons schema v1.2 plus the schema_version row."""
    return commons.ddl_statements()


def commit_statements(
    store: Store,
    owner: str,
    database: str,
    statements: list[str],
    *,
    message: str,
    author: str,
    now: datetime,
    clock: Callable[[], datetime],
) -> str:
    """Run MySQL statements on ``main`` and commit them as one commit; returns its id."""
    repo = Repo(store, owner, database)
    head = repo.resolve("main")
    scratch = store.scratch_copy(head)
    with closing(connect(scratch, writable=True)) as conn:
        sqlrun.register_functions(conn, clock)
        hooks = sqlrun.DoltEmulation(conn, repo, "main", head)
        for statement in statements:
            sqlrun.run_write(conn, dialect.parse_statement(statement), hooks)
    commit = store.commit_snapshot(
        scratch, parents=(head,), message=message, committer=author, now=now
    )
    store.set_branch(owner, database, "main", commit)
    return commit


def seed_demo(store: Store, clock: Callable[[], datetime]) -> None:
    """Load the demo accounts and databases into an empty store."""
    now = clock()
    for name, email, token in USERS:
        store.add_user(name, email, token, now)
    for org, members in ORGS.items():
        store.add_org(org, members)

    def commit(db: tuple[str, str], statements: list[str], message: str) -> None:
        commit_statements(
            store, *db, statements, message=message, author=MAINTAINER, now=clock(), clock=clock
        )

    store.create_database(
        *COMMONS, "public", "The Wasteland commons (sandbox demo)", author=MAINTAINER, now=now
    )
    commit(
        COMMONS,
        [
            *commons_ddl(),
            "INSERT IGNORE INTO _meta (`key`, value) VALUES ('wasteland_name', 'wl-commons')",
        ],
        "Initialize commons schema v1.2",
    )
    commit(COMMONS, RIGS, "Register the demo rigs")
    commit(COMMONS, WANTED[:5], "Post the demo wanted items")
    commit(COMMONS, WANTED[5:] + COMPLETION, "Demo history: one claimed, one completed item")

    store.create_database(
        *TEMPLATE,
        "public",
        "Empty Wasteland commons template (schema v1.2)",
        author=MAINTAINER,
        now=now,
    )
    commit(TEMPLATE, commons_ddl(), "Initialize commons schema v1.2")
