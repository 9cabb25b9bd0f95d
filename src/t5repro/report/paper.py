"""The paper's own numbers (Raffel et al. 2020), read from the CSVs in `io.paper_dir` (shared/paper).

Values stay as the paper prints them (strings such as "19.00" or "0.090", README "Conventions"), so a
report shows exactly the printed digits; `PaperTable.value` converts one cell to float when arithmetic is
needed. No paper number is typed anywhere in the code.
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from t5repro import config as config_lib

# The seven summary columns of Tables 1, 2, 4-13 and 15 (paper README; spec D108), in the paper's order,
# with the headers the paper prints above them.
SUMMARY_COLUMNS: dict[str, str] = {
    "glue_avg": "GLUE",
    "cnndm_rouge2": "CNNDM",
    "squad_em": "SQuAD",
    "superglue_avg": "SGLUE",
    "wmt_ende_bleu": "EnDe",
    "wmt_enfr_bleu": "EnFr",
    "wmt_enro_bleu": "EnRo",
}


@dataclasses.dataclass(frozen=True)
class PaperTable:
    """One paper CSV: its columns and rows, every cell the printed string ("" = does not apply)."""

    name: str
    path: Path
    columns: tuple[str, ...]
    rows: tuple[dict[str, str], ...]

    def value(self, row: dict[str, str], column: str) -> float | None:
        """The cell as a float, or None when it is empty; an unknown column raises naming the file."""
        if column not in self.columns:
            raise KeyError(f"{self.path.name} has no column {column!r} (columns: {', '.join(self.columns)})")
        text = row[column].strip()
        return float(text) if text else None

    def bold(self, row: dict[str, str]) -> set[str]:
        """The metric columns the paper bold-faces in `row` (README: `bold_columns`, joined with `;`)."""
        return {c for c in row.get("bold_columns", "").split(";") if c}

    def row(self, label: str, column: str = "label") -> dict[str, str]:
        """The row whose `column` equals `label`; a missing label raises listing the known ones."""
        for r in self.rows:
            if r.get(column) == label:
                return r
        raise KeyError(f"{self.path.name}: no row with {column}={label!r} "
                       f"(known: {', '.join(r.get(column, '') for r in self.rows)})")


def paper_dir(cfg: DictConfig) -> Path:
    """`io.paper_dir`, else `<io.data_dir>/../paper`; a missing folder raises naming `io.paper_dir`."""
    configured = OmegaConf.select(cfg, "io.paper_dir", default=None)
    if configured is not None:
        path = Path(str(configured))
    else:
        data_dir = OmegaConf.select(cfg, "io.data_dir", default=None)
        if data_dir is None:
            raise config_lib.ConfigError("config key 'io.paper_dir' is required (and io.data_dir, its default's "
                                         "base, is null): pass io.paper_dir=<shared/paper>")
        path = Path(str(data_dir)).parent / "paper"
    if not path.is_dir():
        raise config_lib.ConfigError(f"io.paper_dir: {path} is not a folder (pass io.paper_dir=<shared/paper>)")
    return path


def read_table(directory: str | Path, name: str) -> PaperTable:
    """Read `<directory>/<name>.csv` (e.g. `table01_baseline`) with every cell kept as its printed string."""
    path = Path(directory) / f"{name}.csv"
    if not path.is_file():
        known = sorted(p.stem for p in Path(directory).glob("*.csv"))
        raise FileNotFoundError(f"io.paper_dir: no {path.name} in {directory} (found: {', '.join(known)})")
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        columns = tuple(reader.fieldnames or ())
        rows = tuple(dict(r) for r in reader)
    if not columns or not rows:
        raise ValueError(f"{path}: no header or no rows")
    return PaperTable(name=name, path=path, columns=columns, rows=rows)
