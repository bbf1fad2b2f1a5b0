"""The bench's own pure helpers: statistics, the table, wrk and log parsing, the scaling
arithmetic. No timing is asserted anywhere (the bench is not part of ``make test``)."""

from __future__ import annotations

import json
import math
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from benchmarks import compare, grpcload, harness, wrk
from benchmarks.report import Row, Target, format_value, render_table, verdicts
from benchmarks.scenarios import action, idle, wake
from benchmarks.stats import median, percentile, ratio, summarize

# ------------------------------------------------------------------------ statistics


def test_percentile_interpolates_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0]
    assert percentile(values, 0) == 10.0
    assert percentile(values, 100) == 40.0
    assert percentile(values, 50) == 25.0
    assert percentile([5.0], 99) == 5.0
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert percentile(list(range(1, 11)), 90) == pytest.approx(9.1)


def test_percentile_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)
    with pytest.raises(ValueError, match=r"0\.\.100"):
        percentile([1.0], 101)


@given(
    st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=1, max_size=50),
    st.floats(min_value=0, max_value=100),
    st.floats(min_value=0, max_value=100),
)
def test_percentile_is_monotone_and_bounded(values: list[float], q1: float, q2: float) -> None:
    low, high = sorted((q1, q2))
    assert min(values) <= percentile(values, low) <= percentile(values, high) <= max(values)


def test_summary_and_ratio() -> None:
    summary = summarize([1.0, 2.0, 3.0, 4.0, 100.0])
    assert (summary.n, summary.median, summary.min, summary.max) == (5, 3.0, 1.0, 100.0)
    assert summary.mean == 22.0
    assert summary.p90 == pytest.approx(61.6)
    assert set(summary.as_dict()) == {"n", "median", "p90", "p99", "mean", "min", "max"}
    assert ratio(1.0, 4.0) == 0.25
    assert math.isnan(ratio(1.0, 0.0))


# ------------------------------------------------------------------------ the table


def test_targets_and_verdicts() -> None:
    assert Target(">=", 0.5).met(0.5)
    assert not Target(">=", 0.5).met(0.49)
    assert Target("<=", 100).met(99.9)
    assert not Target("<=", 100).met(math.nan)
    assert Row("s", "m", 0.7, "x", target=Target(">=", 0.5)).verdict == "PASS"
    assert Row("s", "m", 0.2, "x", target=Target(">=", 0.5)).verdict == "MISS"
    assert Row("s", "m", math.nan, "x", target=Target(">=", 0.5)).verdict == "n/a"
    assert Row("s", "m", 1.0).verdict == ""


def test_value_formatting() -> None:
    assert format_value(1234.5, "req/s") == "1,234 req/s"
    assert format_value(12.34, "ms") == "12.3 ms"
    assert format_value(0.123, "x") == "0.12x"
    assert format_value(2.0, "req") == "2 req"
    assert format_value(0.0123, "s") == "0.0123 s"
    assert format_value(None, "ms") == "—"
    assert format_value(math.nan, "ms") == "nan"


def test_render_table_groups_scenarios_and_prints_footnotes() -> None:
    rows = [
        Row("browse", "GET /healthz c=1", 2300.0, "req/s", n=3, p50=1.2, p90=2.5, p99=9.0),
        Row("browse", "ratio", 0.12, "x", n=3, target=Target(">=", 0.5)),
        Row("idle", "requests", 24.0, "req", target=Target("<=", 12), note="2 per poll"),
    ]
    text = render_table(rows)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["scenario", "measure", "n"]
    assert "2,300 req/s" in text
    assert "≥ 0.50x" in text
    assert "MISS" in text
    assert "requests [1]" in text
    assert lines[-1] == "[1] 2 per poll"
    assert "" in lines  # a blank line between scenarios
    assert sum(line.startswith("browse") for line in lines) == 1  # the name shown once
    assert verdicts(rows) == {"PASS": 0, "MISS": 2, "n/a": 0}
    assert json.dumps(rows[2].as_dict())


# ------------------------------------------------------------------------ wrk


