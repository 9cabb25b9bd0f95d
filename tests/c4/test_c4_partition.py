"""Hash-partitioned global steps (partition.py): spill files, per-key decisions (D7, D12, D13), resolve parts,
and the replay contract that keeps a shard's decisions aligned with its records."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from t5repro.c4 import partition as P


def k(s: str) -> bytes:
    return hashlib.md5(s.encode()).digest()


def test_key_writer_spills_and_reads_back_in_order(tmp_path):
    recs = [(k(f"line{i % 5}"), k(f"url{i}")) for i in range(50)]
    with P.KeyWriter(tmp_path / "s0", P.LINE_DTYPE, num_buckets=3, chunk_records=7) as w:  # many spills
        buckets = [w.add(r) for r in recs]
    f = P.KeyFile(tmp_path / "s0", P.LINE_DTYPE)
    assert len(f.index) > 3  # several chunks per bucket: memory bounded by chunk_records, not the shard
    for b in range(3):
        got = [(bytes(x["key"]), bytes(x["url"])) for x in f.bucket(b)]
        assert got == [r for r, bb in zip(recs, buckets) if bb == b]
    assert f.bucket_counts(3).tolist() == [buckets.count(b) for b in range(3)]


def test_key_writer_leaves_no_index_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with P.KeyWriter(tmp_path / "s", P.LINE_DTYPE, 2) as w:
            w.add((k("a"), k("u")))
            raise RuntimeError("boom")
    with pytest.raises(FileNotFoundError, match="no key index"):
        P.KeyFile(tmp_path / "s", P.LINE_DTYPE)


def test_decide_url_newest_timestamp_then_first_seen():  # spec D7
    r = np.array([(k("a"), b"2019-04-20T00:00:00Z", 5), (k("a"), b"2019-04-21T00:00:00Z", 9),
                  (k("a"), b"2019-04-21T00:00:00Z", 7), (k("b"), b"", 1), (k("c"), b"2019", 2),
                  (k("c"), b"2019-", 3)], dtype=P.URL_DTYPE)
    # greatest timestamp wins; ties keep the smallest order (first seen); "2019-" > "2019" as strings
    assert P.decide_url(r).tolist() == [0, 0, 1, 1, 0, 1]


def test_decide_line_smallest_url_md5_wins():  # spec D13, C5
    urls = ["http://x.org/1", "http://x.org/2", "http://x.org/3"]
    winner = min(urls, key=lambda u: hashlib.md5(u.encode()).hexdigest())
    r = np.array([(k("line"), k(u)) for u in urls] + [(k("solo"), k(urls[0]))], dtype=P.LINE_DTYPE)
    assert P.decide_line(r).tolist() == [int(u == winner) for u in urls] + [1]


def test_decide_window_removes_all_but_first_occurrence():  # spec D12 step 2, quirk kept
    a, b = k("http://a.org"), k("http://b.org")
    first, second = sorted([a, b], key=lambda d: d.hex())
    r = np.array([(k("w1"), second, 1), (k("w1"), first, 1),  # shared: only the smaller md5 keeps it
                  (k("w2"), first, 2),                         # twice in one page: even that page removes it
                  (k("w3"), second, 1),                        # once anywhere: kept
                  (k("w4"), first, 2), (k("w4"), second, 1)], dtype=P.WINDOW_DTYPE)
    assert P.decide_window(r).tolist() == [1, 0, 1, 0, 1, 1]


def test_part_buckets_cover_every_bucket_once():
    for nb, parts in ((1, 1), (7, 3), (8192, 64), (5, 5)):
        covered = [b for p in range(parts) for b in P.part_buckets(p, parts, nb)]
        assert covered == list(range(nb))
        assert all(P.part_of_bucket(b, parts, nb) == p for p in range(parts) for b in P.part_buckets(p, parts, nb))


@pytest.mark.parametrize("parts", [1, 2, 4])
def test_resolve_and_replay_across_shards(tmp_path, parts):
    """Two shards share lines; decisions come back aligned with each shard's own record order."""
    nb = 4
    shard_recs = [[(k(f"l{i % 6}"), k(f"s{s}u{i // 6}")) for i in range(30)] for s in range(2)]
    for s, recs in enumerate(shard_recs):
        with P.KeyWriter(tmp_path / f"s{s}", P.LINE_DTYPE, nb, chunk_records=4) as w:
            for r in recs:
                w.add(r)
    part_dirs = []
    for p in range(parts):
        d = tmp_path / f"part{p}"
        d.mkdir()
        P.resolve_part("line", [tmp_path / "s0", tmp_path / "s1"], d, p, parts, nb)
        part_dirs.append(d)
    everything = np.array([r for recs in shard_recs for r in recs], dtype=P.LINE_DTYPE)
    expected = P.decide_line(everything).tolist()  # one global decision over all records
    got = []
    for s, recs in enumerate(shard_recs):
        f = P.KeyFile(tmp_path / f"s{s}", P.LINE_DTYPE)
        reader = P.DecisionReader(part_dirs, s, f.bucket_counts(nb), parts)
        got += [reader.next(P.bucket_of(r[0], nb)) for r in recs]
        reader.finish()
    assert got == expected


