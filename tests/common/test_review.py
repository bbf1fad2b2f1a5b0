"""The review rules over pull-request diffs: classification, warnings, the merge check
and the self-stamp rule.

Diffs are built by replaying `wl`'s DML (protocol spec §2.3) on rows, as Dolt would
report the branch against its merge base; the properties run over generated lifecycle
paths, generated rows and generated upstream moves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

from hypothesis import given
from hypothesis import strategies as st
from wasteland_common import review
from wasteland_common.dolthub.diffs import RowChange
from wasteland_common.review import Classification, PullSource

UP = ("hop", "wl-commons")
Row = dict[str, str | None]


def source(branch: str, owner: str = "bob") -> PullSource:
    return PullSource(owner, UP[1], branch, *UP)


def classify(
    changes: Sequence[RowChange] | None, branch: str = "wl/bob/w-1", owner: str = "bob"
) -> Classification:
    return review.classify(source(branch, owner), changes, upstream_owner=UP[0], upstream_db=UP[1])


def item(status: str = "open", claimed_by: str | None = None, **extra: str | None) -> Row:
    row: Row = {
        "id": "w-1",
        "title": "An item",
        "status": status,
        "claimed_by": claimed_by,
        "posted_by": "hop",
        "evidence_url": None,
        "updated_at": "2026-03-01 00:00:00",
    }
    row.update(extra)
    return row


@dataclass
class Commons:
    """A commons with one wanted item, changed by replaying `wl`'s statements; ``diff``
    says what changed since ``base`` like ``dolt_diff`` from the merge base does."""

    tables: dict[str, dict[str, Row]] = field(default_factory=dict)

    @classmethod
    def with_item(cls, status: str, claimed_by: str | None) -> Commons:
        commons = cls({"wanted": {"w-1": item(status, claimed_by)}})
        if status in ("in_review", "completed"):
            commons.tables["completions"] = {
                "c-1": {"id": "c-1", "wanted_id": "w-1", "completed_by": claimed_by}
            }
        return commons

    def copy(self) -> Commons:
        return Commons(
            {t: {k: dict(r) for k, r in rows.items()} for t, rows in self.tables.items()}
        )

    def row(self, table: str, key: str) -> Row:
        return self.tables.setdefault(table, {})[key]

    def put(self, table: str, key: str, row: Row) -> None:
        self.tables.setdefault(table, {})[key] = row

    def diff(self, base: Commons) -> list[RowChange]:
        changes: list[RowChange] = []
        for table in sorted(set(self.tables) | set(base.tables)):
            old, new = base.tables.get(table, {}), self.tables.get(table, {})
            for key in sorted(set(old) | set(new)):
                before, after = old.get(key), new.get(key)
                if before == after:
                    continue
                kind = "added" if before is None else "removed" if after is None else "modified"
                changes.append(RowChange(table, kind, key, before or {}, after or {}))
        return changes


# `wl`'s statements (spec §2.3), as row edits on the item w-1.
def claim(c: Commons, rig: str) -> None:
    c.row("wanted", "w-1").update(status="claimed", claimed_by=rig, updated_at="now")


def unclaim(c: Commons, rig: str) -> None:
    c.row("wanted", "w-1").update(status="open", claimed_by=None, updated_at="now")


def done(c: Commons, rig: str) -> None:
    c.row("wanted", "w-1").update(status="in_review", evidence_url="https://e.x/1")
    c.put("completions", "c-2", {"id": "c-2", "wanted_id": "w-1", "completed_by": rig})


def accept(c: Commons, rig: str) -> None:
    completion = next(iter(c.tables["completions"].values()))
    c.put(
        "stamps",
        "s-1",
        {"id": "s-1", "author": rig, "subject": completion["completed_by"], "valence": "{}"},
    )
    completion.update(validated_by=rig, stamp_id="s-1")
    c.row("wanted", "w-1").update(status="completed")


def close(c: Commons, rig: str) -> None:
    c.row("wanted", "w-1").update(status="completed")


def reject(c: Commons, rig: str) -> None:
    c.tables["completions"] = {}
    c.row("wanted", "w-1").update(status="claimed")


STEPS = {
    "claim": (claim, "open", "claimed"),
    "unclaim": (unclaim, "claimed", "open"),
    "done": (done, "claimed", "in_review"),
    "accept": (accept, "in_review", "completed"),
    "close": (close, "in_review", "completed"),
    "reject": (reject, "in_review", "claimed"),
}


def step_diff(name: str, rig: str = "bob") -> list[RowChange]:
    apply, start, _ = STEPS[name]
    base = Commons.with_item(start, None if start == "open" else "bob")
    branch = base.copy()
    apply(branch, rig)
    return branch.diff(base)


# --------------------------------------------------------------------------- kinds


@given(st.sampled_from(sorted(STEPS)), st.sampled_from(["bob", "alice", "scav-otto"]))
def test_every_single_lifecycle_step_is_named_after_itself(name: str, rig: str) -> None:
    got = classify(step_diff(name, rig), branch=f"wl/{rig}/w-1")
    assert got == Classification(name, "w-1", rig)  # type: ignore[arg-type]


# A branch is one rig's: the claimer's steps, or a maintainer's.
ROLES = (("claim", "unclaim", "done"), ("accept", "close", "reject"))


@st.composite
def branch_paths(draw: st.DrawFn) -> tuple[str, list[str]]:
    """A start status and a lifecycle path from it, as one rig's branch may hold it."""
    start = draw(st.sampled_from(["open", "claimed", "in_review"]))
    role = draw(st.sampled_from(ROLES))
    path: list[str] = []
    status = start
    for _ in range(draw(st.integers(1, 4))):
        options = sorted(n for n, (_, frm, _) in STEPS.items() if frm == status and n in role)
        if not options:
            break
        name = draw(st.sampled_from(options))
        path.append(name)
        status = STEPS[name][2]
    return start, path


