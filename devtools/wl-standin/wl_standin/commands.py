"""The ``wl`` subcommands in remote (DoltHub API) mode.

Each ``run_*`` function follows the real command's order of steps: validate flag values,
load the wasteland config (errors get the real recovery hints), open the API backend
(``DOLTHUB_TOKEN`` checked lazily, as the real CLI does), resolve the ID argument, then
call the board logic and print the result.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

from . import dml, render
from .commons import (
    BrowseFilter,
    browse_branch_aware,
    query_full_detail,
    query_item_status,
    resolve_wanted_id,
)
from .config import (
    BACKEND_LOCAL,
    BACKEND_REMOTE,
    MODE_PR,
    Config,
    ConfigStore,
    parse_upstream,
    resolve_config,
)
from .csvdata import parse_csv_line
from .env import REPO_WEB_BASE, Clock, Env
from .errors import Sentinel, SilentExit, WlError
from .flags import Parsed
from .gofmt import quote_go
from .helptext import command_help
from .sdk import AcceptInput, Callbacks, Client, MutationResult
from .style import ICON_WARN, Styler
from .wire import DoltHubProvider, ForkRequired, PendingState, RemoteDB, Transport, branch_web_url

DEFAULT_UPSTREAM = "hop/wl-commons"
VERSION_LINE = "wl dev (commit: unknown, built: unknown)"
LOCAL_UNSUPPORTED = (
    "the wl stand-in only implements remote mode (DoltHub API); "
    "local dolt mode needs the real wl binary"
)
DOLT_MISSING = (
    "dolt is not installed or not in PATH\n\n"
    "Install dolt: https://docs.dolthub.com/introduction/installation"
)
# An error message, not a secret.
TOKEN_REQUIRED_REMOTE = "DOLTHUB_TOKEN required for remote mode\n\n" + (
    "Get your token from https://www.dolthub.com/settings/tokens"
)

_HINTS = {
    Sentinel.NOT_JOINED: (
        "Run 'wl join <org/db>' to join a wasteland, or 'wl create <org/db>' to start one."
    ),
    Sentinel.AMBIGUOUS: "Use --wasteland <org/db> to select which wasteland.",
}


@dataclass
class Ctx:
    """Everything a command needs: parsed flags, environment, streams, HTTP, clock."""

    parsed: Parsed
    env: Env
    out: TextIO
    err: TextIO
    st: Styler
    transport: Transport
    clock: Clock

    def write(self, text: str) -> None:
        self.out.write(text)


# --- shared steps ---------------------------------------------------------------------------


def _hint_wrap(exc: WlError) -> WlError:
    """``hintWrap``: prefix ``loading wasteland config`` and attach the recovery hint."""
    wrapped = exc.wrap("loading wasteland config")
    wrapped.hint = (_HINTS.get(exc.kind) if exc.kind else None) or (
        "Run 'wl doctor' to check your setup."
    )
    return wrapped


def resolve_wasteland(ctx: Ctx) -> Config:
    """The selected config, backend forced to remote unless ``--local-db`` (hint-wrapped)."""
    store = ConfigStore(ctx.env.config_dir)
    try:
        cfg = resolve_config(store, ctx.parsed.text("wasteland"))
    except WlError as exc:
        raise _hint_wrap(exc) from exc
    cfg.backend = BACKEND_LOCAL if ctx.parsed.flag("local-db") else BACKEND_REMOTE
    return cfg


def open_db(ctx: Ctx, cfg: Config) -> RemoteDB:
    """The API backend for ``cfg`` (``openDBFromConfig``)."""
    if cfg.resolve_backend() == BACKEND_LOCAL:
        raise WlError(LOCAL_UNSUPPORTED)
    if cfg.is_github():
        raise WlError(
            "GitHub backend requires local dolt\n\n  Install: https://docs.dolthub.com/introduction/"
            f"installation\n  Then: wl join --github {cfg.upstream} --local-db"
        )
    if not ctx.env.token:
        raise WlError(TOKEN_REQUIRED_REMOTE)
    up_org, up_db = parse_upstream(cfg.upstream)
    return RemoteDB(
        ctx.transport,
        ctx.env.api_url,
        ctx.env.token,
        up_org,
        up_db,
        cfg.fork_org,
        cfg.fork_db,
        cfg.resolve_mode(),
        ctx.clock,
    )


def provider(ctx: Ctx) -> DoltHubProvider:
    return DoltHubProvider(
        ctx.transport,
        ctx.env.api_url,
        ctx.env.token,
        ctx.env.graphql_url,
        ctx.env.session_token,
        ctx.clock,
    )


def resolve_wanted_arg(ctx: Ctx, cfg: Config, id_or_prefix: str) -> str:
    """Full ID from a prefix on upstream main, else the exact ID on your own branch."""
    db = open_db(ctx, cfg)
    try:
        return resolve_wanted_id(db, id_or_prefix)
    except WlError:
        if cfg.resolve_mode() == MODE_PR and cfg.rig_handle:
            try:
                _, found = query_item_status(
                    db, id_or_prefix, dml.branch_name(cfg.rig_handle, id_or_prefix)
                )
            except WlError:
                found = False
            if found:
                return id_or_prefix
        raise


def _wanted_id_of(branch: str) -> str:
    parts = branch.split("/", 2)
    return parts[2] if len(parts) == 3 and parts[0] == "wl" else ""


def _create_pr_remote(ctx: Ctx, cfg: Config, db: RemoteDB, branch: str) -> str:
    if cfg.resolve_provider_type() != "dolthub":
        if cfg.is_github():
            raise WlError("GitHub PRs require local dolt; ensure --local-db is set")
        raise WlError("remote backend only supports DoltHub PRs")
    if not ctx.env.token:
        raise WlError("DOLTHUB_TOKEN environment variable is required for DoltHub PRs")
    try:
        up_org, db_name = parse_upstream(cfg.upstream)
    except WlError as exc:
        raise exc.wrap("parsing upstream") from exc
    wanted_id = _wanted_id_of(branch)
    title = f"[wl] {wanted_id}"
    try:
        full = query_full_detail(db, wanted_id, branch)
        if full.item is not None:
            title = f"[wl] {full.item.title}"
    except WlError:
        pass
    try:
        body = db.diff(branch)
    except WlError:
        body = ""
    prov = provider(ctx)
    try:
        return prov.create_pr(cfg.fork_org, up_org, db_name, branch, title, body)
    except WlError as exc:
        if "already exists" in str(exc):
            url, pull_id = prov.find_pr(up_org, db_name, cfg.fork_org, branch)
            if pull_id:
                with contextlib.suppress(WlError):
                    prov.update_pr(up_org, db_name, pull_id, title, body)
                return url
            return f"{REPO_WEB_BASE}/{up_org}/{db_name}/pulls"
        raise exc.wrap("creating DoltHub PR") from exc


def _check_pr(ctx: Ctx, cfg: Config, branch: str) -> str:
    if cfg.resolve_provider_type() != "dolthub" or not ctx.env.token:
        return ""
    try:
        up_org, db_name = parse_upstream(cfg.upstream)
    except WlError:
        return ""
    return provider(ctx).find_pr(up_org, db_name, cfg.fork_org, branch)[0]


def _close_pr(ctx: Ctx, cfg: Config, branch: str) -> None:
    if cfg.resolve_provider_type() != "dolthub" or not ctx.env.token:
        return
    try:
        up_org, db_name = parse_upstream(cfg.upstream)
    except WlError:
        return
    prov = provider(ctx)
    _, pull_id = prov.find_pr(up_org, db_name, cfg.fork_org, branch)
    if pull_id:
        prov.close_pr(up_org, db_name, pull_id)


def _pending_lister(ctx: Ctx, cfg: Config) -> Callable[[], dict[str, list[PendingState]]] | None:
    if cfg.resolve_provider_type() != "dolthub" or not ctx.env.token:
        return None
    try:
        up_org, db_name = parse_upstream(cfg.upstream)
    except WlError:
        return None
    cache: dict[str, tuple[float, dict[str, list[PendingState]]]] = {}

    def listing() -> dict[str, list[PendingState]]:
        hit = cache.get("v")
        if hit is not None and ctx.clock.monotonic() - hit[0] < 30.0:
            return hit[1]
        value = provider(ctx).list_pending_wanted_ids(up_org, db_name)
        cache["v"] = (ctx.clock.monotonic(), value)
        return value

    return listing


def _branch_url(cfg: Config) -> Callable[[str], str] | None:
    if not cfg.fork_org or not cfg.fork_db:
        return None
    if cfg.resolve_provider_type() == "dolthub":
        return lambda b: branch_web_url(cfg.fork_org, cfg.fork_db, b)
    if cfg.resolve_provider_type() == "github":
        return lambda b: (
            f"https://github.com/{cfg.fork_org}/{cfg.fork_db}/tree/{b.replace('/', '%2F')}"
        )
    return None


def sdk_client(ctx: Ctx, cfg: Config, no_push: bool) -> Client:
    """The board client with the PR callbacks wired (``newSDKClient``)."""
    db = open_db(ctx, cfg)
    callbacks = Callbacks(
        create_pr=lambda b: _create_pr_remote(ctx, cfg, db, b),
        check_pr=lambda b: _check_pr(ctx, cfg, b),
        close_pr=lambda b: _close_pr(ctx, cfg, b),
        list_pending=_pending_lister(ctx, cfg),
        branch_url=_branch_url(cfg),
    )
    return Client(
        db, cfg.rig_handle, cfg.resolve_mode(), cfg.hop_uri, no_push, callbacks, ctx.clock
    )


def _split_list(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


# --- join -------------------------------------------------------------------------------------


def _git_config(key: str) -> str:
    try:
        proc = subprocess.run(
            ["git", "config", key], capture_output=True, text=True, check=False, timeout=10
        )
    except (OSError, subprocess.SubprocessError):
        return ""
    return proc.stdout.strip() if proc.returncode == 0 else ""


def rfc3339_nano_local(clock: Clock) -> str:
    """``time.Now()`` as JSON-encoded by Go: RFC 3339, nanoseconds without trailing zeros."""
    ns = clock.time_ns()
    offset = clock.utc_offset_seconds()
    local = time.gmtime(ns // 1_000_000_000 + offset)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", local)
    frac = f"{ns % 1_000_000_000:09d}".rstrip("0")
    if frac:
        stamp += "." + frac
    if offset == 0:
        return stamp + "Z"
    sign = "+" if offset > 0 else "-"
    hours, minutes = divmod(abs(offset) // 60, 60)
    return f"{stamp}{sign}{hours:02d}:{minutes:02d}"


def run_join(ctx: Ctx) -> None:
    p = ctx.parsed
    upstream = p.args[0] if p.args else DEFAULT_UPSTREAM
    local = (
        p.flag("local-db")
        or p.text("remote-base")
        or p.text("git-remote")
        or p.flag("github")
        or p.text("github-local")
    )
    if local:
        if shutil.which("dolt") is None:
            raise WlError(DOLT_MISSING)
        raise WlError(LOCAL_UNSUPPORTED)
    up_org, up_db = parse_upstream(upstream)
    store = ConfigStore(ctx.env.config_dir)
    try:
        existing = store.load(upstream)
    except WlError:
        existing = None
    if existing is not None:
        ctx.write(
            f"{ctx.st.bold(ICON_WARN)} Already joined wasteland: {upstream}\n"
            f"  Handle: {existing.rig_handle}\n"
            f"  Fork: {existing.fork_org}/{existing.fork_db}\n"
            f"  Backend: {existing.resolve_backend()}\n"
        )
        return
    fork_org = p.text("fork-org") or ctx.env.org
    if not ctx.env.token:
        raise WlError(
            "DOLTHUB_TOKEN environment variable is required\n\n"
            "Get your token from https://www.dolthub.com/settings/tokens"
        )
    if not fork_org:
        raise WlError(
            "DOLTHUB_ORG environment variable is required\n\n"
            "Set this to your DoltHub organization name"
        )
    handle = p.text("handle") or fork_org
    display = p.text("display-name") or _git_config("user.name")
    email = p.text("email") or _git_config("user.email")
    prov = provider(ctx)

    ctx.write(f"Joining wasteland {upstream} (fork to {fork_org}/{up_db}, remote mode)...\n")
    ctx.write("  Forking commons...\n")
    try:
        prov.fork(up_org, up_db, fork_org)
    except ForkRequired as exc:
        st = ctx.st
        ctx.write(
            f"\n{st.bold('!')} Fork required\n\n"
            "  To join this wasteland, fork the commons on DoltHub:\n\n"
            f"  1. Go to {st.bold(exc.fork_url)}\n"
            f"  2. Click {st.bold('Fork')} (top right)\n"
            f"  3. Select your organization: {st.bold(exc.fork_org)}\n"
            f"  4. Rerun: {st.bold('wl join')}\n"
        )
        raise SilentExit from exc
    except WlError as exc:
        raise exc.wrap("forking commons") from exc

    ctx.write("  Registering rig via API...\n")
    db = RemoteDB(
        ctx.transport,
        ctx.env.api_url,
        ctx.env.token,
        up_org,
        up_db,
        fork_org,
        up_db,
        MODE_PR,
        ctx.clock,
    )
    branch = f"wl/register/{handle}"
    try:
        db.exec(branch, [dml.registration(handle, fork_org, display, email, "dev")])
    except WlError as exc:
        raise exc.wrap("registering rig") from exc

    ctx.write("  Opening pull request...\n")
    title = f"Register rig: {handle}"
    body = f"Register rig **{handle}** ({display}) in the commons."
    try:
        pr_url = prov.create_pr(fork_org, up_org, up_db, branch, title, body)
    except WlError as exc:
        ctx.write(f"  warning: could not create PR: {exc}\n")
        pr_url = ""

    cfg = Config(
        upstream=upstream,
        provider_type="dolthub",
        upstream_url=prov.database_url(up_org, up_db),
        fork_org=fork_org,
        fork_db=up_db,
        local_dir="",
        rig_handle=handle,
        hop_uri=f"hop://{email}/{handle}/",
        joined_at=rfc3339_nano_local(ctx.clock),
        mode=MODE_PR,
        backend=BACKEND_REMOTE,
    )
    try:
        store.save(cfg)
    except WlError as exc:
        raise exc.wrap("saving wasteland config") from exc

    st = ctx.st
    ctx.write(f"\n{st.bold('✓')} Joined wasteland: {upstream} (remote mode)\n")
    ctx.write(f"  Handle: {cfg.rig_handle}\n  Fork: {cfg.fork_org}/{cfg.fork_db}\n")
    ctx.write("  Backend: remote (DoltHub API)\n")
    if pr_url:
        ctx.write(f"  PR: {st.bold(pr_url)}\n")
    ctx.write(f"\n  {st.dim('Next: wl browse  — browse the wanted board')}\n")


# --- reads ------------------------------------------------------------------------------------


def run_browse(ctx: Ctx) -> None:
    p = ctx.parsed
    cfg = resolve_wasteland(ctx)
    if cfg.resolve_backend() == BACKEND_LOCAL:
        raise WlError(DOLT_MISSING if shutil.which("dolt") is None else LOCAL_UNSUPPORTED)
    db = open_db(ctx, cfg)
    flt = BrowseFilter(
        status=p.text("status"),
        project=p.text("project"),
        type=p.text("type"),
        priority=p.number("priority"),
        limit=p.number("limit"),
        posted_by=p.text("posted-by"),
        claimed_by=p.text("claimed-by"),
        search=p.text("search"),
        view=p.text("view"),
        long=p.flag("long"),
    )
    try:
        items = browse_branch_aware(db, cfg.resolve_mode(), cfg.rig_handle, flt)
    except WlError as exc:
        raise exc.wrap("querying wanted board") from exc
    if p.flag("json"):
        ctx.write(render.browse_json(items))
    else:
        ctx.write(render.browse_table(ctx.st, items, flt.long))


def run_status(ctx: Ctx) -> None:
    cfg = resolve_wasteland(ctx)
    wanted_id = resolve_wanted_arg(ctx, cfg, ctx.parsed.args[0])
    client = sdk_client(ctx, cfg, False)
    try:
        detail = client.detail(wanted_id)
    except WlError as exc:
        raise exc.wrap("querying wanted item") from exc
    if detail.item is None:
        raise WlError(f"wanted item {wanted_id} not found")
    ctx.write(render.detail_status(ctx.st, detail))


def run_sync(ctx: Ctx) -> None:
    cfg = resolve_wasteland(ctx)
    if cfg.resolve_backend() != BACKEND_LOCAL:
        ctx.write("Remote mode: reads are always fresh from the DoltHub API.\n")
        return
    if shutil.which("dolt") is None:
        raise WlError(
            "dolt not found in PATH — install from https://docs.dolthub.com/introduction/installation"
        )
    raise WlError(LOCAL_UNSUPPORTED)


def run_version(ctx: Ctx) -> None:
    ctx.write(VERSION_LINE + "\n")


def run_list(ctx: Ctx) -> None:
    store = ConfigStore(ctx.env.config_dir)
    try:
        upstreams = store.list()
    except WlError as exc:
        raise exc.wrap("listing wastelands") from exc
    st = ctx.st
    if not upstreams:
        ctx.write(f"No wastelands joined.\n\n  {st.dim('Join one with: wl join <org/db>')}\n")
        return
    ctx.write(f"Joined wastelands ({len(upstreams)}):\n\n")
    for upstream in upstreams:
        try:
            cfg = store.load(upstream)
        except WlError as exc:
            ctx.err.write(f"  {upstream}: error loading config: {exc}\n")
            continue
        ctx.write(
            f"  {st.bold(cfg.upstream)}\n    Handle:  {cfg.rig_handle}\n"
            f"    Fork:    {cfg.fork_org}/{cfg.fork_db}\n    Backend: {cfg.resolve_backend()}\n"
        )
        if cfg.local_dir:
            ctx.write(f"    Local:   {cfg.local_dir}\n")
        if not cfg.joined_at.startswith("0001-01-01T00:00:00"):
            ctx.write(f"    Joined:  {cfg.joined_at[:10]}\n")
        ctx.write("\n")


def run_leave(ctx: Ctx) -> None:
    store = ConfigStore(ctx.env.config_dir)
    explicit = ctx.parsed.args[0] if ctx.parsed.args else ctx.parsed.text("wasteland")
    try:
        cfg = resolve_config(store, explicit)
    except WlError as exc:
        raise exc.wrap("resolving wasteland") from exc
    try:
        store.delete(cfg.upstream)
    except WlError as exc:
        raise exc.wrap("removing wasteland config") from exc
    st = ctx.st
    ctx.write(f"{st.bold('✓')} Left wasteland: {cfg.upstream}\n")
    if cfg.local_dir:
        ctx.write(
            "\n  Data directories (not deleted):\n"
            f"    Fork clone: {cfg.local_dir}\n"
            f"\n  {st.dim('Remove these directories manually if no longer needed.')}\n"
        )


# --- mutations --------------------------------------------------------------------------------


def _mutation(
    ctx: Ctx,
    verb: str,
    action: Callable[[Client, str], MutationResult],
    extras: Callable[[Config], list[str]],
    next_hint: Callable[[str], str],
) -> None:
    cfg = resolve_wasteland(ctx)
    wanted_id = resolve_wanted_arg(ctx, cfg, ctx.parsed.args[0])
    client = sdk_client(ctx, cfg, ctx.parsed.flag("no-push"))
    result = action(client, wanted_id)
    ctx.write(render.mutation_result(ctx.st, verb, wanted_id, result, extras(cfg)))
    ctx.write(render.next_hint(ctx.st, next_hint(wanted_id)))


def run_claim(ctx: Ctx) -> None:
    _mutation(
        ctx,
        "Claimed",
        lambda c, i: c.claim(i),
        lambda cfg: [f"Claimed by: {cfg.rig_handle}"],
        lambda i: f"Next: do the work, then: wl done {i} --evidence <url>",
    )


def run_unclaim(ctx: Ctx) -> None:
    _mutation(
        ctx,
        "Unclaimed",
        lambda c, i: c.unclaim(i),
        lambda cfg: [],
        lambda i: "Next: item is back on the board. Browse: wl browse",
    )


def run_done(ctx: Ctx) -> None:
    evidence = ctx.parsed.text("evidence")
    _mutation(
        ctx,
        "Completion submitted for",
        lambda c, i: c.done(i, evidence),
        lambda cfg: [f"Completed by: {cfg.rig_handle}", f"Evidence: {evidence}"],
        lambda i: f"Next: wait for review. Check: wl status {i}",
    )


def run_accept(ctx: Ctx) -> None:
    p = ctx.parsed
    quality, reliability, severity = (
        p.number("quality"),
        p.number("reliability"),
        p.text("severity"),
    )
    if reliability == 0:
        reliability = quality
    if not 1 <= quality <= 5:
        raise WlError(f"invalid quality {quality}: must be 1-5")
    if not 1 <= reliability <= 5:
        raise WlError(f"invalid reliability {reliability}: must be 1-5")
    if severity not in ("leaf", "branch", "root"):
        raise WlError(f"invalid severity {quote_go(severity)}: must be one of leaf, branch, root")
    skills = _split_list(p.text("skills"))
    message = p.text("message")
    data = AcceptInput(quality, reliability, severity, skills, message)
    extras = [f"Quality: {quality}, Reliability: {reliability}", f"Severity: {severity}"]
    if skills:
        extras.append("Skills: " + ", ".join(skills))
    if message:
        extras.append("Message: " + message)
    _mutation(
        ctx,
        "Accepted",
        lambda c, i: c.accept(i, data),
        lambda cfg: extras,
        lambda i: f"Next: stamp issued. View: wl status {i}",
    )


def run_reject(ctx: Ctx) -> None:
    reason = ctx.parsed.text("reason")
    _mutation(
        ctx,
        "Rejected",
        lambda c, i: c.reject(i),
        lambda cfg: [f"Reason: {reason}"] if reason else [],
        lambda i: f"Next: claimer can fix and resubmit: wl done {i} --evidence <url>",
    )


def run_close(ctx: Ctx) -> None:
    _mutation(
        ctx,
        "Closed",
        lambda c, i: c.close(i),
        lambda cfg: [],
        lambda i: f"Next: item completed. View: wl status {i}",
    )


_TYPES = ("feature", "bug", "design", "rfc", "docs")
_EFFORTS = ("trivial", "small", "medium", "large", "epic")


def _validate_type_effort(
    item_type: str, effort: str, *, allow_inference: bool, effort_optional: bool
) -> None:
    types = (*_TYPES, "inference") if allow_inference else _TYPES
    if item_type and item_type not in types:
        raise WlError(f"invalid type {quote_go(item_type)}: must be one of {', '.join(types)}")
    if (effort or not effort_optional) and effort not in _EFFORTS:
        raise WlError(f"invalid effort {quote_go(effort)}: must be one of {', '.join(_EFFORTS)}")


def run_post(ctx: Ctx) -> None:
    p = ctx.parsed
    tags = _split_list(p.text("tags"))
    title, item_type, effort, priority = (
        p.text("title"),
        p.text("type"),
        p.text("effort"),
        p.number("priority"),
    )
    # The release build disables the inference gate, so "inference" is not a valid type.
    _validate_type_effort(item_type, effort, allow_inference=False, effort_optional=False)
    if not 0 <= priority <= 4:
        raise WlError(f"invalid priority {priority}: must be 0-4")
    cfg = resolve_wasteland(ctx)
    client = sdk_client(ctx, cfg, p.flag("no-push"))
    result = client.post(
        dml.NewWanted(
            id="",
            title=title,
            description=p.text("description"),
            project=p.text("project"),
            type=item_type,
            priority=priority,
            effort_level=effort,
            tags=tags,
        )
    )
    item_id = result.detail.item.id if result.detail and result.detail.item else ""
    st = ctx.st
    lines = [f"{st.bold('✓')} Posted wanted item: {st.bold(item_id)}", f"  Title:    {title}"]
    if p.text("project"):
        lines.append(f"  Project:  {p.text('project')}")
    if item_type:
        lines.append(f"  Type:     {item_type}")
    lines += [f"  Priority: {priority}", f"  Effort:   {effort}"]
    if tags:
        lines.append(f"  Tags:     {', '.join(tags)}")
    lines.append(f"  Posted by: {cfg.rig_handle}")
    if result.branch:
        lines.append(f"  Branch:   {result.branch}")
    if result.detail and result.detail.pr_url:
        lines.append(f"  PR: {result.detail.pr_url}")
    text = "\n".join(lines) + "\n"
    if result.hint:
        text += f"\n  {st.dim(result.hint)}\n"
    ctx.write(text)
    ctx.write(render.next_hint(st, "Next: others can claim this. Browse: wl browse"))


def run_update(ctx: Ctx) -> None:
    p = ctx.parsed
    item_type, effort, priority = p.text("type"), p.text("effort"), p.number("priority")
    _validate_type_effort(item_type, effort, allow_inference=False, effort_optional=True)
    if priority != -1 and not 0 <= priority <= 4:
        raise WlError(f"invalid priority {priority}: must be 0-4")
    fields = dml.WantedUpdate(
        title=p.text("title"),
        description=p.text("description"),
        project=p.text("project"),
        type=item_type,
        priority=priority,
        effort_level=effort,
    )
    if p.text("tags"):
        fields.tags = _split_list(p.text("tags"))
        fields.tags_set = True
    if not (
        fields.title
        or fields.description
        or fields.project
        or fields.type
        or fields.priority >= 0
        or fields.effort_level
        or fields.tags_set
    ):
        raise WlError("at least one field must be provided to update")
    _mutation(
        ctx,
        "Updated",
        lambda c, i: c.update(i, fields),
        lambda cfg: [],
        lambda i: "Next: wl browse to see the board",
    )


def run_delete(ctx: Ctx) -> None:
    cfg = resolve_wasteland(ctx)
    wanted_id = resolve_wanted_arg(ctx, cfg, ctx.parsed.args[0])
    client = sdk_client(ctx, cfg, ctx.parsed.flag("no-push"))
    result = client.delete(wanted_id)
    st = ctx.st
    lines = [f"{st.bold('✓')} Withdrawn {wanted_id}"]
    if result.detail is not None and result.detail.item is not None:
        lines.append(f"  Status: {result.detail.item.status}")
    else:
        lines.append("  Status: withdrawn")
    if result.branch:
        lines.append(f"  Branch: {result.branch}")
    text = "\n".join(lines) + "\n"
    if result.hint:
        text += f"\n  {st.dim(result.hint)}\n"
    ctx.write(text)
    ctx.write(render.next_hint(st, "Next: wl browse to see the board"))


def run_unsupported(ctx: Ctx) -> None:
    raise WlError(
        f"{ctx.parsed.command.name}: not implemented by the wl stand-in (use the real wl binary)"
    )


def _csv_rows(text: str) -> list[list[str]]:
    # ``wlParseCSV``: split lines, drop empty ones, fields not trimmed.
    return [parse_csv_line(line) for line in text.strip().split("\n") if line]


def _go_pad(text: str, width: int) -> str:
    return text + " " * max(0, width - len(text))


def run_me(ctx: Ctx) -> None:
    cfg = resolve_wasteland(ctx)
    if cfg.resolve_backend() == BACKEND_LOCAL:
        raise WlError(DOLT_MISSING if shutil.which("dolt") is None else LOCAL_UNSUPPORTED)
    db = open_db(ctx, cfg)
    st = ctx.st
    printed = False

    def section(sql: str, title: str, min_cols: int, line: Callable[[list[str]], str]) -> None:
        nonlocal printed
        try:
            rows = _csv_rows(db.query(sql, ""))
        except WlError:
            return
        if len(rows) <= 1:
            return
        ctx.write(f"\n{st.bold(title)}\n")
        for row in rows[1:]:
            if len(row) >= min_cols:
                ctx.write(line(row) + "\n")
        printed = True

    section(
        dml.select_my_claimed(cfg.rig_handle),
        "Claimed items:",
        5,
        lambda r: (
            f"  {_go_pad(r[0], 12)} {_go_pad(r[1], 30)} {_go_pad(r[2], 12)} "
            f"{_go_pad(render.priority_label(st, r[3]), 4)} {r[4]}"
        ),
    )
    section(
        dml.select_awaiting_review(cfg.rig_handle),
        "Awaiting my review:",
        3,
        lambda r: f"  {_go_pad(r[0], 12)} {_go_pad(r[1], 30)} claimed by {r[2]}",
    )
    section(
        dml.select_recent_completions(cfg.rig_handle),
        "Recent completions:",
        2,
        lambda r: f"  {_go_pad(r[0], 12)} {r[1]}",
    )
    if not printed:
        ctx.write("\nNothing here — browse the board: wl browse\n")


_CONFIG_KEYS = ("mode", "signing", "provider-type", "github-repo")


def _check_config_key(key: str) -> None:
    if key not in _CONFIG_KEYS:
        raise WlError(
            f"unknown config key {quote_go(key)} "
            "(supported: mode, signing, provider-type, github-repo)"
        )


def run_config(ctx: Ctx) -> None:
    """``wl config get <key>`` / ``wl config set <key> <value>``."""
    args = ctx.parsed.args
    if not args or args[0] not in ("get", "set"):
        ctx.write(command_help(ctx.parsed.command))
        return
    sub, rest = args[0], args[1:]
    want = 1 if sub == "get" else 2
    if len(rest) != want:
        raise WlError(f"accepts {want} arg(s), received {len(rest)}")
    key = rest[0]
    _check_config_key(key)
    if sub == "get":
        cfg = resolve_wasteland(ctx)
        value = {
            "mode": cfg.resolve_mode(),
            "signing": "true" if cfg.signing else "false",
            "provider-type": cfg.resolve_provider_type(),
            "github-repo": cfg.github_repo,
        }[key]
        ctx.write(value + "\n")
        return
    value = rest[1]
    if key == "provider-type":
        raise WlError("provider-type is read-only (set during 'wl join')")
    if key == "mode" and value not in ("wild-west", "pr"):
        raise WlError(f'invalid mode {quote_go(value)}: must be "wild-west" or "pr"')
    if key == "signing" and value not in ("true", "false"):
        raise WlError(f'invalid signing value {quote_go(value)}: must be "true" or "false"')
    if key == "github-repo":
        owner, sep, repo = value.partition("/")
        if not sep or not owner or not repo:
            raise WlError(f'invalid github-repo {quote_go(value)}: expected format "owner/repo"')
    store = ConfigStore(ctx.env.config_dir)
    try:
        cfg = resolve_config(store, ctx.parsed.text("wasteland"))
    except WlError as exc:
        raise _hint_wrap(exc) from exc
    if key == "mode":
        cfg.mode = value
    elif key == "signing":
        cfg.signing = value == "true"
    else:
        cfg.github_repo = value
    try:
        store.save(cfg)
    except WlError as exc:
        raise exc.wrap("saving wasteland config") from exc
    ctx.write(f"{key} = {value}\n")
