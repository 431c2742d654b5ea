"""Smoke test of `smallcaps bench windows --json` on a tiny market (no timing is asserted)."""

from __future__ import annotations

import json
import sys

from typer.testing import CliRunner

from smallcaps_assets.cli import app


def test_bench_windows_prints_one_json_object_with_the_issue_figures():
    args = ["bench", "windows", "--json", "--events", "24", "--days", "3", "--symbols", "40"]
    result = CliRunner().invoke(app, [*args, "--rate-limit", "200", "--latency-ms", "5"])
    assert result.exit_code == 0, result.output
    r = json.loads(result.stdout)
    assert r["events"] == r["fetched"] == 24 and r["failed"] == 0 and r["days"] == 3
    assert r["requests"] == 48 and r["requests_per_event"] == 2.0
    assert r["files_written"] == r["files_on_disk"] == 6 and r["files_per_day"] == 2.0
    assert r["rate_limit"] == 200.0 and r["achieved_req_per_s"] > 0
    assert r["events_per_min"] > 0 and r["seconds"] >= r["download_seconds"] > 0
    assert r["trades_per_event"] > 0 and r["raw_quotes_per_event"] > 0
    assert r["client_cpu_ms_per_event"] > 0
    if sys.platform == "linux":  # read from /proc
        assert r["server_cpu_ms_per_request"] > 0
