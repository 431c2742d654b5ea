"""The simulated vendor flat files: layout, exact CSV format, round trip, determinism, atomic writes."""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import io
from pathlib import Path

import polars as pl
import pytest

from smallcaps_assets.sim import SimMarket
from smallcaps_assets.sim import flatfiles as ff
from smallcaps_assets.sim.flatfiles import DATASETS, flatfile_key, read_flatfile, write_flatfiles

# The vendor's flat-file headers as its docs list them, not taken from the module under test.
HEADERS = {
    "day_aggs_v1": "ticker,volume,open,close,high,low,window_start,transactions",
    "minute_aggs_v1": "ticker,volume,open,close,high,low,window_start,transactions",
    "trades_v1": "ticker,conditions,correction,exchange,id,participant_timestamp,price,sequence_number,"
    "sip_timestamp,size,tape,trf_id,trf_timestamp",
    "quotes_v1": "ticker,ask_exchange,ask_price,ask_size,bid_exchange,bid_price,bid_size,conditions,"
    "indicators,participant_timestamp,sequence_number,sip_timestamp,tape,trf_timestamp",
}
START, END = dt.date(2024, 1, 12), dt.date(2024, 1, 23)  # spans a weekend, MLK day (01-15), a weekend


def _text(path: Path) -> str:
    return gzip.decompress(path.read_bytes()).decode()


def _pick(market: SimMarket) -> dict:
    """Two common stocks listed over the whole range, a catalyst ticker of the stocks market, an OTC one."""
    days = [d for d in market.sessions() if START <= d <= END]
    stocks = [
        p
        for p in market.profiles()
        if p.market == "stocks" and p.type == "CS" and all(market.is_listed(p, d) for d in days)
    ]
    catalyst = None
    for d in days:
        for t in market.catalysts(d)["ticker"]:
            p = market.profile(t)
            if p.market == "stocks" and market.is_listed(p, d):
                catalyst = (t, d)
                break
        if catalyst:
            break
    otc = [p.ticker for p in market.profiles() if p.market == "otc"]
    normal = [p.ticker for p in stocks if catalyst is None or p.ticker != catalyst[0]][:2]
    symbols = normal + ([catalyst[0]] if catalyst else []) + otc[:1]
    return {"days": days, "normal": normal, "catalyst": catalyst, "otc": otc[:1], "symbols": symbols}


