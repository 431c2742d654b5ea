"""event_manifest: the intraday events selected for trades/quotes download, with their windows."""

from collections.abc import Iterator

import dagster as dg
import polars as pl
from pydantic import Field

from .. import calendar as cal
from .. import checks, lake
from ..asset_names import EVENT_MANIFEST, INTRADAY_EVENTS, MINUTE_BARS, UNIVERSE
from ..assetkit import daily_asset, partition_day, run, sessions_window, usage_metadata
from ..assetkit.metadata import partition_metadata
from ..resources import PolygonResource
from ..schemas import enforce, event_manifest_contract
from ..stages import manifest as mf
from ..stages import manifest_quality as quality

GROUP = "microstructure"
MAX_WINDOW_SESSIONS = 20  # the self-dependency below covers a trailing window up to this long
_R = mf.ManifestRules()


class ManifestConfig(dg.Config):
    """Selection rules (defaults from the old system; docs/manifest.md)."""

    min_score: float = _R.min_score
    max_per_symbol_type_day: int = _R.max_per_symbol_type_day
    context_types: list[str] = list(_R.context_types)
    max_per_symbol_day: int = _R.max_per_symbol_day
    max_per_symbol_window: int = _R.max_per_symbol_window
    window_sessions: int = _R.window_sessions
    min_bar_dollar_volume: float = _R.min_bar_dollar_volume
    min_bar_shares: float = _R.min_bar_shares
    max_spread_pct: float = _R.max_spread_pct
    spread_bars: int = _R.spread_bars
    max_market_cap: float = _R.max_market_cap
    minutes_before: int = _R.minutes_before
    minutes_after: int = _R.minutes_after
    max_type_share: float = quality.DEFAULTS.max_type_share
    min_rth_share: float = quality.DEFAULTS.min_rth_share
    max_rth_share: float = quality.DEFAULTS.max_rth_share
    quoted_spread: bool = Field(
        True,
        description="measure the spread from the vendor's last 100 quotes before each candidate "
        "(one request each); false: the bar estimate only (a plan without quotes)",
    )

    def rules(self) -> mf.ManifestRules:
        try:
            rules = mf.ManifestRules(
                **self.model_dump(
                    exclude={"max_type_share", "min_rth_share", "max_rth_share", "quoted_spread"}
                )
            )
        except ValueError as exc:
            raise dg.Failure(f"invalid manifest config: {exc}") from exc
        if rules.window_sessions > MAX_WINDOW_SESSIONS:
            raise dg.Failure(f"window_sessions must be <= {MAX_WINDOW_SESSIONS}, got {rules.window_sessions}")
        return rules


@daily_asset(
    EVENT_MANIFEST,
    event_manifest_contract(),
    quality.MANIFEST_GATES,
    group=GROUP,
    deps=[
        INTRADAY_EVENTS,
        MINUTE_BARS,
        UNIVERSE,
        # Per-symbol limits count earlier manifests: a self-dependency, so lineage shows it.
        dg.AssetDep(EVENT_MANIFEST, partition_mapping=sessions_window(-(MAX_WINDOW_SESSIONS - 1), -1)),
    ],
    vendor=True,
)
def event_manifest(
    context: dg.AssetExecutionContext, config: ManifestConfig, polygon: PolygonResource
) -> Iterator[checks.CheckedEvent]:
    """Intraday events selected for trades/quotes download: score >= 0.60, at most 1 per symbol
    and type and 3 per symbol per day, and 6 per symbol over 5 sessions, event bar >= $100K and
    >= 10K shares, spread at the event <= 5% (the median of the vendor's last 100 quotes before
    ts, one request per event that passed score and liquidity; the close-high-low estimate on the
    bars up to the event when no quote comes back), symbol in the day's universe with cap < $2B
    (re-checked), each with its window [ts - 3 min, ts + 7 min). ``manifest_sha256`` in metadata
    hashes the windows asked for; every downloaded window records it. Metadata ``funnel_*``
    counts the events left after each rule, ``spread_*`` where the selected events' spreads came
    from, ``api_usage`` and ``api_*`` the requests."""
    day = partition_day(context)
    rules = config.rules()
    events = lake.read_partition(INTRADAY_EVENTS, day)
    bars = lake.read_partition(MINUTE_BARS, day)
    uni = lake.read_partition(UNIVERSE, day)
    if events is None or bars is None or uni is None:
        raise dg.Failure(f"intraday_events, minute_bars or universe for {day} is missing")
    prior = lake.read_partitions(EVENT_MANIFEST, cal.sessions_before(day, rules.window_sessions - 1))
    quotes, usage_meta = None, {}
    if config.quoted_spread:
        candidates = mf.spread_candidates(events, bars, rules)

        async def fetch():
            async with polygon.connect() as client:
                return await mf.fetch_quotes_before(client, candidates), client.usage

        quotes, usage = run(fetch())
        usage_meta = usage_metadata(usage)
    frame, funnel = mf.select(day, events, bars, uni, prior, rules, quotes_before=quotes)
    frame = enforce(event_manifest_contract(), frame)
    written = lake.write_partition(EVENT_MANIFEST, day, frame, sort_by=["symbol", "ts", "event_type"])
    sha = mf.content_hash(frame)

    recent = lake.read_partitions(EVENT_MANIFEST, cal.sessions_before(day, quality.MIX_SESSIONS - 1))
    trailing = frame if recent is None else pl.concat([recent, frame], how="diagonal_relaxed")
    params = quality.ManifestGateParams(
        rules, config.max_type_share, config.min_rth_share, config.max_rth_share
    )
    gates = quality.manifest_gates(frame, day, uni, prior, trailing, params)
    by_type = dict(frame.group_by("event_type").len().iter_rows())
    by_session = dict(frame.group_by("session").len().iter_rows())
    by_source = dict(frame.group_by("spread_source").len().iter_rows())
    yield from checks.materialized_then_checked(
        dg.MaterializeResult(
            metadata={
                **partition_metadata(written),
                "manifest_sha256": sha,
                "events": frame.height,
                **{f"funnel_{k}": v for k, v in funnel.items()},
                **{f"type_{k}": int(v) for k, v in sorted(by_type.items())},
                **{f"session_{k}": int(v) for k, v in sorted(by_session.items())},
                **{f"spread_{k}": int(by_source.get(k, 0)) for k in (mf.SPREAD_QUOTED, mf.SPREAD_BARS)},
                **usage_meta,
            },
            check_results=checks.results(EVENT_MANIFEST, gates),
        )
    )
