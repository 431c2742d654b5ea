"""Backtests of event strategies on the small-cap market (docs/backtests.md): dated costs
(``costs``), fills that respect quotes, SSR and trading pauses (``fills``), the vectorbt engine
(``engine``), metrics equal to quantstats (``metrics``), baselines (``baselines``), the report
(``report``) and a textbook entry point for any OHLC frame (``ohlc``). Pure: no Dagster here."""
