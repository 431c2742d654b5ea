"""Every lake asset's name, written once.

An asset's name is its Dagster asset key, its lake folder (``<root>/<name>/date=.../``) and its
DuckDB view, so a typo in any of them is a silent miss: code names assets through these constants
only. ``smallcaps_assets_tests/test_definitions.py`` checks that the lists below are exactly the
code location's assets, so a new asset that is not named here fails a test.

Pure: no Dagster import, so the lake, the CLI and the benchmarks can use it cheaply.
"""

from __future__ import annotations

TICKER_REFERENCE = "ticker_reference"
CORPORATE_ACTIONS = "corporate_actions"
TICKER_DETAILS = "ticker_details"
DAILY_BARS = "daily_bars"
UNIVERSE = "universe"
MINUTE_BARS = "minute_bars"
DAILY_EVENTS = "daily_events"
INTRADAY_EVENTS = "intraday_events"
EVENT_MANIFEST = "event_manifest"
EVENT_TRADES = "event_trades"
EVENT_QUOTES = "event_quotes"
SSR_STATUS = "ssr_status"
NEWS = "news"
SHORT_INTEREST = "short_interest"
SHORT_VOLUME = "short_volume"
EVENT_FEATURES = "event_features"
EVENT_LABELS = "event_labels"
SIGNAL_REPORT = "signal_report"
EVENT_MODEL = "event_model"
EVENT_PREDICTIONS = "event_predictions"
BACKTEST = "backtest"

# Reference data and bars: the vendor side of a trading day, from the ticker list to minute bars.
INGEST = (TICKER_REFERENCE, CORPORATE_ACTIONS, TICKER_DETAILS, DAILY_BARS, UNIVERSE, MINUTE_BARS)
# What the day's bars lead to: the daily screen, the detectors, the manifest and its windows, and
# the short-sale restriction status (Rule 201) the features and backtests read.
EVENTS = (DAILY_EVENTS, INTRADAY_EVENTS, EVENT_MANIFEST, EVENT_TRADES, EVENT_QUOTES, SSR_STATUS)
# The vendor's news and FINRA short data, each stamped with when it became public: inputs of the
# reference and news features.
ALTERNATIVE = (NEWS, SHORT_INTEREST, SHORT_VOLUME)
# The research half: what a model learns from (features) and against (labels), per event; the
# walk-forward models (monthly partitions), their out-of-sample predictions (trading days) and the
# monthly backtests of the strategies built on them.
RESEARCH = (EVENT_FEATURES, EVENT_LABELS, SIGNAL_REPORT, EVENT_MODEL, EVENT_PREDICTIONS, BACKTEST)
# The models run after their month ends, not with the daily graph: a month's model needs the month's
# labels to be judged out of sample, and a day's predictions need its month's model.
MODELS = (EVENT_MODEL, EVENT_PREDICTIONS, BACKTEST)
# Monthly partitions (``partitions.trading_months``); every other asset is per trading day.
MONTHLY = (EVENT_MODEL, BACKTEST)
# Every asset, in graph order. Each one writes lake partitions and gets a DuckDB view.
ALL = INGEST + EVENTS + ALTERNATIVE + RESEARCH
# What the daily graph (the daily_close schedule, the demo's day runs, freshness) covers.
DAILY = tuple(a for a in ALL if a not in MODELS)
# What the lookbacks read (universe: 20 prior sessions of daily bars): a warm-up or a long backfill
# runs these over the range first.
DAILY_HISTORY = (TICKER_REFERENCE, CORPORATE_ACTIONS, DAILY_BARS)


def selection(*names: str) -> str:
    """A Dagster selection string naming exactly these assets, e.g. ``key:a or key:b``."""
    return " or ".join(f"key:{name}" for name in names)
