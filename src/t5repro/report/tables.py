"""Stage `report`: a paper table with the paper's rows above ours, as Markdown, CSV and LaTeX, plus figures.

Reads `io.results_dir` (the `results/` root: `{scale}/eval/{experiment}/{task}.json` from stage `evaluate`,
`{scale}/{pretrain,finetune}/.../metrics.csv` from training) and `io.paper_dir` (shared/paper). Writes
`io.reports_dir/{table}.{md,csv,tex}` and `io.reports_dir/figures/loss_curve.{png,pdf}`, each atomically.

A table is a `TableSpec` in `TABLES` (one entry per paper table: 1, 2, 4-7, 10-12).
Our rows: one per (scale, experiment) found under the table's experiment folder; each evaluated task fills
the summary column named by its `stands_in_for` (conf/task/*.yaml) with its best-checkpoint score (D107).
"""

from __future__ import annotations

import csv
import dataclasses
import importlib
import io
import json
import logging
from pathlib import Path
from typing import Mapping, Sequence

from omegaconf import DictConfig

from t5repro import config as config_lib
from t5repro import io as io_lib
from t5repro.report import figures
from t5repro.report.paper import SUMMARY_COLUMNS, PaperTable, paper_dir, read_table

logger = logging.getLogger(__name__)

MISSING = "—"  # Markdown/LaTeX cell of a column this row did not measure (CSV: empty, as the paper CSVs)
SCALE_ORDER = ("smoke", "paper")


@dataclasses.dataclass(frozen=True)
class TableSpec:
    """How one paper table is rebuilt: its CSV, the experiment folder of our rows, and our rows' labels."""

    name: str                           # output stem and paper CSV stem, e.g. table01_baseline
    title: str
    section: str                        # paper section, for the caption line
    experiment_dir: str                 # conf/experiment/<experiment_dir>/*.yaml feed this table
    row_labels: Mapping[str, str]       # experiment file stem -> the paper's row it reproduces
    columns: tuple[str, ...] = tuple(SUMMARY_COLUMNS)
    label_columns: tuple[str, ...] = ("label",)  # the paper CSV's columns that name a row (joined by " / ")


TABLES: dict[str, TableSpec] = {
    "table01_baseline": TableSpec(
        name="table01_baseline",
        title="Table 1: baseline (mean and std of 10 runs) and no pre-training",
        section="3.1.5",
        experiment_dir="table01",
        row_labels={"baseline": "Baseline", "no_pretraining": "No pre-training"},  # ours: one run each
    ),
    "table02_architectures": TableSpec(
        name="table02_architectures", title="Table 2: architectures x objectives", section="3.2.3",
        experiment_dir="table02", label_columns=("architecture", "objective"),
        row_labels={f"{arch}_{obj}": f"{arch_label} / {obj_label}"
                    for arch, arch_label in (("enc_dec", "Encoder-decoder"), ("enc_dec_shared", "Enc-dec, shared"),
                                             ("enc_dec_6layers", "Enc-dec, 6 layers"), ("lm", "Language model"),
                                             ("prefix_lm", "Prefix LM"))
                    for obj, obj_label in (("denoising", "Denoising"), ("lm", "LM"))},
    ),
    "table04_objectives_high_level": TableSpec(
        name="table04_objectives_high_level", title="Table 4: high-level objectives", section="3.3.1",
        experiment_dir="table04",
        row_labels={"prefix_lm": "Prefix language modeling", "bert_style": "BERT-style (Devlin et al., 2018)",
                    "deshuffling": "Deshuffling"},
    ),
    "table05_bert_variants": TableSpec(
        name="table05_bert_variants", title="Table 5: variants of the BERT-style objective", section="3.3.2",
        experiment_dir="table05",
        row_labels={"bert_style": "BERT-style (Devlin et al., 2018)", "mass_style": "MASS-style (Song et al., 2019)",
                    "replace_corrupted_spans": "Replace corrupted spans",
                    "drop_corrupted_tokens": "Drop corrupted tokens"},
    ),
    "table06_corruption_rate": TableSpec(
        name="table06_corruption_rate", title="Table 6: corruption rates", section="3.3.3", experiment_dir="table06",
        row_labels={f"rate_{r}": f"{r}%" for r in (10, 15, 25, 50)},
    ),
    "table07_span_length": TableSpec(
        name="table07_span_length", title="Table 7: mean corrupted-span lengths", section="3.3.4",
        experiment_dir="table07",
        row_labels={"baseline_iid": "Baseline (i.i.d.)", **{f"span_{n}": str(n) for n in (2, 3, 5, 10)}},
    ),
    "table10_finetuning_methods": TableSpec(
        name="table10_finetuning_methods", title="Table 10: fine-tuning methods", section="3.5.1",
        experiment_dir="table10",
        row_labels={"all_params": "All parameters", "gradual_unfreezing": "Gradual unfreezing",
                    **{f"adapters_{d}": f"Adapter layers, d = {d}" for d in (32, 128, 512, 2048)}},
    ),
    "table11_multitask_mixing": TableSpec(
        name="table11_multitask_mixing", title="Table 11: multi-task mixing strategies", section="3.5.2",
        experiment_dir="table11",
        row_labels={"equal": "Equal",
                    **{f"examples_proportional_k{k}": f"Examples-proportional, K = 2^{k}" for k in range(16, 22)},
                    **{f"temperature_t{t}": f"Temperature-scaled, T = {t}" for t in (2, 4, 8)}},
    ),
    "table12_multitask_finetuning": TableSpec(
        name="table12_multitask_finetuning", title="Table 12: multi-task training and pre-training",
        section="3.5.3", experiment_dir="table12",
        row_labels={"multitask_training": "Multi-task training",
                    "multitask_pretraining": "Multi-task pre-training + fine-tuning",
                    "leave_one_out": "Leave-one-out multi-task training",
                    "supervised_pretraining": "Supervised multi-task pre-training"},
    ),
}