def expected_kind(start: str, end: str, stamped: bool) -> str:
    if start == end:
        return "none"
    return {
        ("open", "claimed"): "claim",
        ("claimed", "open"): "unclaim",
        ("claimed", "in_review"): "done",
        ("open", "in_review"): "done",
        ("in_review", "completed"): "accept" if stamped else "close",
        ("in_review", "claimed"): "reject",
    }.get((start, end), "other")


@given(branch_paths())
def test_a_branch_is_named_after_where_it_takes_the_item(path: tuple[str, list[str]]) -> None:
    start, steps = path
    base = Commons.with_item(start, None if start == "open" else "bob")
    branch = base.copy()
    for name in steps:
        STEPS[name][0](branch, "bob")
    changes = branch.diff(base)
    end = branch.row("wanted", "w-1")["status"] or ""
    stamped = bool(branch.tables.get("stamps"))
    want = expected_kind(start, end, stamped)
    got = classify(changes)
    if want == "none":
        # Back where it started (a claim and an unclaim): nothing the lifecycle names.
        assert got.kind == "other", (start, steps, changes)
    else:
        assert got.kind == want, (start, steps, changes)
    if steps:
        assert got.wanted_id == "w-1"


def test_a_post_is_one_added_wanted_row() -> None:
    base = Commons()
    branch = base.copy()
    branch.put("wanted", "w-new", item() | {"id": "w-new"})
    assert classify(branch.diff(base), branch="wl/bob/w-new") == Classification(
        "post", "w-new", "bob"
    )


def rig_row(handle: str, **extra: str | None) -> Row:
    return {"handle": handle, "dolthub_org": "bob", "trust_level": "1", **extra}


def test_a_registration_and_a_town() -> None:
    registration = [RowChange("rigs", "added", "bob", {}, rig_row("bob"))]
    assert classify(registration, branch="wl/register/bob") == Classification(
        "registration", None, "bob"
    )
    # Re-registering (ON DUPLICATE KEY UPDATE) is a registration too.
    updated = [RowChange("rigs", "modified", "bob", rig_row("bob"), rig_row("bob", hop_uri="x"))]
    assert classify(updated, branch="wl/register/bob").kind == "registration"
    town = [
        RowChange(
            "rigs", "added", "bob-town", {}, rig_row("bob-town", rig_type="agent", parent_rig="bob")
        ),
        RowChange(
            "rig_links", "added", "rl-1", {}, {"id": "rl-1", "rig_a": "bob", "rig_b": "bob-town"}
        ),
    ]
    assert classify(town, branch="wl/register/bob-town") == Classification("town", None, "bob")
    # A link that does not join the town to its parent is not a town.
    bad = [town[0], replace(town[1], after={"id": "rl-1", "rig_a": "eve", "rig_b": "bob-town"})]
    assert classify(bad, branch="wl/register/bob-town").kind == "other"


