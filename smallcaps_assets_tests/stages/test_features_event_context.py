import polars as pl

from smallcaps_assets.stages.features.event_context import event_context_features

from .feature_registry_cases import at, events


def _ctx():
    ev = events(
        [
            ("a1", "AAA", at(9, 40), "volume_spike"),
            ("a2", "AAA", at(9, 40), "hod_break"),  # same bar: neither counts the other
            ("a3", "AAA", at(10, 5), "volume_spike"),
            ("b1", "BBB", at(9, 45), "flush"),
        ]
    )
    return event_context_features(ev).sort("event_id")


def test_counts_only_strictly_earlier_events_of_the_symbol():
    out = _ctx()
    assert out["prior_events_today"].to_list() == [0, 0, 2, 0]
    assert out["prior_same_type_today"].to_list() == [0, 0, 1, 0]
    assert out["prior_volume_spike_today"].to_list() == [0, 0, 1, 0]
    assert out["prior_hod_break_today"].to_list() == [0, 0, 1, 0]
    assert out["prior_flush_today"].to_list() == [0, 0, 0, 0]


def test_minutes_since_prior_and_own_strength():
    out = _ctx()
    assert out["minutes_since_prior_event"].to_list() == [None, None, 25.0, None]
    assert out["event_strength"].to_list() == [1.0, 2.0, 3.0, 4.0]
    assert (out["event_context_input_ts"] == pl.Series([at(9, 40), at(9, 40), at(10, 5), at(9, 45)])).all()


def test_a_later_event_changes_nothing_before_it():
    ev = events([("a1", "AAA", at(9, 40), "volume_spike"), ("a3", "AAA", at(10, 5), "flush")])
    later = pl.concat([ev, events([("zz", "AAA", at(11, 0), "flush")])])
    base = event_context_features(ev).sort("event_id")
    more = event_context_features(later).filter(pl.col("event_id") != "zz").sort("event_id")
    assert base.equals(more)
