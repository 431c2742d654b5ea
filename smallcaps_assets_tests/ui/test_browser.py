"""The Dagster UI in a real browser: Playwright drives Debian's Chromium against ``dagster dev``.

A small demo instance (the test market of ``defs/conftest.py``, a temporary ``DAGSTER_HOME`` with the
project's dagster.yaml and a temporary lake) gets the reference data of ``DAY`` and the two sessions
after it, so that ``daily_bars`` can be materialised from the UI for those days. The test then starts ``dagster dev`` on a free port with the project's
workspace and shows, as a user clicks through it, that:

- the asset graph shows every asset (``asset_names.ALL``);
- an asset page shows its description, checks, row count and column schema;
- a one-partition materialisation launched from the UI succeeds;
- a two-day backfill launched from the UI succeeds;
- each check's history has one row per run, each naming its partition (no "Skipped" rows).

Screenshots go to ``$SMALLCAPS_UI_SCREENSHOTS`` when set (``make ui-screenshots`` writes
``docs/ui/``, which docs/operations.md walks through), else to a temporary folder.
Chromium comes from Debian's ``chromium`` package (``make browser-deps``), never a Playwright download.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from smallcaps_assets import asset_names as names
from smallcaps_assets import calendar as cal

from ..defs.conftest import DAY, PIPE_CONFIG

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[2]
ASSET = names.DAILY_BARS
ONE_DAY = DAY
RUN_TIMEOUT_S = 150
BACKFILL_DAYS = cal.trading_days(DAY + dt.timedelta(days=1), DAY + dt.timedelta(days=10))[:2]
UI_DAYS = [ONE_DAY, *BACKFILL_DAYS]


def _require_browser() -> None:
    try:
        import playwright  # noqa: F401
    except ImportError:
        _missing("the playwright package (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        _missing(f"{CHROMIUM} (make browser-deps: apt-get install -y chromium)")


def _missing(what: str) -> None:
    # CI must run this test: a missing browser there is a failure, on a laptop a skip.
    if os.environ.get("CI"):
        pytest.fail(f"the browser test needs {what}")
    pytest.skip(f"needs {what}")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _graphql(base: str, query: str, variables: dict | None = None) -> dict:
    body = json.dumps({"query": query, "variables": variables or {}}).encode()
    request = urllib.request.Request(f"{base}/graphql", body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())["data"]


def _wait_for_location(base: str, server: subprocess.Popen, timeout_s: float = 120) -> None:
    query = "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus } } } }"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert server.poll() is None, "dagster dev exited before serving"
        try:
            entries = _graphql(base, query)["workspaceOrError"]["locationEntries"]
            if entries and all(e["loadStatus"] == "LOADED" for e in entries):
                return
        except OSError:
            pass
        time.sleep(1)
    raise TimeoutError(f"the code location did not load within {timeout_s} s")


def _poll(fetch, done, timeout_s: float = RUN_TIMEOUT_S):
    deadline = time.monotonic() + timeout_s
    while True:
        value = fetch()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(2)


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory):
    """``dagster dev`` on a small demo instance; yields its base URL."""
    _require_browser()
    import dagster as dg

    from smallcaps_assets.materialize import materialize_range

    root = tmp_path_factory.mktemp("demo_ui")
    (root / "home").mkdir()
    shutil.copy(REPO / "dagster.yaml", root / "home" / "dagster.yaml")
    (root / "sim.json").write_text(PIPE_CONFIG.model_dump_json())
    mp = pytest.MonkeyPatch()
    mp.setenv("SMALLCAPS_DATA_DIR", str(root / "lake"))
    mp.setenv("SMALLCAPS_SIM_CONFIG", str(root / "sim.json"))
    mp.setenv("DAGSTER_HOME", str(root / "home"))
    with dg.DagsterInstance.get():
        pass  # creates the instance's tables before two processes use them

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = (root / "dagster_dev.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "dagster", "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: teardown stops webserver, daemon and code server
    )
    try:
        # While dagster dev starts: daily_bars reads its own day's reference data only, so that is
        # all the lake needs for the UI to materialise daily_bars for UI_DAYS.
        upstream = names.selection(names.TICKER_REFERENCE, names.CORPORATE_ACTIONS)
        out = materialize_range(upstream, UI_DAYS[0], UI_DAYS[-1])
        assert out.success, [(d.day, d.error) for d in out.days]
        _wait_for_location(base, server)
        # The community sign-up dialog opens on first visits to a local UI and covers the page.
        _graphql(base, "mutation { setNuxSeen }")
        yield base
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()
        mp.undo()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("SMALLCAPS_UI_SCREENSHOTS") or tmp_path_factory.mktemp("ui_shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def page(demo_ui):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 800}, base_url=demo_ui)
        page.set_default_timeout(30_000)
        yield page
        browser.close()


def _launch_from_asset_page(page, partitions: str, button: str) -> str:
    """Open the asset's Materialize dialog, type ``partitions`` and press ``button``; the id in the
    confirmation toast ("Launched run 9027b2da", "Created backfill rpujcatz")."""
    page.goto(f"/assets/{ASSET}")
    page.get_by_role("button", name="Materialize…").click()
    dialog = page.get_by_role("dialog")
    # The picker opens on the last 90 days (no data in a historical lake): widen it first.
    dialog.get_by_role("button", name="Show all partitions").click()
    box = dialog.get_by_placeholder("ex: ")
    box.fill(partitions)
    box.press("Enter")
    dialog.get_by_role("button", name=button).click()
    toast = page.get_by_text(re.compile(r"^(Launched run|Created backfill) \w+$"))
    toast.wait_for()
    return toast.inner_text().split()[-1]


@pytest.fixture(scope="module")
def ui_run(page, demo_ui, shots) -> dict:
    """One partition of daily_bars launched from its page; the run as the instance reports it."""
    prefix = _launch_from_asset_page(page, ONE_DAY.isoformat(), "Launch 1 run")
    query = "{ runsOrError(limit: 20) { ... on Runs { results { runId status tags { key value } } } } }"

    def fetch():
        runs = _graphql(demo_ui, query)["runsOrError"]["results"]
        return next(r for r in runs if r["runId"].startswith(prefix))

    run = _poll(fetch, lambda r: r["status"] in ("SUCCESS", "FAILURE", "CANCELED"))
    page.goto(f"/runs/{run['runId']}")
    if run["status"] == "SUCCESS":  # else the test below reports the status
        page.get_by_text("RUN_SUCCESS").first.wait_for()  # the event log has loaded
    page.screenshot(path=shots / "3-run.png")
    return run


@pytest.fixture(scope="module")
def ui_backfill(page, demo_ui, shots, ui_run) -> dict:
    """Two days of daily_bars launched from its page as a backfill; the backfill and its runs."""
    backfill_id = _launch_from_asset_page(
        page, ", ".join(d.isoformat() for d in BACKFILL_DAYS), "Launch backfill"
    )
    query = """query ($id: String!) { partitionBackfillOrError(backfillId: $id) {
        ... on PartitionBackfill { status partitionNames runs(limit: 10) { runId status tags { key value } } } } }"""

    def fetch():
        return _graphql(demo_ui, query, {"id": backfill_id})["partitionBackfillOrError"]

    backfill = _poll(fetch, lambda b: b["status"] not in ("REQUESTED",), timeout_s=2 * RUN_TIMEOUT_S)
    page.goto(f"/runs/b/{backfill_id}")
    page.get_by_text("Partition selection").wait_for()
    page.screenshot(path=shots / "4-backfill.png")
    return backfill


def test_the_asset_graph_shows_every_asset(page, shots):
    page.goto("/asset-groups")
    page.get_by_text("microstructure").last.wait_for()
    # Five groups start collapsed; the graph's context menu expands them all.
    page.mouse.click(900, 700, button="right")
    page.get_by_role("menuitem", name="Expand all groups").click()
    graph = page.locator("svg")
    graph.get_by_text(names.TICKER_REFERENCE, exact=True).first.wait_for()
    missing = [n for n in names.ALL if graph.get_by_text(n, exact=True).count() == 0]
    page.screenshot(path=shots / "1-asset-graph.png")
    assert missing == []


def test_an_asset_page_shows_description_checks_row_count_and_columns(page, shots, ui_run):
    import dagster as dg

    from smallcaps_assets import lake
    from smallcaps_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    key = dg.AssetKey(ASSET)
    check_names = sorted(k.name for k in graph.get_check_keys_for_assets({key}))
    with dg.DagsterInstance.get() as instance:
        latest = instance.get_latest_materialization_event(key)
    rows = lake.read_partition(ASSET, dt.date.fromisoformat(latest.asset_materialization.partition)).height

    page.goto(f"/assets/{ASSET}")
    row_count = page.get_by_text("Row count", exact=True).locator("xpath=..")
    row_count.wait_for()
    assert re.sub(r"\D", "", row_count.inner_text()) == str(rows)
    description = graph.get(key).description
    assert page.get_by_text(description.split("(")[0].strip()[:50]).count() >= 1
    columns_table = page.locator("table").filter(has_text="Column name").first
    shown = {line.strip() for line in columns_table.inner_text().splitlines()}
    assert set(lake.read_partition(ASSET, ONE_DAY).columns) <= shown
    page.screenshot(path=shots / "2-asset-page.png")

    page.goto(f"/assets/{ASSET}?view=checks")
    for name in check_names:
        page.get_by_text(name, exact=True).first.wait_for()
    assert len(check_names) == 3


def test_a_one_partition_run_launched_from_the_ui_succeeds(ui_run):
    tags = {t["key"]: t["value"] for t in ui_run["tags"]}
    assert (ui_run["status"], tags.get("dagster/partition"), tags.get("dagster/from_ui")) == (
        "SUCCESS",
        ONE_DAY.isoformat(),
        "true",
    )


def test_a_two_day_backfill_launched_from_the_ui_succeeds(ui_backfill):
    assert ui_backfill["status"] == "COMPLETED_SUCCESS"
    assert ui_backfill["partitionNames"] == [d.isoformat() for d in BACKFILL_DAYS]
    statuses = sorted(r["status"] for r in ui_backfill["runs"])
    assert statuses == ["SUCCESS", "SUCCESS"]


def test_check_history_rows_name_their_partition(page, shots, ui_run, ui_backfill):
    """One row per run for each UI-launched day, each naming its partition: a backfill run tagged with
    a one-day range (BackfillPolicy.multi_run(1)) left a "Skipped" row and a result without one."""
    page.goto(f"/assets/{ASSET}?view=checks")
    page.get_by_text("Execution history", exact=True).click()
    table = page.locator("table").filter(has_text="Evaluation result").first
    table.get_by_text(BACKFILL_DAYS[-1].isoformat(), exact=True).wait_for()
    rows = [[c.strip() for c in r.locator("td").all_inner_texts()] for r in table.locator("tbody tr").all()]
    page.screenshot(path=shots / "5-check-history.png")
    results = [r[0] for r in rows if r]
    partitions = [r[3] for r in rows if len(r) > 3]
    assert "Skipped" not in results
    assert "-" not in partitions
    for day in UI_DAYS:
        assert partitions.count(day.isoformat()) == 1, (day, rows)
