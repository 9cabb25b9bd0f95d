"""C4 statistics as a long CSV (spec D24): one row per (variant, shard, step, counter), merged over shards.

Format (one header row): `variant,shard,step,counter,value`.

- `shard`: a non-negative integer in a per-shard file, `all` in the merged `<c4_root>/<variant>/stats.csv`.
- `step`: one of `STEPS`, in pipeline order (D18); a step a variant does not run is absent.
- `counter`: `pages_in`, `pages_out`, `bytes_in`, `bytes_out` (UTF-8 bytes of page text), `dropped/<reason>`
  (TFDS counter name), `lines/<name>`, `lang/<code>` (at `langid`), `wet_files`, `wet_files_skipped`,
  `wet_gz_bytes` (at `parse`), `pages_out/<split>` and `bytes_out/<split>` (at `split`).
- `value`: a non-negative integer.

`merge_stats` sums per-shard files into one file; `check_funnel` checks that no page is lost silently: per
step `pages_in == pages_out + sum(dropped/*)`, `pages_out` of a step == `pages_in` of the next step present,
and at `split` the `pages_out/<split>` counters (when present) add up to `pages_out`.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Iterable, Mapping, Sequence

from t5repro import io as io_lib

FIELDS = ("variant", "shard", "step", "counter", "value")
STEPS = ("parse", "length", "domain", "url_dedup", "webtext", "clean", "dedup", "langid", "badwords", "split")
MERGED_SHARD = "all"
DROPPED = "dropped/"
_COUNTER_ORDER = ("pages_in", "pages_out", "bytes_in", "bytes_out")


@dataclasses.dataclass(frozen=True)
class StatRow:
    """One CSV row: a counter of one step of one variant, for one shard (or `all` shards)."""

    variant: str
    shard: str
    step: str
    counter: str
    value: int


# variant -> step -> counter -> value (summed over shards)
Totals = dict[str, dict[str, dict[str, int]]]


def _check_row(row: StatRow, where: str) -> StatRow:
    if not row.variant or not row.counter:
        raise ValueError(f"{where}: empty variant or counter ({row})")
    if row.step not in STEPS:
        raise ValueError(f"{where}: unknown step {row.step!r} (known, in pipeline order: {', '.join(STEPS)})")
    if row.shard != MERGED_SHARD and not (row.shard.isdigit() and row.shard.isascii()):
        raise ValueError(f"{where}: shard must be a non-negative integer or {MERGED_SHARD!r}, got {row.shard!r}")
    if isinstance(row.value, bool) or not isinstance(row.value, int) or row.value < 0:
        raise ValueError(f"{where}: value must be a non-negative integer, got {row.value!r}")
    return row


def _as_row(row: StatRow | Mapping[str, object]) -> StatRow:
    if isinstance(row, StatRow):
        return row
    return StatRow(variant=str(row["variant"]), shard=str(row["shard"]), step=str(row["step"]),
                   counter=str(row["counter"]), value=row["value"])  # type: ignore[arg-type]


def _counter_key(counter: str) -> tuple[int, str]:
    return (_COUNTER_ORDER.index(counter) if counter in _COUNTER_ORDER else len(_COUNTER_ORDER), counter)


def sort_key(row: StatRow) -> tuple:
    """Variant, shard (numeric, `all` last), pipeline step order, then pages/bytes counters first."""
    shard = (1, 0) if row.shard == MERGED_SHARD else (0, int(row.shard))
    return (row.variant, shard, STEPS.index(row.step), _counter_key(row.counter))


def write_rows(path: str | Path, rows: Iterable[StatRow | Mapping[str, object]]) -> int:
    """Write `rows` (StatRow or mappings with the `FIELDS` keys) atomically; return how many were written."""
    path = Path(path)
    checked = [_check_row(_as_row(r), str(path)) for r in rows]
    with io_lib.atomic_path(path) as tmp:
        with tmp.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(FIELDS)
            for r in checked:
                writer.writerow([r.variant, r.shard, r.step, r.counter, r.value])
    return len(checked)


def read_rows(path: str | Path) -> list[StatRow]:
    """Read a statistics CSV; a wrong header, unknown step or non-integer value raises naming file and line."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or tuple(h.strip() for h in header) != FIELDS:
            raise ValueError(f"{path}: header must be {','.join(FIELDS)}, got {header}")
        rows = []
        for i, cells in enumerate(reader, 2):
            if not cells:
                continue
            if len(cells) != len(FIELDS):
                raise ValueError(f"{path}:{i}: expected {len(FIELDS)} fields, got {len(cells)} ({cells})")
            variant, shard, step, counter, value = (c.strip() for c in cells)
            try:
                number = int(value)
            except ValueError:
                raise ValueError(f"{path}:{i}: value {value!r} is not an integer") from None
            rows.append(_check_row(StatRow(variant, shard, step, counter, number), f"{path}:{i}"))
    return rows


