import polars as pl

from smallcaps_assets.stages.events.schema import UTC_NS
from smallcaps_assets.stages.features.ssr import ssr_features

from .feature_registry_cases import at, events


def _status(rows):
    return pl.DataFrame(
        rows,
        schema={
            "symbol": pl.String,
            "triggered_at": UTC_NS,
            "carried_over": pl.Boolean,
            "active_from": UTC_NS,
            "active_until": UTC_NS,
        },
        orient="row",
    )


END = at(20, 0)


def test_a_trigger_is_seen_only_from_its_instant():
    ev = events([("e1", "AAA", at(10, 0), "flush"), ("e2", "AAA", at(11, 0), "flush")])
    st = _status([("AAA", at(10, 30), False, at(10, 30), END)])
    out = ssr_features(ev, st).sort("event_id")
    assert out["ssr_active"].to_list() == [False, True]
    assert out["ssr_triggered_today"].to_list() == [False, True]
    assert out["minutes_since_ssr_trigger"].to_list() == [None, 30.0]
    assert out["ssr_input_ts"].to_list() == [None, at(10, 30)]


def test_carried_over_is_active_from_the_pre_market():
    ev = events([("e1", "AAA", at(4, 5), "flush")])
    st = _status([("AAA", None, True, at(4, 0), END)])
    out = ssr_features(ev, st)
    assert out.row(0, named=True) | {} == {
        "event_id": "e1",
        "ssr_active": True,
        "ssr_carried_over": True,
        "ssr_triggered_today": False,
        "minutes_since_ssr_trigger": None,
        "ssr_input_ts": at(4, 0),
    }


def test_unknown_symbol_is_null_not_false():
    ev = events([("e1", "ZZZ", at(10, 0), "flush")])
    out = ssr_features(ev, _status([("AAA", None, False, None, None)]))
    assert out["ssr_active"].to_list() == [None]
    assert ssr_features(ev, None)["ssr_triggered_today"].to_list() == [None]


def test_leaky_variant_is_caught():
    """Reading 'triggered today' from the row alone (whole day) would flag e1 before its trigger."""
    ev = events([("e1", "AAA", at(10, 0), "flush")])
    st = _status([("AAA", at(10, 30), False, at(10, 30), END)])
    leaky = ev.join(st, on="symbol").select(leak=pl.col("triggered_at").is_not_null())
    assert leaky["leak"].to_list() == [True]
    assert ssr_features(ev, st)["ssr_triggered_today"].to_list() == [False]