# Tables that are not metric tables: report.table -> the module whose `run(cfg)` writes it.
OTHER_TABLES: dict[str, str] = {
    "table03_objectives": "t5repro.report.table03",  # Table 3: example inputs/targets per objective
    "c4_stats": "t5repro.report.c4_stats",
}


def get_table(name: str) -> TableSpec:
    """The `TableSpec` named by `report.table`; an unknown name raises listing the known tables."""
    if name not in TABLES:
        raise config_lib.ConfigError(
            f"report.table={name!r} unknown (known: {', '.join(sorted([*TABLES, *OTHER_TABLES]))})")
    return TABLES[name]


# ----------------------------------------------------------------- our results


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """One `{scale}/eval/{experiment}/{task}.json`: the best-checkpoint score of one task (D107)."""

    scale: str
    experiment: str
    task: str
    metric: str
    stands_in_for: str | None
    value: float
    best_step: int
    path: Path


def collect_evals(results_dir: str | Path) -> list[EvalResult]:
    """Every eval JSON under `results_dir/*/eval/` (experiment ids may contain `/`, e.g. table01/baseline)."""
    root = Path(results_dir)
    out = []
    for path in sorted(root.glob("*/eval/**/*.json")):
        rel = path.relative_to(root).parts
        scale, experiment = rel[0], "/".join(rel[2:-1])
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
            key = record.get("primary_key") or record["metric"]
            value = float(record["best"][key])
            best_step = int(record["best_step"])
        except (KeyError, ValueError, TypeError) as e:
            raise ValueError(f"{path}: not an evaluation record of stage `evaluate` ({e!r})") from None
        out.append(EvalResult(scale=scale, experiment=experiment, task=str(record.get("task", path.stem)),
                              metric=str(record["metric"]), stands_in_for=record.get("stands_in_for"),
                              value=value, best_step=best_step, path=path))
    return out


def _scale_key(scale: str) -> tuple[int, str]:
    return (SCALE_ORDER.index(scale) if scale in SCALE_ORDER else len(SCALE_ORDER), scale)


# ----------------------------------------------------------------- the table


@dataclasses.dataclass
class Row:
    """One table row: label, source (paper | ours@<scale>), experiment id, and cells (column -> text)."""

    label: str
    source: str
    experiment: str
    cells: dict[str, str]
    bold: set[str] = dataclasses.field(default_factory=set)


