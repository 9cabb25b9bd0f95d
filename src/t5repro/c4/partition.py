"""Hash-partitioned global steps of C4 (URL dedup D7, window dedup D12, line dedup D13) with bounded memory.

C4's dedup steps look at the whole dump at once: which page keeps a URL, a line or a sentence window depends
on every other page that has it. A dump does not fit in one machine's memory, so each global step runs in
two passes around a resolve stage (a MapReduce-style shuffle written by hand, because Beam/Dataflow is what
we are replacing and no library in our stack does an out-of-core group-by on fixed-size records):

1. every shard job emits one fixed-size record per key occurrence (`KeyWriter`), partitioned into
   `num_buckets` buckets by the key's first 8 bytes; records are spilled in chunks to one file per shard,
   with an index of (bucket, offset, count);
2. each resolve job (`resolve_part`) owns a contiguous range of buckets: bucket by bucket it gathers that
   bucket's records from every shard (in shard order), decides for each record whether its page keeps the
   key, and writes the decisions back per shard, aligned with the shard's own record order;
3. the shard's next pass replays its pages in the same order and reads its decisions (`DecisionReader`).

Peak memory of a shard job is its spill buffer; of a resolve job, one bucket of the whole dump
(= dump size / num_buckets), so `num_buckets` is chosen from the dump size (conf: c4.num_buckets).

Keys are MD5 digests (16 bytes): D13 itself groups lines by MD5; D7 and D12 group by the normalised URL and
by the window's sentences, whose MD5 stands in for them (a collision among 10^10 keys has probability
~10^-19). Winners are chosen by MD5 of the page's URL, as the reference does (C5), so the outcome does not
depend on how pages are sharded.
"""

from __future__ import annotations

import hashlib
import struct
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

# Record layouts. "key" is the grouping key; the rest is what the decision needs.
URL_DTYPE = np.dtype([("key", "V16"), ("ts", "S64"), ("order", "<i8")])  # D7: newest timestamp, then first seen
LINE_DTYPE = np.dtype([("key", "V16"), ("url", "V16")])  # D13: the page whose URL has the smallest MD5
WINDOW_DTYPE = np.dtype([("key", "V16"), ("url", "V16"), ("count", "<u4")])  # D12: all but the first occurrence
TIMESTAMP_BYTES = URL_DTYPE["ts"].itemsize
INDEX_DTYPE = np.dtype([("bucket", "<i4"), ("offset", "<i8"), ("count", "<i8")])

KEYS_FILE = "keys.bin"
INDEX_FILE = "keys.idx.npy"


def md5(text: str) -> bytes:
    return hashlib.md5(text.encode("utf-8")).digest()


def bucket_of(key: bytes, num_buckets: int) -> int:
    """The bucket of a 16-byte key: its first 8 bytes as an integer, modulo the number of buckets."""
    return int.from_bytes(key[:8], "little") % num_buckets


