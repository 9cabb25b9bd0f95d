"""`t5repro <stage> key=value ...`: one entry point per Snakemake rule, configured by Hydra (conf/).

Each stage is a function `run(cfg: DictConfig) -> None` in the module named below. The CLI composes the
configuration, refuses unknown keys, logs the resolved config, and turns known errors into one clear line.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Before TensorFlow is imported (seqio): keep its C++ INFO/WARNING lines (oneDNN, missing CUDA) out of logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from omegaconf import OmegaConf, open_dict

from t5repro import config as config_lib
from t5repro import log

STAGES: dict[str, tuple[str, str]] = {
    "wet": ("t5repro.c4.wetgen:run", "write small gzip'd WET files from the bundled texts (smoke scale)"),
    "c4": ("t5repro.c4.pipeline:run", "WET files -> a C4 variant, every pass in one process (spec D1-D24)"),
    "c4-parse": ("t5repro.c4.pipeline:run_parse", "C4 pass 1 of one shard: WET -> pages + URL keys (D3-D6)"),
    "c4-resolve": ("t5repro.c4.pipeline:run_resolve", "C4 global step, one part: URL winners or dedup (D7, D12, D13)"),
    "c4-clean": ("t5repro.c4.pipeline:run_clean", "C4 pass 2 of one shard: URL dedup, D8, clean (D9-D11)"),
    "c4-finish": ("t5repro.c4.pipeline:run_finish", "C4 pass 3 of one shard: dedup, language, bad words, split"),
    "c4-variant-inputs": ("t5repro.c4.variant_inputs:run", "smoke: RealNews domains + OpenWebText URLs from the WET pages"),
    "c4-merge": ("t5repro.c4.pipeline:run_merge", "C4: a variant's shards -> its folder, stats.csv, manifest"),
    "c4-tokenize": ("t5repro.tasks.pretokenize:run", "C4 folder -> SentencePiece ids per shard (data.pretokenized)"),
    "vocab": ("t5repro.vocab:run", "train the SentencePiece vocabulary on the 10:1:1:1 en:de:fr:ro mix (D30-D33)"),
    "taskdata": ("t5repro.tasks.smoke:run", "generate the smoke downstream tasks (TFDS-shaped features)"),
    "pretrain": ("t5repro.train.stages:pretrain", "pre-train T5 on C4 with the configured objective"),
    "finetune": ("t5repro.train.stages:finetune", "fine-tune a pre-trained checkpoint on one task"),
    "evaluate": ("t5repro.evaluate.predict:run", "greedy-decode a task's validation split and score it"),
    "report": ("t5repro.report.tables:run", "regenerate a paper table beside the paper's numbers, and figures"),
    "download": ("t5repro.download:run", "paper scale: download WET files, C4 resources or a TFDS task"),
    "model-info": ("t5repro.models.info:run", "print parameter count, FLOPs per token and memory of a model"),
    "config": ("t5repro.cli:print_config", "print the resolved configuration"),
}


def print_config(cfg) -> None:
    print(config_lib.to_yaml(cfg), end="")


def _resolve(target: str):
    module, func = target.split(":")
    return getattr(importlib.import_module(module), func)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="t5repro",
        description="T5 (Raffel et al. 2020) reproduction stages. Each takes Hydra overrides key=value.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="stages:\n" + "\n".join(f"  {k:<17} {v[1]}" for k, v in STAGES.items()),
    )
    parser.add_argument("stage", choices=sorted(STAGES), metavar="stage")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. scale=paper model=base io.c4_dir=...")
    args = parser.parse_args(argv)

    log.setup()
    logger = logging.getLogger("t5repro")
    try:
        cfg = config_lib.load(args.overrides)
        with open_dict(cfg):
            cfg.stage = args.stage
        if args.stage != "config":
            logger.info("stage %s, scale %s, experiment %s; resolved config:\n%s", args.stage, cfg.scale_name,
                        cfg.experiment_name, OmegaConf.to_yaml(cfg, resolve=True))
        _resolve(STAGES[args.stage][0])(cfg)
    except config_lib.ConfigError as e:
        logger.error("configuration error: %s", e)
        return 2
    except (FileNotFoundError, ValueError) as e:
        logger.error("%s failed: %s", args.stage, e)
        return 1
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
