"""Bad WET input at the pipeline level (spec D2): each corrupt file is reported, listed in the manifest and
skipped whole (never partially used); a record with a wrong Content-Length is counted and read as TFDS reads
it; too many corrupt files, or c4.on_bad_wet=error, stop the job and leave
no output folder behind."""

from __future__ import annotations

import gzip
import json

import pytest

from t5repro import config as config_lib
from t5repro.c4 import pipeline, stats_csv
from t5repro.c4.wet import WetFormatError

BODY = ("This sentence is long enough to keep here. Another sentence follows right after it now. "
        "A third sentence closes the short paragraph for good.")


def _page(wet_member, url: str, body: str = BODY, **kw) -> bytes:
    return wet_member(url, body.encode("utf-8"), **kw)


@pytest.fixture
def wet_dir(tmp_path, wet_member):
    d = tmp_path / "wet"
    d.mkdir()
    info = wet_member(None, b"software: test\r\n", rec_type="warcinfo")
    good = info + _page(wet_member, "http://good.org/1") + _page(wet_member, "http://good.org/2")
    (d / "a-good.warc.wet.gz").write_bytes(good)
    trunc = info + _page(wet_member, "http://trunc.org/1") + _page(wet_member, "http://trunc.org/2")
    (d / "b-truncated.warc.wet.gz").write_bytes(trunc[:-12])  # its first page is fine, the file is not
    (d / "c-length.warc.wet.gz").write_bytes(info + _page(wet_member, "http://len.org/1", declared=len(BODY) + 9))
    latin1 = wet_member("http://latin1.org/1", ("Caf\u00e9 " + BODY).encode("latin-1"))
    (d / "d-latin1.warc.wet.gz").write_bytes(info + _page(wet_member, "http://latin1.org/0") + latin1)
    (d / "e-empty.warc.wet.gz").write_bytes(b"")
    (d / "f-info-only.warc.wet.gz").write_bytes(info)
    return d


def _cfg(tmp_path, data_dir, wet_dir, *extra):
    return config_lib.load([f"io.wet_dir={wet_dir}", f"io.c4_dir={tmp_path / 'c4'}", f"io.data_dir={data_dir}",
                            "c4.num_shards=1", "c4.langdetect_threshold=0", *extra])


def test_corrupt_files_are_skipped_whole_and_listed(tmp_path, data_dir, wet_dir):
    pipeline.run(_cfg(tmp_path, data_dir, wet_dir, "c4.max_bad_wet_fraction=1.0"))
    out = tmp_path / "c4"
    manifest = json.loads((out / "manifest.json").read_text())
    skipped = {s["file"].rsplit("/", 1)[-1]: s["reason"] for s in manifest["skipped_corrupt_wet_files"]}
    assert set(skipped) == {"b-truncated.warc.wet.gz", "d-latin1.warc.wet.gz", "e-empty.warc.wet.gz"}
    assert "truncated gzip member" in skipped["b-truncated.warc.wet.gz"]
    assert "utf-8" in skipped["d-latin1.warc.wet.gz"].lower()
    assert "empty file" in skipped["e-empty.warc.wet.gz"]
    rows = {(r.step, r.counter): r.value for r in stats_csv.read_rows(out / "stats.csv")}
    assert rows[("parse", "wet_files")] == 6 and rows[("parse", "wet_files_skipped")] == 3
    assert rows[("parse", "wet_files_without_conversion_records")] == 1
    # a wrong Content-Length is counted and read line by line, as TFDS reads it (its page is kept)
    assert rows[("parse", "wet_records_bad_framing")] == 1
    urls = {json.loads(line)["url"] for f in out.glob("*.jsonl.gz") for line in gzip.open(f, "rt")}
    # the valid first pages of the truncated and latin-1 files are not used (D2)
    assert rows[("parse", "pages_out")] == 3
    assert urls <= {"http://good.org/1", "http://good.org/2", "http://len.org/1"}


def test_too_many_corrupt_files_stop_the_job(tmp_path, data_dir, wet_dir):
    with pytest.raises(WetFormatError, match=r"3 of 6 WET files of shard 0 are corrupt .*c4\.max_bad_wet_fraction"):
        pipeline.run(_cfg(tmp_path, data_dir, wet_dir))
    assert not (tmp_path / "c4").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no half-written folder