def part_buckets(part: int, num_parts: int, num_buckets: int) -> range:
    """The contiguous range of buckets that resolve job `part` owns."""
    per = -(-num_buckets // num_parts)
    return range(min(part * per, num_buckets), min((part + 1) * per, num_buckets))


def part_of_bucket(bucket: int, num_parts: int, num_buckets: int) -> int:
    return bucket // -(-num_buckets // num_parts)


# ---------------------------------------------------------------------------------------------- pass 1
def _record_struct(dtype: np.dtype) -> struct.Struct | None:
    """A struct that packs one record exactly as the structured dtype lays it out (byte strings, little-endian
    integers, no padding), or None if the dtype has another field type."""
    ints = {1: "b", 2: "h", 4: "i", 8: "q"}
    fmt = "<"
    for name in dtype.names:
        f = dtype.fields[name][0]
        little = f.byteorder == "<" or (f.byteorder in "=|" and sys.byteorder == "little")
        if f.kind in "VS" and f.subdtype is None:
            fmt += f"{f.itemsize}s"
        elif f.kind in "iu" and little and f.itemsize in ints:
            fmt += ints[f.itemsize].upper() if f.kind == "u" else ints[f.itemsize]
        else:
            return None
    st = struct.Struct(fmt)
    return st if st.size == dtype.itemsize else None


class KeyWriter:
    """Append records to buckets; spill every `chunk_records` records to `<dir>/keys.bin` (+ index).

    Records are packed to bytes as they come (one struct call, or none: `add_keys`) and sorted into buckets
    with numpy when spilled, in their order of arrival within each bucket. Use as a context manager; the
    index is written on a clean exit only (the caller's atomic_dir removes the whole folder on failure).
    """

    def __init__(self, out_dir: Path, dtype: np.dtype, num_buckets: int, chunk_records: int = 1 << 18):
        self.out_dir, self.dtype, self.num_buckets, self.chunk_records = Path(out_dir), dtype, num_buckets, chunk_records
        if dtype.names[0] != "key" or dtype.fields["key"][0].itemsize < 8:
            raise ValueError(f"the first field must be the key (>= 8 bytes), got {dtype}")
        self._struct = _record_struct(dtype)
        self._chunks: list[bytes] = []  # packed records not yet spilled, in order
        self._buffered = 0
        self._index: list[tuple[int, int, int]] = []
        self._offset = 0
        self._file = None

    @property
    def counts(self) -> np.ndarray:
        """Records added per bucket."""
        spilled = np.zeros(self.num_buckets, dtype=np.int64)
        for b, _, n in self._index:
            spilled[b] += n
        return spilled + np.bincount(self._buckets(b"".join(self._chunks)), minlength=self.num_buckets)

    def __enter__(self) -> "KeyWriter":
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self._file = open(self.out_dir / KEYS_FILE, "wb")
        return self

    def _pack(self, record: tuple) -> bytes:
        if self._struct is not None:
            return self._struct.pack(*record)
        return np.array([record], dtype=self.dtype).tobytes()

    def add(self, record: tuple) -> int:
        """Add one record (a tuple in the dtype's field order, key first); returns its bucket."""
        self._chunks.append(self._pack(record))
        self._buffered += 1
        if self._buffered >= self.chunk_records:
            self._spill()
        return int.from_bytes(record[0][:8], "little") % self.num_buckets  # bucket_of

    def add_keys(self, keys: Sequence[bytes], rest: tuple) -> None:
        """`add((key, *rest))` for each key in turn (each key exactly the key field's size)."""
        if not keys:
            return
        size = self.dtype.fields["key"][0].itemsize
        tail = self._pack((bytes(size), *rest))[size:]
        self._chunks.append(tail.join(keys) + tail)  # key1 rest key2 rest ... keyN rest
        self._buffered += len(keys)
        if self._buffered >= self.chunk_records:
            self._spill()

    def _buckets(self, data: bytes) -> np.ndarray:
        """bucket_of of each packed record in data."""
        head = np.dtype([("k0", "<u8"), ("_", f"V{self.dtype.itemsize - 8}")])
        return (np.frombuffer(data, dtype=head)["k0"] % np.uint64(self.num_buckets)).astype(np.int64)

    def _spill(self) -> None:
        data = b"".join(self._chunks)
        self._chunks, self._buffered = [], 0
        if not data:
            return
        if len(data) % self.dtype.itemsize:
            raise ValueError(f"{self.out_dir}: a record does not have the size of {self.dtype} "
                             "(a key of the wrong size?)")
        buckets = self._buckets(data)
        order = np.argsort(buckets, kind="stable")  # bucket by bucket, each in the order the records came
        self._file.write(np.frombuffer(data, dtype=self.dtype)[order].tobytes())
        for b, n in enumerate(np.bincount(buckets, minlength=self.num_buckets).tolist()):
            if n:
                self._index.append((b, self._offset, n))
                self._offset += n

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self._spill()
        self._file.close()
        if exc_type is None:
            np.save(self.out_dir / INDEX_FILE, np.array(self._index, dtype=INDEX_DTYPE))


class KeyFile:
    """A shard's spilled records: read every record of one bucket, in the order they were added."""

    def __init__(self, shard_dir: Path, dtype: np.dtype):
        self.dir, self.dtype = Path(shard_dir), dtype
        index_path = self.dir / INDEX_FILE
        if not index_path.is_file():
            raise FileNotFoundError(f"{index_path}: no key index (did the shard's pass finish?)")
        self.index = np.load(index_path)
        size = (self.dir / KEYS_FILE).stat().st_size
        n = int(self.index["count"].sum())
        if size != n * dtype.itemsize:
            raise ValueError(f"{self.dir / KEYS_FILE}: {size} bytes, expected {n} records of {dtype.itemsize}")
        self._data = np.memmap(self.dir / KEYS_FILE, dtype=dtype, mode="r") if n else np.zeros(0, dtype)

    def bucket(self, b: int) -> np.ndarray:
        rows = self.index[self.index["bucket"] == b]
        if len(rows) == 0:
            return np.zeros(0, dtype=self.dtype)
        return np.concatenate([np.asarray(self._data[o:o + c]) for o, c in zip(rows["offset"], rows["count"])])

    def bucket_counts(self, num_buckets: int) -> np.ndarray:
        return np.bincount(self.index["bucket"], weights=self.index["count"], minlength=num_buckets).astype(np.int64)


# ---------------------------------------------------------------------------------------------- decisions
def _key_groups(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(order sorting the records by key, group id of each sorted record)."""
    k = keys.view(np.dtype([("hi", ">u8"), ("lo", ">u8")]))
    order = np.lexsort((k["lo"], k["hi"]))
    ks = k[order]
    new = np.ones(len(ks), dtype=bool)
    if len(ks) > 1:
        new[1:] = (ks["hi"][1:] != ks["hi"][:-1]) | (ks["lo"][1:] != ks["lo"][:-1])
    return order, np.cumsum(new) - 1


def _bytes_order(values: np.ndarray) -> np.ndarray:
    """Dense rank of fixed-size byte strings (V/S dtypes) in bytewise order, as int64.

    Equal to `np.unique(bytes as uint8 rows, axis=0, return_inverse=True)[1]`, computed by a lexsort over
    big-endian 64-bit words (zero-padded at the end, which keeps the order of equal-length strings): about
    ten times faster than np.unique's row sort, and it runs on every URL and line key of the dump.
    """
    n = len(values)
    if n == 0:
        return np.zeros(0, np.int64)
    flat = np.ascontiguousarray(values).view(np.uint8).reshape(n, -1)
    width = flat.shape[1]
    if width % 8:
        flat = np.concatenate([flat, np.zeros((n, 8 - width % 8), np.uint8)], axis=1)
    words = np.ascontiguousarray(flat).view(">u8")  # (n, words), most significant word first
    order = np.lexsort(words.T[::-1])  # lexsort's last key is the primary one
    ws = words[order]
    new = np.ones(n, dtype=bool)
    new[1:] = (ws[1:] != ws[:-1]).any(axis=1)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.cumsum(new) - 1
    return rank


LONG_TIMESTAMPS_FILE = "long_timestamps.json"  # order -> the whole timestamp, where it is over 64 bytes


def decide_url(records: np.ndarray, long_timestamps: dict[int, bytes] | None = None) -> np.ndarray:
    """D7: per normalised URL keep the greatest timestamp (string order); ties keep the first seen (order).

    Records hold the first 64 bytes of the timestamp; the rare longer ones (a body line `WARC-Date: ...`,
    D3 quirk) come whole in `long_timestamps`, keyed by order, so the comparison is on the whole string.
    """
    if len(records) == 0:
        return np.zeros(0, dtype=np.uint8)
    long_ts = {o: long_timestamps[o] for o in records["order"].tolist() if o in long_timestamps} \
        if long_timestamps else {}
    if long_ts:  # UTF-8 byte order is code point order, as Python compares the strings
        full = [long_ts.get(o, t) for o, t in zip(records["order"].tolist(), records["ts"].tolist())]
        rank_of = {t: i for i, t in enumerate(sorted(set(full)))}
        ts_rank = np.array([rank_of[t] for t in full], dtype=np.int64)
    else:
        ts_rank = _bytes_order(records["ts"])
    k = records["key"].view(np.dtype([("hi", ">u8"), ("lo", ">u8")]))
    # sort by key, then timestamp descending, then order ascending: the first of each key group wins
    order = np.lexsort((records["order"], -ts_rank, k["lo"], k["hi"]))
    ks = k[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = (ks["hi"][1:] != ks["hi"][:-1]) | (ks["lo"][1:] != ks["lo"][:-1])
    keep = np.zeros(len(records), dtype=np.uint8)
    keep[order[first]] = 1
    return keep


def _min_url_per_group(records: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(url rank of each record, the smallest url rank of its key group): MD5 hex order == byte order."""
    url_rank = _bytes_order(records["url"])
    order, group = _key_groups(records["key"])
    gmin = np.full(group[-1] + 1 if len(group) else 0, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(gmin, group, url_rank[order])
    per_record = np.empty(len(records), dtype=np.int64)
    per_record[order] = gmin[group]
    return url_rank, per_record


def decide_line(records: np.ndarray) -> np.ndarray:
    """D13: a page keeps a line iff its URL has the smallest MD5 among the pages holding the line."""
    if len(records) == 0:
        return np.zeros(0, dtype=np.uint8)
    url_rank, gmin = _min_url_per_group(records)
    return (url_rank == gmin).astype(np.uint8)


def decide_window(records: np.ndarray) -> np.ndarray:
    """D12 step 2: 1 = the page must REMOVE the window.

    The reference sorts a window's occurrence list by the MD5 of each occurrence's URL and drops the first
    entry; every other entry's page removes the window. One record per (window, page) with the page's count
    of occurrences: the page with the smallest MD5 keeps the window only if it holds it once (quirk kept: a
    window repeated inside the winning page is removed from it too).
    """
    if len(records) == 0:
        return np.zeros(0, dtype=np.uint8)
    url_rank, gmin = _min_url_per_group(records)
    return ((url_rank != gmin) | (records["count"] >= 2)).astype(np.uint8)


DECIDERS: dict[str, tuple[np.dtype, Callable[[np.ndarray], np.ndarray]]] = {
    "url": (URL_DTYPE, decide_url),
    "line": (LINE_DTYPE, decide_line),
    "window": (WINDOW_DTYPE, decide_window),
}


# ---------------------------------------------------------------------------------------------- resolve
@dataclass
class ResolveStats:
    records: int = 0
    groups_max: int = 0
    kept_or_removed: int = 0


def resolve_part(kind: str, shard_dirs: Sequence[Path], out_dir: Path, part: int, num_parts: int,
                 num_buckets: int) -> ResolveStats:
    """Resolve buckets `part_buckets(part)`: write `<out_dir>/shard-NNNNN.bin` (uint8 decisions) per shard.

    Each output file holds, bucket after bucket, one decision per record that shard added to the bucket,
    in the shard's own record order. Memory: one bucket of all shards at a time.
    """
    dtype, decide = DECIDERS[kind]
    files = [KeyFile(d, dtype) for d in shard_dirs]
    if kind == "url":
        import json

        long_ts: dict[int, bytes] = {}
        for d in shard_dirs:
            side = Path(d) / LONG_TIMESTAMPS_FILE
            if side.is_file():
                long_ts.update({int(o): t.encode("utf-8") for o, t in json.loads(side.read_text("utf-8")).items()})
        decide = (lambda recs, _lt=long_ts: decide_url(recs, _lt))
    outs = [open(Path(out_dir) / f"shard-{s:05d}.bin", "wb") for s in range(len(files))]
    stats = ResolveStats()
    try:
        for b in part_buckets(part, num_parts, num_buckets):
            per_shard = [f.bucket(b) for f in files]
            records = np.concatenate(per_shard) if per_shard else np.zeros(0, dtype)
            decisions = decide(records)
            stats.records += len(records)
            stats.kept_or_removed += int(decisions.sum())
            start = 0
            for out, recs in zip(outs, per_shard):
                out.write(decisions[start:start + len(recs)].tobytes())
                start += len(recs)
    finally:
        for out in outs:
            out.close()
    return stats


class DecisionReader:
    """A shard's decisions, handed out record by record in the order the shard added the records.

    `next(bucket)` returns the decision of the shard's next record in that bucket; `finish()` checks that
    every decision was consumed (a replay that diverged from the first pass is an error, not a silent loss).
    `next` runs once per line of every page: its state is kept in Python lists and bytes, not numpy arrays
    (whose scalar indexing costs several times more).
    """

    def __init__(self, part_dirs: Sequence[Path], shard: int, bucket_counts: np.ndarray, num_parts: int):
        num_buckets = len(bucket_counts)
        if len(part_dirs) != num_parts:
            raise ValueError(f"expected {num_parts} resolve parts, got {len(part_dirs)}")
        self._start = [0] * num_buckets
        self._data: list[bytes] = [b""] * num_buckets  # the decisions of the part that owns the bucket
        for p, d in enumerate(part_dirs):
            path = Path(d) / f"shard-{shard:05d}.bin"
            arr = path.read_bytes() if path.is_file() else None
            if arr is None:
                raise FileNotFoundError(f"{path}: decisions missing for shard {shard}")
            buckets = part_buckets(p, num_parts, num_buckets)
            expected = int(bucket_counts[buckets.start:buckets.stop].sum()) if len(buckets) else 0
            if len(arr) != expected:
                raise ValueError(f"{path}: {len(arr)} decisions, the shard emitted {expected} records "
                                 f"in buckets {buckets.start}-{buckets.stop - 1}")
            offset = 0
            for b in buckets:
                self._start[b], self._data[b] = offset, arr
                offset += int(bucket_counts[b])
        self._counts = [int(c) for c in bucket_counts]
        self._used = [0] * num_buckets
        self._num_buckets = num_buckets

    def next(self, bucket: int) -> int:
        i = self._used[bucket]
        if i >= self._counts[bucket]:
            raise ValueError(f"bucket {bucket}: more records replayed than were emitted ({self._counts[bucket]})")
        self._used[bucket] = i + 1
        return self._data[bucket][self._start[bucket] + i]

    def next_key(self, key: bytes) -> int:
        """`next(bucket_of(key, num_buckets))`, the decision of the shard's next record with this key."""
        bucket = int.from_bytes(key[:8], "little") % self._num_buckets
        i = self._used[bucket]
        if i >= self._counts[bucket]:
            raise ValueError(f"bucket {bucket}: more records replayed than were emitted ({self._counts[bucket]})")
        self._used[bucket] = i + 1
        return self._data[bucket][self._start[bucket] + i]

    def finish(self) -> None:
        if self._used != self._counts:
            bad = next(b for b, (u, c) in enumerate(zip(self._used, self._counts)) if u != c)
            raise ValueError(f"bucket {bad}: {self._used[bad]} decisions used of {self._counts[bad]}")