def totals(rows: Iterable[StatRow | Mapping[str, object]]) -> Totals:
    """Sum every counter over shards: variant -> step (pipeline order) -> counter -> value.

    The same (variant, shard, step, counter) twice means a shard was counted twice: ValueError.
    """
    seen: set[tuple[str, str, str, str]] = set()
    out: Totals = {}
    checked = [_check_row(_as_row(r), "C4 statistics") for r in rows]
    for r in sorted(checked, key=sort_key):
        key = (r.variant, r.shard, r.step, r.counter)
        if key in seen:
            raise ValueError(f"variant {r.variant!r}, shard {r.shard}, step {r.step!r}: counter {r.counter!r} "
                             "appears twice (a shard counted twice?)")
        seen.add(key)
        counters = out.setdefault(r.variant, {}).setdefault(r.step, {})
        counters[r.counter] = counters.get(r.counter, 0) + r.value
    return out


def merge_stats(shard_csvs: Sequence[str | Path], out_csv: str | Path) -> None:
    """Sum the per-shard CSVs into `out_csv` (shard `all`), atomically, in pipeline order."""
    if not shard_csvs:
        raise ValueError(f"merge_stats: no shard statistics given for {out_csv}")
    rows = [r for path in shard_csvs for r in read_rows(path)]
    merged = [StatRow(variant, MERGED_SHARD, step, counter, value)
              for variant, steps in totals(rows).items()
              for step, counters in steps.items()
              for counter, value in counters.items()]
    write_rows(out_csv, sorted(merged, key=sort_key))


def check_funnel(rows: Iterable[StatRow | Mapping[str, object]]) -> None:
    """Raise ValueError naming the variant and step where pages appear or vanish without a drop counter."""
    for variant, steps in totals(rows).items():
        previous: tuple[str, int] | None = None
        for step in sorted(steps, key=STEPS.index):
            counters = steps[step]
            where = f"C4 statistics, variant {variant!r}, step {step!r}"
            missing = [c for c in ("pages_in", "pages_out") if c not in counters]
            if missing:
                raise ValueError(f"{where}: counter(s) {', '.join(missing)} missing")
            n_in, n_out = counters["pages_in"], counters["pages_out"]
            n_drop = sum(v for k, v in counters.items() if k.startswith(DROPPED))
            if n_in != n_out + n_drop:
                raise ValueError(f"{where}: pages_in {n_in} != pages_out {n_out} + dropped {n_drop} "
                                 f"(difference {n_in - n_out - n_drop})")
            if previous is not None and previous[1] != n_in:
                raise ValueError(f"{where}: pages_in {n_in} != pages_out {previous[1]} of the previous step "
                                 f"{previous[0]!r}")
            splits = {k: v for k, v in counters.items() if k.startswith("pages_out/")}
            if splits and sum(splits.values()) != n_out:
                raise ValueError(f"{where}: pages_out {n_out} != the sum of {', '.join(sorted(splits))} "
                                 f"({sum(splits.values())})")
            previous = (step, n_out)