@pytest.fixture(scope="module")
def written(small_market, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("flatfiles")
    picked = _pick(small_market)
    paths = write_flatfiles(small_market, out, START, END, symbols=picked["symbols"])
    return {"out": out, "paths": paths, **picked}


# ----------------------------------------------------------------------------- layout


def test_key_layout():
    assert (
        flatfile_key("trades_v1", dt.date(2024, 4, 5)) == "us_stocks_sip/trades_v1/2024/04/2024-04-05.csv.gz"
    )
    assert (
        flatfile_key("day_aggs_v1", dt.date(2024, 11, 1))
        == "us_stocks_sip/day_aggs_v1/2024/11/2024-11-01.csv.gz"
    )
    with pytest.raises(ValueError):
        flatfile_key("trades_v2", dt.date(2024, 4, 5))


def test_one_file_per_trading_day_and_dataset(written):
    out: Path = written["out"]
    days = written["days"]
    assert dt.date(2024, 1, 15) not in days and len(days) == 7
    expected = {flatfile_key(ds, d) for d in days for ds in DATASETS}
    assert {p.relative_to(out).as_posix() for p in written["paths"]} == expected
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == expected  # no temp files, nothing for 01-13, 01-14 (weekend) or 01-15 (MLK day)


def test_no_file_on_holidays(small_market, tmp_path):
    paths = write_flatfiles(
        small_market,
        tmp_path,
        dt.date(2024, 2, 17),
        dt.date(2024, 2, 19),
        datasets=("day_aggs_v1",),
        symbols=[],
    )
    assert paths == []  # Saturday, Sunday, Presidents' Day
    assert not list(tmp_path.rglob("*.csv.gz"))


def test_unknown_dataset_rejected(small_market, tmp_path):
    with pytest.raises(ValueError, match="unknown"):
        write_flatfiles(small_market, tmp_path, START, START, datasets=("bars_v1",))


def test_exact_headers(written):
    for ds in DATASETS:
        for day in written["days"]:
            text = _text(written["out"] / flatfile_key(ds, day))
            assert text.split("\n", 1)[0] == HEADERS[ds]
            assert text.endswith("\n")


def test_header_only_file_when_no_rows(small_market, tmp_path):
    (path,) = write_flatfiles(small_market, tmp_path, START, START, datasets=("trades_v1",), symbols=["NOPE"])
    assert _text(path) == HEADERS["trades_v1"] + "\n"
    assert read_flatfile(path, "trades_v1").is_empty()


def test_gzip_header_is_deterministic(written):
    raw = written["paths"][0].read_bytes()
    assert raw[:4] == b"\x1f\x8b\x08\x00"  # magic, deflate, no FLG bits: no file name
    assert raw[4:8] == b"\x00\x00\x00\x00"  # mtime 0


# ----------------------------------------------------------------------------- CSV format


def test_multi_condition_lists_are_quoted(written):
    day = written["days"][0]
    text = _text(written["out"] / flatfile_key("trades_v1", day))
    lines = text.splitlines()[1:]
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert all(len(r) == 13 for r in rows)
    multi = [(line, r) for line, r in zip(lines, rows, strict=True) if "," in r[1]]
    assert multi, "expected some trades with several conditions (e.g. odd lot in extended hours)"
    for line, r in multi:
        assert line.split(",", 1)[1].startswith(f'"{r[1]}",')
    single = [line for line, r in zip(lines, rows, strict=True) if r[1] and "," not in r[1]]
    assert single and all('"' not in line for line in single)
    # Exchange prints carry trf_id 0 and trf_timestamp 0.
    assert all(r[11] == "0" and r[12] == "0" for r in rows if r[3] != "4")
    qtext = _text(written["out"] / flatfile_key("quotes_v1", day))
    qrows = list(csv.reader(io.StringIO(qtext)))[1:]
    assert all(len(r) == 14 for r in qrows)
    assert any(r[8] == "" for r in qrows)  # indicators empty when there are none
    assert '""' not in qtext  # empty lists are empty fields, not quoted empty strings
    assert all(r[13] == "0" for r in qrows)


def test_rows_ordered_by_ticker_then_time(written):
    day = written["days"][0]
    for ds, tcol in (
        ("trades_v1", "sip_timestamp"),
        ("quotes_v1", "sip_timestamp"),
        ("minute_aggs_v1", "window_start"),
    ):
        df = read_flatfile(written["out"] / flatfile_key(ds, day), ds)
        assert df.height > 0
        assert df.equals(df.sort("ticker", tcol, maintain_order=True))


def test_otc_excluded(written):
    if not written["otc"]:
        pytest.skip("no OTC ticker in this market")
    for ds in DATASETS:
        for day in written["days"]:
            df = read_flatfile(written["out"] / flatfile_key(ds, day), ds)
            assert written["otc"][0] not in set(df["ticker"])


# ----------------------------------------------------------------------------- round trip


def _round_trip_cases(written) -> list[tuple[str, dt.date]]:
    cases = [(t, written["days"][0]) for t in written["normal"]]
    if written["catalyst"]:
        cases.append(written["catalyst"])
    return cases


def test_round_trip_trades_and_quotes(small_market, written):
    for ticker, day in _round_trip_cases(written):
        tr = read_flatfile(written["out"] / flatfile_key("trades_v1", day), "trades_v1")
        expected = small_market.trades(ticker, day)
        got = tr.filter(pl.col("ticker") == ticker).select(expected.columns)
        assert got.height > 0
        assert got.equals(expected), ticker
        q = read_flatfile(written["out"] / flatfile_key("quotes_v1", day), "quotes_v1")
        expected_q = small_market.quotes(ticker, day)
        got_q = q.filter(pl.col("ticker") == ticker).select(expected_q.columns)
        assert got_q.equals(expected_q), ticker


def test_round_trip_bars(small_market, written):
    for ticker, day in _round_trip_cases(written):
        m = read_flatfile(written["out"] / flatfile_key("minute_aggs_v1", day), "minute_aggs_v1")
        bars = small_market.minute_bars(ticker, day)
        got = m.filter(pl.col("ticker") == ticker).select(
            t=pl.col("window_start") // 1_000_000,
            o="open",
            h="high",
            l="low",
            c="close",
            v="volume",
            n="transactions",
        )
        assert got.equals(bars.select("t", "o", "h", "l", "c", "v", "n")), ticker

        d = read_flatfile(written["out"] / flatfile_key("day_aggs_v1", day), "day_aggs_v1")
        (row,) = d.filter(pl.col("ticker") == ticker).iter_rows(named=True)
        bar = small_market.daily_bar(ticker, day)
        assert (row["open"], row["high"], row["low"], row["close"]) == (
            bar["o"],
            bar["h"],
            bar["l"],
            bar["c"],
        )
        assert (row["volume"], row["transactions"]) == (bar["v"], bar["n"])
        midnight = dt.datetime.combine(day, dt.time(0), tzinfo=dt.timezone(dt.timedelta(hours=-5)))
        assert row["window_start"] == int(midnight.timestamp()) * 10**9  # 00:00 ET (EST in January)


def test_minute_volume_sums_to_day_volume(written):
    for day in written["days"]:
        m = read_flatfile(written["out"] / flatfile_key("minute_aggs_v1", day), "minute_aggs_v1")
        d = read_flatfile(written["out"] / flatfile_key("day_aggs_v1", day), "day_aggs_v1")
        sums = m.group_by("ticker").agg(pl.col("volume").sum()).sort("ticker")
        assert sums.equals(d.select("ticker", "volume").sort("ticker"))


def test_day_aggs_cover_listed_stocks_only(small_market, tmp_path):
    day = dt.date(2024, 2, 1)
    (path,) = write_flatfiles(small_market, tmp_path, day, day, datasets=("day_aggs_v1",))
    got = read_flatfile(path, "day_aggs_v1")
    expected = small_market.grouped_daily(day, adjusted=False)  # grouped daily excludes OTC by default
    assert got["ticker"].to_list() == sorted(expected["T"].to_list())
    assert read_flatfile(path.read_bytes(), "day_aggs_v1").equals(got)  # bytes input, gzip detected


def test_reader_rejects_wrong_header(tmp_path):
    with pytest.raises(ValueError, match="header"):
        read_flatfile(b"ticker,volume\nAA,1\n", "day_aggs_v1")


# ----------------------------------------------------------------------------- determinism and atomicity


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.csv.gz"))}


def test_byte_identical_for_same_seed(small_config, written, tmp_path):
    day = written["days"][0]
    symbols = written["normal"]
    a, b = tmp_path / "a", tmp_path / "b"
    write_flatfiles(SimMarket(small_config), a, day, day, symbols=symbols)
    write_flatfiles(SimMarket(small_config), b, day, day, symbols=symbols)
    ta, tb = _tree(a), _tree(b)
    assert len(ta) == 4 and ta == tb


def test_different_seed_different_files(small_config, tmp_path):
    day = dt.date(2024, 1, 16)
    other = SimMarket(small_config.model_copy(update={"seed": small_config.seed + 1}))
    (pa,) = write_flatfiles(SimMarket(small_config), tmp_path / "a", day, day, datasets=("day_aggs_v1",))
    (pb,) = write_flatfiles(other, tmp_path / "b", day, day, datasets=("day_aggs_v1",))
    assert pa.relative_to(tmp_path / "a") == pb.relative_to(tmp_path / "b")
    assert pa.read_bytes() != pb.read_bytes()


def test_no_partial_file_when_writer_fails(small_market, written, tmp_path, monkeypatch):
    day = written["days"][0]
    calls = {"n": 0}
    real_quotes = small_market.quotes

    def flaky_quotes(ticker, date, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("boom")
        return real_quotes(ticker, date, *args, **kwargs)

    monkeypatch.setattr(small_market, "quotes", flaky_quotes)
    with pytest.raises(RuntimeError, match="boom"):
        write_flatfiles(small_market, tmp_path, day, day, symbols=written["normal"])
    assert calls["n"] == 2
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_no_partial_file_when_compression_fails(small_market, written, tmp_path, monkeypatch):
    """An error on the background compression thread surfaces and removes the temp file too."""
    day = written["days"][0]

    def broken_write(self, data):
        raise OSError("disk full")

    monkeypatch.setattr(ff.gzip.GzipFile, "write", broken_write)
    with pytest.raises(OSError, match="disk full"):
        write_flatfiles(small_market, tmp_path, day, day, datasets=("trades_v1",), symbols=written["normal"])
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


# ----------------------------------------------------------------------------- vendor rules end to end


def test_trades_to_flat_file_vwap_follow_the_vendor_rules(small_market, written):
    """trades_v1 -> the platform's VWAP rebuild (flatfiles_source.trade_vwap) -> exactly the
    minute_aggs_v1 volume and the market's minute VWAP. The tape carries prints the vendor keeps out
    of every bar (cancelled/erroneous, official open/close), so counting every trade must not match."""
    from smallcaps_assets import flatfiles_source
    from smallcaps_assets.stages import trade_rules

    void = official = 0
    for day in written["days"]:
        tr = read_flatfile(written["out"] / flatfile_key("trades_v1", day), "trades_v1")
        minute = read_flatfile(written["out"] / flatfile_key("minute_aggs_v1", day), "minute_aggs_v1")
        rebuilt = flatfiles_source.trade_vwap(str(written["out"]), day, daily=False)
        joined = minute.select("ticker", bucket="window_start", volume="volume", n="transactions").join(
            rebuilt, on=["ticker", "bucket"], how="left"
        )
        assert joined["v"].null_count() == 0
        assert (joined["v"] == joined["volume"]).all()
        for ticker in minute["ticker"].unique():
            bars = small_market.minute_bars(ticker, day)
            mine = joined.filter(pl.col("ticker") == ticker).sort("bucket")
            assert mine["vw"].to_list() == bars["vw"].to_list(), (ticker, day)
        # Counting every print instead (no vendor rules) gives other volumes and counts.
        naive = tr.group_by(
            "ticker", bucket=(pl.col("sip_timestamp") // 60_000_000_000) * 60_000_000_000
        ).agg(v_all=pl.col("size").sum(), n_all=pl.len())
        both = minute.select("ticker", bucket="window_start", volume="volume", n="transactions").join(
            naive, on=["ticker", "bucket"]
        )
        void += int((tr["correction"] != 0).sum())
        official += int(tr["conditions"].list.contains(15).sum() + tr["conditions"].list.contains(16).sum())
        assert (both["n_all"] >= both["n"]).all() and (both["v_all"] >= both["volume"]).all()
        daily = flatfiles_source.trade_vwap(str(written["out"]), day, daily=True)
        for row in daily.iter_rows(named=True):
            bar = small_market.daily_bar(row["ticker"], day)
            assert (row["v"], row["vw"]) == (bar["v"], bar["vw"])
    assert void > 0 and official > 0  # the rules were exercised
    day = written["days"][0]
    tr = read_flatfile(written["out"] / flatfile_key("trades_v1", day), "trades_v1")
    everything = tr.with_columns(correction=pl.lit(0, pl.Int32), conditions=pl.lit([], pl.List(pl.Int32)))
    bucket = trade_rules.minute_bucket(0)
    counted_all = trade_rules.vwap_from_parts([trade_rules.vwap_parts(everything, bucket, daily=False)])
    by_rules = trade_rules.vwap_from_parts([trade_rules.vwap_parts(tr, bucket, daily=False)])
    assert counted_all["v"].sum() > by_rules["v"].sum()
