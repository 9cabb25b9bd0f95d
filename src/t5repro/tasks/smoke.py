"""Stage `taskdata`: generate the smoke downstream tasks with the TFDS feature schemas they stand in for.

`smoke_cls` imitates glue/sst2 (`idx, label, sentence`; 0 = negative, 1 = positive) and `smoke_gen` imitates
cnn_dailymail (`id, article, highlights`) with highlights = the article's first sentence. Both are
template text, deterministic in `taskdata.seed`, and learnable by the tiny model in ~150 fine-tuning steps.
"""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path
from typing import Callable, Iterator

from omegaconf import DictConfig

from t5repro import config as config_lib
from t5repro import io as t5io

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation")

POSITIVE = ["good", "great", "wonderful", "excellent", "lovely", "enjoyable", "brilliant", "delightful"]
NEGATIVE = ["bad", "terrible", "awful", "boring", "dull", "poor", "horrible", "disappointing"]
SUBJECTS = ["the film", "this movie", "the story", "the acting", "the music", "the ending", "the cast", "the script"]
INTENSIFIERS = ["", "very ", "really ", "truly ", "quite "]
CLS_TEMPLATES = [
    "{subj} was {int}{w1} .",
    "{subj} is {int}{w1} and {w2} .",
    "i thought {subj} was {int}{w1} .",
    "overall , {subj} felt {w1} and {int}{w2} .",
    "what a {w1} experience ; {subj} was {w2} .",
]

NAMES = ["anna", "peter", "maria", "john", "lucy", "david", "sara", "tom", "emma", "paul"]
PLACES = ["london", "paris", "berlin", "madrid", "rome", "vienna", "dublin", "oslo"]
VERBS = ["visited", "opened", "left", "closed", "painted", "bought", "sold", "found"]
OBJECTS = ["a school", "the museum", "a new shop", "the old bridge", "a small house", "the library", "a garden"]
DAYS = ["monday", "tuesday", "friday", "sunday", "last week", "in may", "in june"]
FILLERS = [
    "the weather was warm and people were outside .",
    "local news reported the event in the evening .",
    "many people came to see what had happened .",
    "officials said more details would follow soon .",
    "the city has seen several changes this year .",
    "a spokesperson declined to comment further .",
    "residents said they were surprised by the news .",
]


def classification_example(rng: random.Random, idx: int, label: int) -> dict:
    """One glue/sst2-shaped record: a templated review whose sentiment words all have polarity `label`."""
    words = POSITIVE if label == 1 else NEGATIVE
    w1, w2 = rng.sample(words, 2)
    sentence = rng.choice(CLS_TEMPLATES).format(subj=rng.choice(SUBJECTS), int=rng.choice(INTENSIFIERS),
                                                w1=w1, w2=w2)
    return {"idx": idx, "label": label, "sentence": sentence}


def smoke_cls(rng: random.Random, n: int) -> Iterator[dict]:
    """`n` sst2-shaped examples with balanced labels (n//2 of each, one more positive when n is odd)."""
    labels = [i % 2 for i in range(n)]
    rng.shuffle(labels)
    for idx, label in enumerate(labels):
        yield classification_example(rng, idx, label)


def summarization_example(rng: random.Random, idx: int, split: str) -> dict:
    """One cnn_dailymail-shaped record: a 2-4 sentence article (<= ~45 words); highlights = first sentence."""
    lead = f"{rng.choice(NAMES)} {rng.choice(VERBS)} {rng.choice(OBJECTS)} in {rng.choice(PLACES)} {rng.choice(DAYS)} ."
    rest = rng.sample(FILLERS, rng.randint(1, 3))
    return {"id": f"{split}-{idx:06d}", "article": " ".join([lead, *rest]), "highlights": lead}


def smoke_gen(rng: random.Random, n: int, split: str = "train") -> Iterator[dict]:
    """`n` cnn_dailymail-shaped examples."""
    for idx in range(n):
        yield summarization_example(rng, idx, split)


GENERATORS: dict[str, Callable[..., Iterator[dict]]] = {
    "smoke_cls": lambda rng, n, split: smoke_cls(rng, n),
    "smoke_gen": lambda rng, n, split: smoke_gen(rng, n, split),
}


def write_jsonl(path: Path, records: Iterator[dict]) -> int:
    """Write plain JSON lines atomically; return the count."""
    n = 0
    with t5io.atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            for r in records:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
                n += 1
    return n


def split_rng(seed: int, task: str, split: str) -> random.Random:
    """An independent, reproducible random stream per (seed, task, split)."""
    return random.Random(f"{seed}/{task}/{split}")


def run(cfg: DictConfig) -> None:
    """Stage `taskdata`: write io.task_data_dir/{task}/{train,validation}.jsonl for each of taskdata.tasks."""
    out_dir = config_lib.require_path(cfg, "io.task_data_dir")
    tcfg = cfg.taskdata
    sizes = {"train": int(tcfg.train_examples), "validation": int(tcfg.validation_examples)}
    for task in tcfg.tasks:
        if task not in GENERATORS:
            raise config_lib.ConfigError(f"taskdata.tasks: unknown task {task!r} (known: {sorted(GENERATORS)})")
        for split in SPLITS:
            rng = split_rng(int(tcfg.seed), task, split)
            n = write_jsonl(out_dir / task / f"{split}.jsonl", GENERATORS[task](rng, sizes[split], split))
            logger.info("taskdata: %s/%s: %d examples", task, split, n)
