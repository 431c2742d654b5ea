"""A small offline market wired into the real Dagster definitions, on a temporary lake."""

from __future__ import annotations

import datetime as dt
import json

from smallcaps_assets import calendar as cal
from smallcaps_assets.sim import SimConfig

PIPE_CONFIG = SimConfig(seed=21, n_symbols=160, start=dt.date(2023, 10, 2), end=dt.date(2024, 6, 28))
DAY = dt.date(2024, 3, 6)  # a Wednesday: exercises the weekly shares anchor and carry-forward
ROOTS = "key:ticker_reference or key:corporate_actions or key:daily_bars"
WARM_SESSIONS = 6


# The test market's lake has no minute bars before DAY, so no baselines: with the in-play filter
# its few catalysts give a handful of events. Tests of the event plumbing run the rules alone.
RULES_ONLY_RUN = {"ops": {"intraday_events": {"config": {"in_play": False}}}}


def warm_days(day: dt.date, n: int) -> list[dt.date]:
    out = [cal.previous_trading_day(day)]
    while len(out) < n:
        out.append(cal.previous_trading_day(out[-1]))
    return sorted(out)


# The fixtures built on this market (sim_config_file, polygon, warm_lake) are in the root
# conftest.py, so that tests outside defs/ (test_cli.py) share the same session-scoped warm lake.


def sim_json() -> str:
    return json.dumps(json.loads(PIPE_CONFIG.model_dump_json()))