WRK_JSON = {
    "requests": 11500,
    "duration_us": 5000000,
    "bytes": 1720000,
    "errors": {"connect": 0, "read": 0, "write": 0, "status": 3, "timeout": 1},
    "latency_us": {"min": 900, "mean": 3400.5, "max": 21000, "p50": 3100, "p90": 4800, "p99": 9900},
}
WRK_TEXT = """Running 5s test @ http://127.0.0.1:8000/healthz
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.40ms    1.11ms  21.00ms   90.00%
  11500 requests in 5.00s, 1.64MB read
Requests/sec:   2300.00
Transfer/sec:    335.94KB
"""
WRK_OUTPUT = WRK_TEXT + wrk.MARKER + json.dumps(WRK_JSON, separators=(",", ":")) + "\n"


def test_wrk_output_is_parsed_from_the_script_line() -> None:
    result = wrk.parse_output(WRK_OUTPUT)
    assert result.requests == 11500
    assert result.rps == pytest.approx(2300.0)
    assert (result.p50_ms, result.p90_ms, result.p99_ms) == (3.1, 4.8, 9.9)
    assert result.error_count == 4
    assert result.as_dict()["rps"] == pytest.approx(2300.0)


def test_wrk_output_without_requests_or_marker() -> None:
    empty = WRK_OUTPUT.replace('"requests":11500', '"requests":0')
    assert math.isnan(wrk.parse_output(empty).p50_ms)
    with pytest.raises(wrk.WrkError, match="WRK_JSON"):
        wrk.parse_output("Requests/sec: 1.0\n")


def test_grpc_load_output_is_parsed() -> None:
    line = grpcload.MARKER + json.dumps(
        {
            "requests": 10,
            "duration_s": 2.0,
            "errors": {"rpc": 1},
            "p50_ms": 1.0,
            "p90_ms": 2.0,
            "p99_ms": 3.0,
            "mean_ms": 1.5,
            "max_ms": 4.0,
        }
    )
    result = grpcload.parse_output("noise\n" + line + "\n")
    assert (result.rps, result.error_count, result.p99_ms) == (5.0, 1, 3.0)


@pytest.mark.skipif(not wrk.shutil.which("wrk"), reason="wrk is not installed")
def test_wrk_script_rotates_tokens(tmp_path: Path) -> None:
    """The Lua script runs in wrk, sends every token in turn and reports its JSON line."""
    import http.server
    import threading

    seen: set[str] = set()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            seen.add(self.headers.get("Authorization", ""))
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("a\nb\nc\n")
    try:
        result = wrk.run(
            str(wrk.shutil.which("wrk")),
            f"http://127.0.0.1:{server.server_address[1]}/x",
            connections=1,
            duration_s=1,
            script=wrk.write_script(tmp_path),
            tokens=tokens,
        )
    finally:
        server.shutdown()
        server.server_close()
    assert result.requests > 0
    assert seen >= {"Bearer a", "Bearer b", "Bearer c"}


# ------------------------------------------------------------------------ probes


def test_log_lines_and_relayed_control_lines() -> None:
    inner = {
        "time": "2026-01-01T00:00:01.500000+00:00",
        "message": "wl join exited 0",
        "event": "wl_run",
        "operation": "join",
        "duration_ms": 500,
    }
    outer = {
        "time": "2026-01-01T00:00:01.600000+00:00",
        "service": "executor",
        "message": "control[w1] " + json.dumps(inner),
    }
    events = harness.parse_log_line(json.dumps(outer))
    assert [e.source for e in events] == ["executor", "control"]
    assert events[1].fields["operation"] == "join"
    assert events[1].time == datetime(2026, 1, 1, 0, 0, 1, 500000, tzinfo=UTC)
    plain = harness.parse_log_line(
        json.dumps({**outer, "message": "control[w1] control-server listening on 1.2.3.4:5"})
    )
    assert plain[1].message == "control-server listening on 1.2.3.4:5"
    assert plain[1].time == events[0].time
    assert harness.parse_log_line("not json") == []


def test_log_tail_reads_only_new_complete_lines(tmp_path: Path) -> None:
    log = tmp_path / "x.log"
    line = json.dumps({"time": "2026-01-01T00:00:00+00:00", "service": "s", "message": "m"})
    log.write_text(line + "\n")
    tail = harness.LogTail(log)
    assert tail.events() == []
    with log.open("a") as handle:
        handle.write(line + "\n" + line[:10])
    assert len(tail.events()) == 1
    with log.open("a") as handle:
        handle.write(line[10:] + "\n")
    assert len(tail.events()) == 1