@dataclasses.dataclass
class Table:
    """A built table: its spec, rows in order, and the note lines printed under it."""

    spec: TableSpec
    rows: list[Row]
    notes: list[str]


def paper_rows(paper: PaperTable, spec: TableSpec) -> list[Row]:
    """The paper's rows in the paper's order, cells as printed (empty = does not apply)."""
    missing = [c for c in spec.columns if c not in paper.columns]
    if missing:
        raise ValueError(f"{paper.path.name} lacks columns {missing}")
    return [Row(label=" / ".join(r[c] for c in spec.label_columns), source="paper", experiment="",
                cells={c: r[c] for c in spec.columns}, bold=paper.bold(r) & set(spec.columns))
            for r in paper.rows]


def our_rows(evals: Sequence[EvalResult], spec: TableSpec) -> tuple[list[Row], list[str]]:
    """One row per (scale, experiment) under `spec.experiment_dir`, and notes naming what filled each column.

    A task's best score goes to the column named by its `stands_in_for`; when several tasks of one run
    stand in for the same column (e.g. some GLUE tasks without the others), their mean is shown and the
    note says so. Tasks whose `stands_in_for` is not a column of this table are listed in the notes.
    """
    prefix = spec.experiment_dir + "/"
    groups: dict[tuple[str, str], list[EvalResult]] = {}
    for e in evals:
        if e.experiment.startswith(prefix):
            groups.setdefault((e.scale, e.experiment), []).append(e)
    rows, notes = [], []
    for scale, experiment in sorted(groups, key=lambda k: (_scale_key(k[0]), k[1])):
        by_column: dict[str, list[EvalResult]] = {}
        for e in sorted(groups[(scale, experiment)], key=lambda e: e.task):
            if e.stands_in_for in spec.columns:
                by_column.setdefault(str(e.stands_in_for), []).append(e)
            else:
                notes.append(f"ours@{scale} {experiment}: task {e.task} ({e.metric}) stands in for "
                             f"{e.stands_in_for!r}, which is not a column of this table; not shown.")
        cells = {c: "" for c in spec.columns}
        for column, results in by_column.items():
            cells[column] = f"{sum(r.value for r in results) / len(results):.2f}"
            how = " + ".join(f"{r.task} {r.metric} (best step {r.best_step})" for r in results)
            mean = "the mean of " if len(results) > 1 else ""
            notes.append(f"ours@{scale} {experiment}: the {SUMMARY_COLUMNS.get(column, column)} column shows "
                         f"{mean}{how}, a stand-in for the paper's {column} metric.")
        stem = experiment[len(prefix):]
        label = spec.row_labels.get(stem, stem)
        rows.append(Row(label=f"{label} (ours, {scale})", source=f"ours@{scale}", experiment=experiment,
                        cells=cells))
    return rows, notes


def build_table(spec: TableSpec, paper: PaperTable, evals: Sequence[EvalResult]) -> Table:
    """Paper rows, then ours, with the notes a reader needs (scale caveat, column provenance)."""
    ours, provenance = our_rows(evals, spec)
    notes = [f"Paper rows: Raffel et al. (2020), {spec.title} (Section {spec.section}), validation sets, "
             f"as printed in {paper.path.name}; bold = the paper's bold cells."]
    if any(r.source == "ours@smoke" for r in ours):
        notes.append("Smoke-scale rows (ours@smoke) come from tiny models trained on CPU for a few thousand steps at "
                     "most, on small generated stand-in tasks (named below). They only show that the pipeline runs "
                     "end to end; they are NOT comparable with the paper's numbers.")
    if not ours:
        notes.append(f"No results of ours were found for experiments under conf/experiment/{spec.experiment_dir}/.")
    notes.append("Our rows: the best validation checkpoint per task (Section 3.1.2, spec D107); "
                 f"{MISSING} = not measured by that run.")
    notes += provenance
    return Table(spec=spec, rows=paper_rows(paper, spec) + ours, notes=notes)


# ----------------------------------------------------------------- rendering


def _display(row: Row, column: str) -> str:
    return row.cells.get(column, "") or MISSING