def test_replay_divergence_is_an_error(tmp_path):
    with P.KeyWriter(tmp_path / "s0", P.LINE_DTYPE, 1) as w:
        w.add((k("a"), k("u")))
    (tmp_path / "part").mkdir()
    P.resolve_part("line", [tmp_path / "s0"], tmp_path / "part", 0, 1, 1)
    f = P.KeyFile(tmp_path / "s0", P.LINE_DTYPE)
    reader = P.DecisionReader([tmp_path / "part"], 0, f.bucket_counts(1), 1)
    with pytest.raises(ValueError, match="decisions used"):
        reader.finish()  # nothing consumed
    reader.next(0)
    with pytest.raises(ValueError, match="more records replayed"):
        reader.next(0)
    with pytest.raises(ValueError, match="decisions, the shard emitted"):
        P.DecisionReader([tmp_path / "part"], 0, np.array([2]), 1)  # counts disagree with the part's file


def test_decide_url_compares_whole_long_timestamps():  # spec D7: a body line `WARC-Date: ...` can be long
    prefix = b"2019-04-20T10:00:00Z" + b"x" * 44  # 64 bytes: both records store the same prefix
    r = np.array([(k("a"), prefix, 1), (k("a"), prefix, 2)], dtype=P.URL_DTYPE)
    assert P.decide_url(r).tolist() == [1, 0]  # prefix only: a tie, first seen wins
    assert P.decide_url(r, {1: prefix + b"a", 2: prefix + b"b"}).tolist() == [0, 1]  # whole strings: "b" wins


def test_bytes_order_is_np_unique_rank():  # the dense bytewise rank behind D7's timestamps and D12/D13's URL md5
    rng = np.random.default_rng(0)
    for dtype in ("V16", "S64", "S5", "V3", "S8"):
        size = np.dtype(dtype).itemsize
        for n in (0, 1, 2, 7, 500):
            for high in (3, 256):  # many ties, then mostly distinct values
                raw = rng.integers(0, high, (n, size), dtype=np.uint8)
                values = raw.view(dtype).reshape(-1) if n else np.zeros(0, dtype)
                want = (np.unique(raw, axis=0, return_inverse=True)[1].reshape(-1) if n else np.zeros(0)).tolist()
                assert P._bytes_order(values).tolist() == want, (dtype, n, high)


@pytest.mark.parametrize("dtype", [P.URL_DTYPE, P.LINE_DTYPE, P.WINDOW_DTYPE])
def test_key_writer_packs_records_as_numpy_does(tmp_path, dtype):
    """KeyWriter packs records with a struct and sorts them into buckets when it spills: the same bytes and
    order as numpy arrays of the records, bucket by bucket; add_keys equals add per key."""
    rng = np.random.default_rng(1)

    def field(name):
        f = dtype.fields[name][0]
        if f.kind == "V":
            return bytes(rng.integers(0, 256, f.itemsize, dtype=np.uint8))
        if f.kind == "S":
            return bytes(rng.integers(1, 256, int(rng.integers(0, f.itemsize + 1)), dtype=np.uint8))
        return int(rng.integers(0, 2**31))

    recs = [tuple(field(n) for n in dtype.names) for _ in range(300)]
    assert P._record_struct(dtype).pack(*recs[0]) == np.array([recs[0]], dtype=dtype).tobytes()
    with P.KeyWriter(tmp_path / "a", dtype, num_buckets=3, chunk_records=64) as w:
        buckets = [w.add(r) for r in recs]
    with P.KeyWriter(tmp_path / "b", dtype, num_buckets=3, chunk_records=64) as w:
        for i in range(0, len(recs), 10):  # runs of keys sharing the rest of the record
            group = recs[i:i + 10]
            w.add_keys([r[0] for r in group], group[0][1:])
    grouped = [(r[0], *recs[i - i % 10][1:]) for i, r in enumerate(recs)]
    for name, expect in (("a", recs), ("b", grouped)):
        f = P.KeyFile(tmp_path / name, dtype)
        for b in range(3):
            want = np.array([r for r, bb in zip(expect, buckets) if bb == b], dtype=dtype)
            assert f.bucket(b).tobytes() == want.tobytes()
        assert f.bucket_counts(3).tolist() == [buckets.count(b) for b in range(3)]
    assert buckets == [P.bucket_of(r[0], 3) for r in recs]
