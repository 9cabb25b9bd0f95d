"""Figures of the report: training loss against step for every pre-training and fine-tuning run.

Reads `metrics.csv` (columns `step,loss,...`, docs/architecture.md Training contract) under
`results/{scale}/pretrain/{experiment}/` and `results/{scale}/finetune/{experiment}/{task}/`; draws one
line per run, pre-training and fine-tuning side by side, log-scaled loss; saves PNG and PDF atomically.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: Snakemake jobs and CI
import matplotlib.pyplot as plt  # noqa: E402

from t5repro import io as io_lib  # noqa: E402

logger = logging.getLogger(__name__)

PHASES = ("pretrain", "finetune")


@dataclasses.dataclass(frozen=True)
class Curve:
    """The loss curve of one run: phase, a label naming scale/experiment(/task), steps and losses."""

    phase: str
    label: str
    steps: tuple[int, ...]
    losses: tuple[float, ...]


def read_curve(path: str | Path) -> tuple[tuple[int, ...], tuple[float, ...]]:
    """(steps, losses) of a training `metrics.csv`; non-finite losses are dropped, a missing column raises."""
    path = Path(path)
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or not {"step", "loss"} <= set(reader.fieldnames):
            raise ValueError(f"{path}: needs columns step and loss (has {reader.fieldnames})")
        steps, losses = [], []
        for i, row in enumerate(reader, 2):
            try:
                step, loss = int(float(row["step"])), float(row["loss"])
            except (TypeError, ValueError):
                raise ValueError(f"{path}:{i}: step/loss not numeric ({row})") from None
            if math.isfinite(loss):
                steps.append(step)
                losses.append(loss)
    return tuple(steps), tuple(losses)


def collect_curves(results_dir: str | Path) -> list[Curve]:
    """Every run's curve under `results_dir/{scale}/{pretrain,finetune}/.../metrics.csv`, sorted by label."""
    root = Path(results_dir)
    curves = []
    for phase in PHASES:
        for path in sorted(root.glob(f"*/{phase}/**/metrics.csv")):
            rel = path.relative_to(root).parts
            run = "/".join(rel[2:-1])
            steps, losses = read_curve(path)
            if not steps:
                logger.info("%s: no logged steps (e.g. a run with 0 steps); not drawn", path)
                continue
            curves.append(Curve(phase=phase, label=f"{rel[0]}: {run}", steps=steps, losses=losses))
    return curves


def plot_loss_curves(curves: list[Curve], *, log_y: bool = True) -> plt.Figure:
    """Two panels (pre-training, fine-tuning), one line per run; an empty panel says so."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    titles = {"pretrain": "Pre-training", "finetune": "Fine-tuning"}
    for ax, phase in zip(axes, PHASES):
        drawn = [c for c in curves if c.phase == phase]
        for c in drawn:
            ax.plot(c.steps, c.losses, label=c.label, linewidth=1.2)
        ax.set_title(titles[phase])
        ax.set_xlabel("step")
        ax.set_ylabel("training loss")
        ax.grid(True, alpha=0.3)
        if drawn:
            if log_y and all(v > 0 for c in drawn for v in c.losses):
                ax.set_yscale("log")
            ax.legend(fontsize=7, loc="upper right")
        else:
            ax.text(0.5, 0.5, "no runs found", ha="center", va="center", transform=ax.transAxes)
    return fig


def save_figure(fig, out_dir: str | Path, stem: str) -> list[Path]:
    """Write `out_dir/<stem>.{png,pdf}` atomically and close the figure; return the paths."""
    out = []
    try:
        for fmt in ("png", "pdf"):
            path = Path(out_dir) / f"{stem}.{fmt}"
            with io_lib.atomic_path(path) as tmp:
                # No creation date in the PDF, so a rerun on the same data gives the same bytes.
                fig.savefig(tmp, format=fmt, dpi=150, metadata={"CreationDate": None} if fmt == "pdf" else None)
            out.append(path)
    finally:
        plt.close(fig)
    return out


def loss_curves(results_dir: str | Path, out_dir: str | Path, *, log_y: bool = True) -> list[Path]:
    """Draw every run's loss curve into `out_dir/loss_curve.{png,pdf}` (atomic writes); return the paths."""
    curves = collect_curves(results_dir)
    logger.info("%d loss curves under %s", len(curves), results_dir)
    return save_figure(plot_loss_curves(curves, log_y=log_y), out_dir, "loss_curve")