def test_on_bad_wet_error_names_the_file(tmp_path, data_dir, wet_dir):
    with pytest.raises(WetFormatError, match=r"b-truncated\.warc\.wet\.gz: truncated gzip member at byte offset \d+"):
        pipeline.run(_cfg(tmp_path, data_dir, wet_dir, "c4.on_bad_wet=error"))
    assert not (tmp_path / "c4").exists()


def test_known_corrupt_file_is_skipped_unread(tmp_path, data_dir, wet_member):  # spec D2: TFDS's list as data
    names = pipeline.known_corrupt_names()
    assert "CC-MAIN-20170322213003-00052-ip-10-233-31-227.ec2.internal.warc.wet.gz" in names
    d = tmp_path / "wet"
    d.mkdir()
    (d / "a.warc.wet.gz").write_bytes(_page(wet_member, "http://good.org/1"))
    (d / sorted(names)[0]).write_bytes(_page(wet_member, "http://listed.org/1"))  # readable, still skipped
    pipeline.run(_cfg(tmp_path, data_dir, d, "c4.max_bad_wet_fraction=0"))
    manifest = json.loads((tmp_path / "c4" / "manifest.json").read_text())
    assert [s["reason"] for s in manifest["skipped_corrupt_wet_files"]] == [
        "known corrupt (TFDS _KNOWN_CORRUPT_WET_FILES)"]
    rows = {(r.step, r.counter): r.value for r in stats_csv.read_rows(tmp_path / "c4" / "stats.csv")}
    assert rows[("parse", "pages_out")] == 1


def test_download_shard_paths_skip_known_corrupt_and_check_the_count():  # spec D2
    from t5repro.download import shard_paths

    corrupt = ("crawl-data/CC-MAIN-2017-13/segments/1490218203536.73/wet/"
               "CC-MAIN-20170322213003-00052-ip-10-233-31-227.ec2.internal.warc.wet.gz")
    listed = [f"crawl-data/x/wet/f{i}.warc.wet.gz" for i in range(5)] + [corrupt]
    assert shard_paths(listed, 0, 4, 6) == listed[:4]
    assert shard_paths(listed, 1, 4, 8) == listed[4:5]  # the known-corrupt file is never downloaded
    assert shard_paths(listed, 2, 4, 12) == []  # past the end of a shorter list: an empty shard
    with pytest.raises(config_lib.ConfigError, match=r"lists 6 WET files, more than the 5 planned .*wet_files"):
        shard_paths(listed, 0, 4, 5)


def test_paper_layout_reports_download_skips_and_accepts_an_empty_shard(tmp_path, data_dir, wet_member):
    """wet_layout=shard: the download shard's skipped_wet_files.json reaches the manifest; a shard past the end
    of the dump's list (no files) is an empty shard, not an error."""
    shards = [tmp_path / "wet" / f"shard-{k:05d}" for k in range(2)]
    for d in shards:
        d.mkdir(parents=True)
    (shards[0] / "a.warc.wet.gz").write_bytes(_page(wet_member, "http://good.org/1"))
    (shards[0] / "skipped_wet_files.json").write_text(json.dumps(
        [{"file": "crawl-data/x/wet/b.warc.wet.gz", "reason": "not complete gzip after download retries"}]))
    common = [f"io.data_dir={data_dir}", f"io.c4_work={tmp_path / 'work'}", "c4.num_shards=2",
              "c4.wet_layout=shard", "c4.num_buckets=2", "c4.resolve_parts=1"]
    for s in range(2):
        pipeline.run_parse(config_lib.load(common + [f"c4.shard={s}", f"io.wet_dir={shards[s]}"]))
    pipeline.run_resolve(config_lib.load(common + ["c4.resolve=url", "c4.part=0"]))
    for s in range(2):
        pipeline.run_clean(config_lib.load(common + [f"c4.shard={s}"]))
    pipeline.run_resolve(config_lib.load(common + ["c4.resolve=dedup", "c4.part=0"]))
    for s in range(2):
        pipeline.run_finish(config_lib.load(common + [f"c4.shard={s}", "c4.langdetect_threshold=0"]))
    pipeline.run_merge(config_lib.load(common + [f"io.c4_dir={tmp_path / 'c4'}"]))
    manifest = json.loads((tmp_path / "c4" / "manifest.json").read_text())
    assert manifest["skipped_corrupt_wet_files"] == [{"file": "crawl-data/x/wet/b.warc.wet.gz", "stage": "download",
                                                      "reason": "not complete gzip after download retries"}]
    assert manifest["wet_file_count"] == 1
    assert (tmp_path / "c4" / "train-00001-of-00002.jsonl.gz").is_file()  # the empty shard still has its files