def test_metrics_parsing_and_urls() -> None:
    text = (
        "# TYPE wasteland_board_syncs_total counter\n"
        'wasteland_board_syncs_total{outcome="ok"} 7.0\n'
        'wasteland_board_syncs_total{outcome="failed"} 1.0\n'
    )
    samples = harness.parse_metrics(text)
    assert harness.metric(samples, "wasteland_board_syncs_total") == 8.0
    assert harness.metric(samples, "wasteland_board_syncs_total", outcome="ok") == 7.0
    assert harness.metric(samples, "missing") == 0.0
    log = '{"message": "board-sync metrics served at http://127.0.0.1:4321/metrics"}\n'
    assert harness.metrics_urls(log) == {"board-sync": "http://127.0.0.1:4321/metrics"}


def test_cpu_seconds_of_this_process() -> None:
    assert harness.cpu_seconds(os.getpid()) > 0


# ------------------------------------------------------------------------ scenario arithmetic


def test_wake_phases_from_the_executor_log() -> None:
    t0 = datetime(2026, 1, 1, tzinfo=UTC)

    def at(ms: float, source: str, message: str, **fields: object) -> harness.LogEvent:
        return harness.LogEvent(t0 + timedelta(milliseconds=ms), source, message, fields)

    events = [
        at(50, "executor", "waking the workload of w1"),
        at(60, "executor", "started control server pid 9 for w1"),
        at(1050, "control", "control-server listening on 127.0.0.1:5"),
        at(1100, "executor", "control server for w1 ready on 127.0.0.1:5"),
        at(1900, "control", "wl join exited 0", event="wl_run", operation="join", duration_ms=700),
        at(2000, "control", "rig alice joined hop/wl-commons", event="rig_joined"),
    ]
    phases = wake.phases_of(events, "w1", t0.timestamp(), t0.timestamp() + 3.0)
    assert phases["to wake decision"] == pytest.approx(50)
    assert phases["workload start"] == pytest.approx(1000)
    assert phases["readiness"] == pytest.approx(50)
    assert phases["wl join"] == pytest.approx(800)
    assert phases["action"] == pytest.approx(3000 - 1100 - 800)
    assert sum(phases.values()) == pytest.approx(3000)


def test_action_request_breakdown() -> None:
    gateway = [action.Pair(1, 1, {"GET read": 10, "GET pulls_list": 3}) for _ in range(3)]
    direct = [action.Pair(1, 1, {"GET read": 6, "POST write": 2}) for _ in range(3)]
    assert action.request_breakdown(gateway, direct) == {
        "GET read": 4,
        "GET pulls_list": 3,
        "POST write": -2,
    }


def test_idle_scaling() -> None:
    assert idle.interval_for(100) == 30
    assert idle.interval_for(1000) == 125
    assert idle.extrapolate([(100, 2.0), (1000, 11.0)], 10_000) == pytest.approx(101.0)
    assert idle.extrapolate([(100, 2.0)], 1000) == pytest.approx(20.0)
    step = idle.Step(
        tracked=100,
        interval_s=30,
        window_s=60.0,
        polls=200,
        requests=400,
        by_route={"GET read": 200, "GET pulls_list": 200},
        cpu_s=2.6,
    )
    assert step.requests_per_poll() == 2.0
    assert step.cpu_per_poll(idle_rate=0.01) == pytest.approx(0.01)
    assert step.cycle_cpu(idle_rate=0.01, interval_s=300) == pytest.approx(100 * 0.01 + 3.0)
    assert "full batch is followed at once" in idle.scheduler_note()
    rows = idle.rows_of([step], idle_rate=0.01, interval_s=300)
    assert rows[0].value == pytest.approx(24.0)
    assert rows[0].verdict == "MISS"


def test_compare_two_results(tmp_path: Path) -> None:
    def result(value: float, verdict: str) -> Path:
        row = Row("browse", "ratio", value, "x", target=Target(">=", 0.5))
        path = tmp_path / f"{value}.json"
        path.write_text(json.dumps({"rows": [row.as_dict()]}))
        assert row.verdict == verdict
        return path

    before = compare.load_rows(result(0.25, "MISS"))
    after = compare.load_rows(result(0.5, "PASS"))
    text = compare.render(before, after)
    assert "0.25x" in text
    assert "+100 %" in text
    assert text.splitlines()[-1].split()[-2:] == ["MISS", "PASS"]
    assert compare.change(None, 1.0) == ""
    assert compare.change(2.0, 1.0) == "-50 %"