def render_markdown(table: Table) -> str:
    """A pipe table (paper headers), bold where the paper bolds, then the notes as a list."""
    cols = table.spec.columns
    header = ["Row", "Source", *(SUMMARY_COLUMNS.get(c, c) for c in cols)]
    lines = [f"# {table.spec.title}", "", "| " + " | ".join(header) + " |",
             "|" + "|".join([" --- ", " --- "] + [" ---: "] * len(cols)) + "|"]
    for r in table.rows:
        cells = []
        for c in cols:
            text = _display(r, c)
            cells.append(f"**{text}**" if c in r.bold and text != MISSING else text)
        label = r.label.replace("|", "\\|")
        lines.append("| " + " | ".join([label, r.source, *cells]) + " |")
    lines.append("")
    lines += [f"- {n}" for n in table.notes]
    return "\n".join(lines) + "\n"


def render_csv(table: Table) -> str:
    """Machine-readable: label, source, experiment, the summary columns (paper strings as printed; empty = none)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["label", "source", "experiment", *table.spec.columns])
    for r in table.rows:
        writer.writerow([r.label, r.source, r.experiment, *(r.cells.get(c, "") for c in table.spec.columns)])
    return buf.getvalue()


_TEX_ESCAPES = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "—": "---"}


def tex_escape(text: str) -> str:
    """Escape LaTeX special characters (and write the em dash as `---`)."""
    return "".join(_TEX_ESCAPES.get(ch, ch) for ch in text)


def render_latex(table: Table) -> str:
    """A booktabs `tabular` (paper rows, a rule, our rows) followed by the notes in footnote size."""
    cols = table.spec.columns
    lines = [f"% {tex_escape(table.spec.title)}; generated by `t5repro report`, do not edit.",
             "% Needs \\usepackage{booktabs}.",
             "\\begin{tabular}{ll" + "r" * len(cols) + "}", "\\toprule",
             " & ".join(["Row", "Source", *(SUMMARY_COLUMNS.get(c, c) for c in cols)]) + " \\\\", "\\midrule"]
    previous = None
    for r in table.rows:
        if previous == "paper" and r.source != "paper":
            lines.append("\\midrule")
        cells = []
        for c in cols:
            text = tex_escape(_display(r, c))
            cells.append(f"\\textbf{{{text}}}" if c in r.bold and r.cells.get(c) else text)
        lines.append(" & ".join([tex_escape(r.label), tex_escape(r.source), *cells]) + " \\\\")
        previous = r.source
    lines += ["\\bottomrule", "\\end{tabular}", "", "\\par\\smallskip{\\footnotesize"]
    lines += [tex_escape(n) + "\\par" for n in table.notes]
    lines.append("}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------- stage


def write_table(table: Table, reports_dir: str | Path) -> list[Path]:
    """Write `{name}.md`, `.csv`, `.tex` under `reports_dir`, each atomically; return the paths."""
    reports_dir = Path(reports_dir)
    out = []
    for suffix, render in (("md", render_markdown), ("csv", render_csv), ("tex", render_latex)):
        path = reports_dir / f"{table.spec.name}.{suffix}"
        io_lib.write_text(path, render(table))
        out.append(path)
    return out


def run(cfg: DictConfig) -> None:
    """Stage `report`: rebuild `report.table` beside the paper's numbers and draw the loss curves."""
    name = str(config_lib.require(cfg, "report.table"))
    if name in OTHER_TABLES:
        importlib.import_module(OTHER_TABLES[name]).run(cfg)
        return
    spec = get_table(name)
    results_dir = config_lib.require_path(cfg, "io.results_dir")
    reports_dir = config_lib.require_path(cfg, "io.reports_dir")
    if not results_dir.is_dir():
        raise FileNotFoundError(f"io.results_dir={results_dir} is not a folder")
    paper = read_table(paper_dir(cfg), spec.name)
    evals = collect_evals(results_dir)
    logger.info("%d evaluation records under %s (scales: %s)", len(evals), results_dir,
                ", ".join(sorted({e.scale for e in evals}, key=_scale_key)) or "none")
    table = build_table(spec, paper, evals)
    for path in write_table(table, reports_dir):
        logger.info("wrote %s", path)
    for path in figures.loss_curves(results_dir, reports_dir / "figures"):
        logger.info("wrote %s", path)