def test_fork_syncs_and_unreadable_or_mixed_changes() -> None:
    sync = PullSource("hop", "wl-commons", "main", "bob", "wl-commons")
    assert review.classify(sync, [], upstream_owner="hop", upstream_db="wl-commons").kind == (
        "fork_sync"
    )
    assert classify(None) == Classification("other", "w-1", "bob")
    assert classify([]) == Classification("other", "w-1", "bob")
    mixed = [*step_diff("claim"), RowChange("badges", "added", "b-1", {}, {"id": "b-1"})]
    assert classify(mixed).kind == "other"
    two = [*step_diff("claim"), replace(step_diff("claim")[0], key="w-2")]
    assert classify(two).kind == "other"
    withdrawn = [RowChange("wanted", "modified", "w-1", item("open"), item("withdrawn"))]
    assert classify(withdrawn).kind == "other"


def test_the_author_comes_from_the_branch_else_the_forks_org() -> None:
    changes = step_diff("claim")
    by_org = review.classify(
        source("main-work", owner="bob"),
        changes,
        upstream_owner=UP[0],
        upstream_db=UP[1],
        rig_of_org={"bob": "bob-rig"},
    )
    assert (by_org.kind, by_org.author_rig) == ("claim", "bob-rig")
    assert classify(changes, branch="feature/x").author_rig is None


rows = st.dictionaries(
    st.sampled_from(["id", "status", "claimed_by", "subject", "wanted_id", "rig_type", "x"]),
    st.one_of(st.none(), st.text(max_size=5)),
    max_size=5,
)
row_changes = st.builds(
    RowChange,
    table=st.sampled_from(["wanted", "completions", "stamps", "rigs", "rig_links", "_meta"]),
    kind=st.sampled_from(["added", "modified", "removed"]),
    key=st.text(min_size=0, max_size=4),
    before=rows,
    after=rows,
)


@given(st.lists(row_changes, max_size=6), st.text(max_size=20))
def test_classification_is_total(changes: list[RowChange], branch: str) -> None:
    got = classify(changes, branch=branch)
    assert got.kind in review.PULL_KINDS
    assert review.warnings(got, changes, {}) is not None


@given(st.sampled_from(sorted(STEPS)), st.sampled_from(["badges", "_meta", "chain_meta"]))
def test_touching_any_other_table_makes_it_other(name: str, table: str) -> None:
    extra = RowChange(table, "added", "k", {}, {"id": "k"})
    assert classify([*step_diff(name), extra]).kind == "other"


# --------------------------------------------------------------------------- warnings


def test_a_done_by_someone_who_is_not_the_claimer_is_flagged() -> None:
    own = step_diff("done", "bob")
    upstream = {("wanted", "w-1"): item("claimed", "bob")}
    assert review.warnings(classify(own), own, upstream) == []
    # carol's branch submits a done for bob's claim.
    carols = step_diff("done", "carol")
    got = review.warnings(classify(carols, branch="wl/carol/w-1"), carols, upstream)
    assert [w.code for w in got] == [review.DONE_NOT_BY_CLAIMER]
    assert "carol" in got[0].message
    assert "bob" in got[0].message
    # Nobody claimed it upstream and the branch did not claim it either.
    unclaimed = {("wanted", "w-1"): item("open")}
    got = review.warnings(classify(own), own, unclaimed)
    assert [w.code for w in got] == [review.DONE_NOT_BY_CLAIMER]
    # A claim and a done on one branch: the claimer is the branch's own claim.
    base = Commons.with_item("open", None)
    branch = base.copy()
    claim(branch, "bob")
    done(branch, "bob")
    both = branch.diff(base)
    assert review.warnings(classify(both), both, unclaimed) == []


def test_a_claim_for_another_rig_is_flagged() -> None:
    changes = step_diff("claim", "carol")
    got = review.warnings(classify(changes, branch="wl/bob/w-1"), changes, {})
    assert [w.code for w in got] == [review.CLAIM_FOR_ANOTHER_RIG]


# --------------------------------------------------------------------------- merging

values = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))
full_rows = st.fixed_dictionaries({"id": st.just("k"), "x": values, "y": values})


