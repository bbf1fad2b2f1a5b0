"""Cached rows → protobuf messages (field names follow design/api.md)."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from google.protobuf import timestamp_pb2
from wasteland.v1 import activity_pb2, board_pb2, common_pb2
from wasteland_common import enums
from wasteland_common.activity import kind_number

from .board import ShownItem
from .events import BoardChange, LoggedEvent
from .inbox import PullView
from .store import CachedCompletion, CachedRig, CachedStamp, CachedWanted


def timestamp(value: datetime | None) -> Any:
    """A protobuf Timestamp, or None (field left unset) for an absent time."""
    if value is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def _set_time(message: Any, field: str, value: datetime | None) -> None:
    ts = timestamp(value)
    if ts is not None:
        getattr(message, field).CopyFrom(ts)


def wanted_item(row: CachedWanted | ShownItem) -> Any:
    """The item as the board shows it: status and claimer are the effective ones (the
    pending pull request's proposal when there is one)."""
    item = common_pb2.WantedItem(
        wanted_id=row.wanted_id,
        title=row.title,
        description=row.description or "",
        project=row.project or "",
        type=row.type or "",
        priority=row.priority,
        tags=row.tags,
        posted_by=row.posted_by or "",
        claimed_by=row.effective_claimed_by or "",
        status=row.effective_status,
        effort_level=row.effort_level or "",
        sandbox_required=row.sandbox_required,
        sandbox_scope=row.sandbox_scope or "",
        sandbox_min_tier=row.sandbox_min_tier or "",
        evidence_url=row.evidence_url or "",
        pending=row.pending_status is not None,
        pending_pull_id=row.pending_pull_id or "",
    )
    _set_time(item, "created_at", row.created_at)
    _set_time(item, "updated_at", row.updated_at)
    return item


def completion(row: CachedCompletion) -> Any:
    message = common_pb2.Completion(
        completion_id=row.completion_id,
        wanted_id=row.wanted_id,
        completed_by=row.completed_by or "",
        evidence=row.evidence or "",
        validated_by=row.validated_by or "",
        stamp_id=row.stamp_id or "",
    )
    _set_time(message, "completed_at", row.completed_at)
    _set_time(message, "validated_at", row.validated_at)
    return message


def stamp(row: CachedStamp) -> Any:
    message = common_pb2.Stamp(
        stamp_id=row.stamp_id,
        author=row.author,
        subject=row.subject,
        quality=row.quality,
        reliability=row.reliability,
        severity=row.severity or "",
        context_id=row.context_id or "",
        skill_tags=row.skill_tags,
        message=row.message or "",
    )
    _set_time(message, "created_at", row.created_at)
    return message


def rig(row: CachedRig) -> Any:
    message = common_pb2.Rig(
        handle=row.handle,
        display_name=row.display_name or "",
        rig_type=row.rig_type or "",
        parent_rig=row.parent_rig or "",
        trust_level=row.trust_level,
        dolthub_org=row.dolthub_org or "",
    )
    _set_time(message, "registered_at", row.registered_at)
    return message


def board_event(change: BoardChange) -> Any:
    message = board_pb2.BoardEvent(
        wasteland_id=change.wasteland_id, wanted_id=change.wanted_id, status=change.status
    )
    _set_time(message, "observed_at", change.observed_at)
    return message


def activity(event: LoggedEvent) -> Any:
    """An activity row as the API's ``Activity``."""
    message = activity_pb2.Activity(
        event_id=event.event_id,
        wasteland_id=event.wasteland_id,
        kind=kind_number(event.kind or "") or activity_pb2.ACTIVITY_KIND_UNSPECIFIED,
        actor=event.actor,
        wanted_id=event.wanted_id or "",
        pull_id=event.pull_id or "",
        detail=event.detail,
        request_id=event.request_id,
    )
    _set_time(message, "at", event.at)
    return message


def logged_board_event(event: LoggedEvent) -> Any:
    """A board row of the log as a ``BoardEvent``."""
    message = board_pb2.BoardEvent(
        wasteland_id=event.wasteland_id, wanted_id=event.wanted_id or "", status=event.status or ""
    )
    _set_time(message, "observed_at", event.at)
    return message


def wasteland_event(event: LoggedEvent) -> Any:
    """A row of the log as one ``WastelandEvent`` of a stream."""
    if event.category == "board":
        return activity_pb2.WastelandEvent(cursor=event.cursor, board=logged_board_event(event))
    return activity_pb2.WastelandEvent(cursor=event.cursor, activity=activity(event))


def pull(view: PullView) -> Any:
    """One pull request of the review inbox (with its changes when the view has them)."""
    message = board_pb2.Pull(
        pull_id=view.pull_id,
        title=view.title,
        state=enums.require_number(board_pb2.PullState, view.state),
        kind=enums.require_number(board_pb2.PullKind, view.kind),
        wanted_id=view.wanted_id or "",
        author_rig=view.author_rig or "",
        from_branch=view.from_branch,
        url=view.url,
        warnings=[board_pb2.PullWarning(code=w.code, message=w.message) for w in view.warnings],
        from_owner=view.from_owner,
        author=view.author,
        stamp_subjects=list(view.stamp_subjects),
        changes=[
            board_pb2.PullChange(
                table=c.table,
                key=c.key,
                kind=c.kind,
                before_json=json.dumps(c.before, ensure_ascii=False) if c.kind != "added" else "",
                after_json=json.dumps(c.after, ensure_ascii=False) if c.kind != "removed" else "",
            )
            for c in view.changes or ()
        ],
    )
    if view.mergeable is not None:
        message.mergeable = view.mergeable
    _set_time(message, "created_at", view.created_at)
    return message
