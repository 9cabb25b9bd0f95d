"""C4 statistics CSV (spec D24): per-shard files merge into one, and the page funnel is checked step by step."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from t5repro.c4 import stats_csv
from t5repro.c4.stats_csv import StatRow, check_funnel, merge_stats, read_rows, totals, write_rows

HEADER = "variant,shard,step,counter,value\n"

# Two variants, two shards each. Per step: pages_in == pages_out + sum(dropped/*); pages_out feeds the next step.
EN_SHARD0 = """\
en,0,parse,pages_in,110
en,0,parse,pages_out,100
en,0,parse,dropped/page-invalid,10
en,0,parse,bytes_out,50000
en,0,parse,wet_files,2
en,0,parse,wet_files_skipped,0
en,0,length,pages_in,100
en,0,length,pages_out,99
en,0,length,dropped/filtered-page-toolong,1
en,0,url_dedup,pages_in,99
en,0,url_dedup,pages_out,90
en,0,url_dedup,dropped/filtered-url-duplicate,9
en,0,clean,pages_in,90
en,0,clean,pages_out,40
en,0,clean,dropped/filtered-page-toofewsentences,30
en,0,clean,dropped/filtered-page-badword,12
en,0,clean,dropped/filtered-page-squigglybracket,6
en,0,clean,dropped/filtered-page-loremipsum,2
en,0,clean,lines/lines-no-endmark,700
en,0,dedup,pages_in,40
en,0,dedup,pages_out,38
en,0,dedup,dropped/filtered-page-toofewsentences,2
en,0,langid,pages_in,38
en,0,langid,pages_out,35
en,0,langid,dropped/filtered-page-nonenglish,3
en,0,langid,lang/en,36
en,0,langid,lang/de,2
en,0,split,pages_in,35
en,0,split,pages_out,35
en,0,split,pages_out/train,34
en,0,split,pages_out/validation,1
en,0,split,bytes_out/train,13600
"""
EN_SHARD1 = """\
en,1,parse,pages_in,105
en,1,parse,pages_out,100
en,1,parse,dropped/page-invalid,5
en,1,parse,bytes_out,52000
en,1,parse,wet_files,2
en,1,parse,wet_files_skipped,1
en,1,length,pages_in,100
en,1,length,pages_out,100
en,1,length,dropped/filtered-page-toolong,0
en,1,url_dedup,pages_in,100
en,1,url_dedup,pages_out,92
en,1,url_dedup,dropped/filtered-url-duplicate,8
en,1,clean,pages_in,92
en,1,clean,pages_out,44
en,1,clean,dropped/filtered-page-toofewsentences,28
en,1,clean,dropped/filtered-page-badword,10
en,1,clean,dropped/filtered-page-squigglybracket,8
en,1,clean,dropped/filtered-page-loremipsum,2
en,1,clean,lines/lines-no-endmark,650
en,1,dedup,pages_in,44
en,1,dedup,pages_out,41
en,1,dedup,dropped/filtered-page-toofewsentences,3
en,1,langid,pages_in,41
en,1,langid,pages_out,39
en,1,langid,dropped/filtered-page-nonenglish,2
en,1,langid,lang/en,39
en,1,langid,lang/fr,2
en,1,split,pages_in,39
en,1,split,pages_out,39
en,1,split,pages_out/train,39
en,1,split,pages_out/validation,0
en,1,split,bytes_out/train,15000
"""
NOCLEAN_SHARD0 = """\
en.noclean,0,parse,pages_in,110
en.noclean,0,parse,pages_out,100
en.noclean,0,parse,dropped/page-invalid,10
en.noclean,0,url_dedup,pages_in,100
en.noclean,0,url_dedup,pages_out,91
en.noclean,0,url_dedup,dropped/filtered-url-duplicate,9
en.noclean,0,langid,pages_in,91
en.noclean,0,langid,pages_out,80
en.noclean,0,langid,dropped/filtered-page-nonenglish,11
en.noclean,0,split,pages_in,80
en.noclean,0,split,pages_out,80
"""
NOCLEAN_SHARD1 = """\
en.noclean,1,parse,pages_in,105
en.noclean,1,parse,pages_out,100
en.noclean,1,parse,dropped/page-invalid,5
en.noclean,1,url_dedup,pages_in,100
en.noclean,1,url_dedup,pages_out,92
en.noclean,1,url_dedup,dropped/filtered-url-duplicate,8
en.noclean,1,langid,pages_in,92
en.noclean,1,langid,pages_out,85
en.noclean,1,langid,dropped/filtered-page-nonenglish,7
en.noclean,1,split,pages_in,85
en.noclean,1,split,pages_out,85
"""


def _write(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + body, encoding="utf-8")
    return path


@pytest.fixture()
def shards(tmp_path) -> list[Path]:
    return [_write(tmp_path / "shards" / name, body) for name, body in (
        ("en-0.csv", EN_SHARD0), ("en-1.csv", EN_SHARD1),
        ("noclean-0.csv", NOCLEAN_SHARD0), ("noclean-1.csv", NOCLEAN_SHARD1))]


def _replace(text: str, old: str, new: str) -> str:
    assert text.count(old) == 1, old
    return text.replace(old, new)


def test_merge_sums_shards_in_pipeline_order(shards, tmp_path):
    out = tmp_path / "merged" / "stats.csv"
    merge_stats(shards, out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER.strip()
    rows = read_rows(out)
    assert {r.shard for r in rows} == {"all"}
    merged = {(r.variant, r.step, r.counter): r.value for r in rows}
    assert merged[("en", "parse", "pages_in")] == 215
    assert merged[("en", "clean", "dropped/filtered-page-toofewsentences")] == 58
    assert merged[("en", "clean", "lines/lines-no-endmark")] == 1350
    assert merged[("en", "langid", "lang/de")] == 2 and merged[("en", "langid", "lang/en")] == 75
    assert merged[("en", "split", "bytes_out/train")] == 28600
    assert merged[("en.noclean", "langid", "pages_out")] == 165
    assert len(rows) == len({(r.variant, r.step, r.counter) for r in rows})  # one row per counter
    # Pipeline order within a variant, pages counters first within a step.
    en_steps = [r.step for r in rows if r.variant == "en"]
    assert en_steps == sorted(en_steps, key=stats_csv.STEPS.index)
    assert [r.counter for r in rows if r.variant == "en" and r.step == "clean"][:2] == ["pages_in", "pages_out"]
    assert [r.variant for r in rows] == sorted(r.variant for r in rows)
    assert not list(out.parent.glob(".*tmp"))  # atomic write leaves nothing behind
    check_funnel(rows)


def test_check_funnel_sums_shard_rows(shards):
    rows = [r for p in shards for r in read_rows(p)]
    check_funnel(rows)  # shard rows are summed before checking
    assert totals(rows)["en"]["dedup"] == {"pages_in": 84, "pages_out": 79,
                                           "dropped/filtered-page-toofewsentences": 5}
    check_funnel(read_rows(shards[0]))  # one shard alone is consistent too


def test_step_that_loses_pages_raises(tmp_path):
    broken = _replace(EN_SHARD1, "en,1,clean,dropped/filtered-page-badword,10", "en,1,clean,dropped/filtered-page-badword,9")
    rows = read_rows(_write(tmp_path / "a.csv", EN_SHARD0)) + read_rows(_write(tmp_path / "b.csv", broken))
    with pytest.raises(ValueError, match=r"variant 'en', step 'clean'.*pages_in 182 != pages_out 84 \+ dropped 97"):
        check_funnel(rows)


def test_chain_break_between_steps_raises(tmp_path):
    # Shard 1's dedup step gets one page more than clean emitted (and accounts for it as dropped).
    broken = _replace(EN_SHARD1, "en,1,dedup,pages_in,44", "en,1,dedup,pages_in,45")
    broken = _replace(broken, "en,1,dedup,dropped/filtered-page-toofewsentences,3",
                      "en,1,dedup,dropped/filtered-page-toofewsentences,4")
    rows = read_rows(_write(tmp_path / "a.csv", EN_SHARD0)) + read_rows(_write(tmp_path / "b.csv", broken))
    noclean = read_rows(_write(tmp_path / "c.csv", NOCLEAN_SHARD0))
    with pytest.raises(ValueError, match=r"variant 'en', step 'dedup'.*pages_in 85 != pages_out 84.*'clean'") as e:
        check_funnel(noclean + rows)
    assert "en.noclean" not in str(e.value)  # the consistent variant is not blamed


def test_split_counters_must_add_up(tmp_path):
    broken = _replace(EN_SHARD0, "en,0,split,pages_out/train,34", "en,0,split,pages_out/train,33")
    with pytest.raises(ValueError, match=r"variant 'en', step 'split'.*pages_out/train, pages_out/validation"):
        check_funnel(read_rows(_write(tmp_path / "a.csv", broken)))


def test_missing_pages_counter_raises():
    rows = [StatRow("en", "all", "parse", "pages_in", 3), StatRow("en", "all", "parse", "dropped/x", 3)]
    with pytest.raises(ValueError, match=r"variant 'en', step 'parse'.*pages_out missing"):
        check_funnel(rows)
    check_funnel([*rows, StatRow("en", "all", "parse", "pages_out", 0)])


def test_read_rows_rejects_malformed_files(tmp_path):
    bad_header = tmp_path / "h.csv"
    bad_header.write_text("variant,shard,step,name,value\nen,0,parse,pages_in,1\n")
    with pytest.raises(ValueError, match="header"):
        read_rows(bad_header)
    for body, message in (("en,0,parse,pages_in,1.5\n", r"b\.csv:2: value '1\.5' is not an integer"),
                          ("en,0,parse,pages_in,-1\n", "non-negative"),
                          ("en,0,tokenize,pages_in,1\n", r"unknown step 'tokenize'"),
                          ("en,first,parse,pages_in,1\n", "shard"),
                          ("en,0,parse,pages_in\n", "expected 5 fields")):
        with pytest.raises(ValueError, match=message):
            read_rows(_write(tmp_path / "b.csv", body))


def test_write_read_round_trip_and_duplicates(tmp_path):
    rows = [StatRow("en", "3", "split", "pages_out/train", 7), {"variant": "en", "shard": "all", "step": "parse",
                                                                "counter": "pages_in", "value": 9}]
    path = tmp_path / "x" / "stats.csv"
    assert write_rows(path, rows) == 2
    assert read_rows(path) == [StatRow("en", "3", "split", "pages_out/train", 7),
                               StatRow("en", "all", "parse", "pages_in", 9)]
    with path.open(newline="") as f:
        assert next(csv.reader(f)) == list(stats_csv.FIELDS)
    with pytest.raises(ValueError, match="value"):
        write_rows(tmp_path / "y.csv", [StatRow("en", "0", "parse", "pages_in", "9")])  # type: ignore[arg-type]
    assert not (tmp_path / "y.csv").exists()
    # The same shard merged twice would double its counts: refused.
    shard = _write(tmp_path / "s0.csv", EN_SHARD0)
    with pytest.raises(ValueError, match="appears twice"):
        merge_stats([shard, shard], tmp_path / "m.csv")
    with pytest.raises(ValueError, match="no shard statistics"):
        merge_stats([], tmp_path / "m.csv")
    assert not (tmp_path / "m.csv").exists()