@given(full_rows, full_rows)
def test_an_unchanged_upstream_always_merges(base: Row, after: Row) -> None:
    change = RowChange("wanted", "modified", "k", base, after)
    assert review.conflicts([change], {("wanted", "k"): base}) == []
    added = RowChange("wanted", "added", "k", {}, after)
    assert review.conflicts([added], {}) == []
    removed = RowChange("wanted", "removed", "k", base, {})
    assert review.conflicts([removed], {("wanted", "k"): base}) == []


@given(full_rows, full_rows)
def test_an_upstream_that_already_has_the_change_merges(base: Row, after: Row) -> None:
    change = RowChange("wanted", "modified", "k", base, after)
    assert review.conflicts([change], {("wanted", "k"): after}) == []


@given(full_rows, full_rows, full_rows)
def test_cell_wise_three_way_rule(base: Row, after: Row, now: Row) -> None:
    change = RowChange("wanted", "modified", "k", base, after)
    clash = any(
        after[c] != base[c] and now[c] != base[c] and now[c] != after[c] for c in ("x", "y")
    )
    assert bool(review.conflicts([change], {("wanted", "k"): now})) == clash


def test_rows_gone_or_added_on_both_sides() -> None:
    base, after = item("open"), item("claimed", "bob")
    modified = RowChange("wanted", "modified", "w-1", base, after)
    assert review.conflicts([modified], {}) == [("wanted", "w-1")]  # deleted upstream
    added = RowChange("wanted", "added", "w-1", {}, after)
    assert review.conflicts([added], {("wanted", "w-1"): after}) == []
    assert review.conflicts([added], {("wanted", "w-1"): base}) == [("wanted", "w-1")]
    removed = RowChange("wanted", "removed", "w-1", base, {})
    assert review.conflicts([removed], {}) == []
    assert review.conflicts([removed], {("wanted", "w-1"): after}) == [("wanted", "w-1")]


def test_a_claim_after_someone_elses_claim_conflicts() -> None:
    changes = step_diff("claim", "bob")
    assert review.conflicts(changes, {("wanted", "w-1"): item("claimed", "carol")}) != []
    assert review.conflicts(changes, {("wanted", "w-1"): item("open")}) == []


# --------------------------------------------------------------------------- stamps


def test_the_subjects_of_a_stamp_and_who_may_merge_it() -> None:
    changes = step_diff("accept", "alice")  # alice stamps bob's completion
    subjects = review.stamp_subjects(changes)
    assert subjects == ["bob"]
    assert review.stamps_own_work(subjects, "bob", {})
    assert not review.stamps_own_work(subjects, "alice", {})
    assert not review.stamps_own_work(subjects, None, {})
    # bob's town is bob's work too, and so is any rig of bob's DoltHub org.
    town = {"bob-town": review.Subject(parent_rig="bob", dolthub_org="bob")}
    assert review.stamps_own_work(["bob-town"], "bob", town)
    assert review.stamps_own_work(["bob-town"], None, town, org="bob")
    assert not review.stamps_own_work(["bob-town"], "alice", town, org="alice")
    assert review.stamp_subjects(step_diff("claim")) == []


@given(
    st.lists(st.sampled_from(["a", "b", "c"]), max_size=3),
    st.sampled_from(["a", "b", "z"]),
    st.dictionaries(
        st.sampled_from(["a", "b", "c"]),
        st.builds(
            review.Subject,
            parent_rig=st.sampled_from([None, "a", "z"]),
            dolthub_org=st.sampled_from([None, "org-a", "org-z"]),
        ),
    ),
    st.sampled_from([None, "org-a", "org-z"]),
)
def test_nobody_merges_a_stamp_of_their_own_work(
    subjects: list[str], rig: str, known: dict[str, review.Subject], org: str | None
) -> None:
    own = review.stamps_own_work(subjects, rig, known, org=org)
    mine = {
        s
        for s in subjects
        if s == rig
        or known.get(s, review.Subject()).parent_rig == rig
        or (org is not None and known.get(s, review.Subject()).dolthub_org == org)
    }
    assert own == bool(mine)
    # Stamping only other people's work is never refused.
    assert not review.stamps_own_work([s for s in subjects if s not in mine], rig, known, org=org)


def test_branch_names() -> None:
    assert review.parse_branch("wl/bob/w-1") == review.Branch("bob", "w-1")
    assert review.parse_branch("wl/register/bob") == review.Branch("bob", None)
    for name in ("main", "wl/bob", "wl//w-1", "wl/bob/w-1/x", "xx/bob/w-1"):
        assert review.parse_branch(name) is None
