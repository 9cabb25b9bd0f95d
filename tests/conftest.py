"""Session fixtures: tiny fake C4 shards (D17 record format) and a tiny SentencePiece vocabulary trained on them."""

from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

import pytest

EN_WORDS = (
    "the of and to in is was for that with on as by at from his her their this which have been were are "
    "city river school music film story people year years first new old great small world government "
    "company team game season history church house family water light night morning garden village road "
    "country market report study science museum library station bridge island mountain forest summer winter "
    "played wrote built opened visited found said made took gave moved became started ended worked lived"
).split()
DE_WORDS = "der die das und ist nicht mit auf für eine einen dem den von zu sich auch nach wird bei Stadt Jahr".split()
FR_WORDS = "le la les et est une des du pour dans avec sur pas qui au aux ville année été très être".split()
RO_WORDS = "și în este un o care pe cu la din pentru nu mai fost oraș anul foarte sunt fi".split()


def _sentence(rng: random.Random, words: list[str]) -> str:
    s = " ".join(rng.choice(words) for _ in range(rng.randint(6, 14)))
    return s[0].upper() + s[1:] + "."


def _page(rng: random.Random, words: list[str], i: int) -> dict:
    lines = [" ".join(_sentence(rng, words) for _ in range(rng.randint(1, 3))) for _ in range(rng.randint(2, 6))]
    text = "\n".join(lines)
    return {"url": f"https://example.com/{i}", "text": text, "timestamp": "2019-04-20T00:00:00Z",
            "content-type": "text/plain", "content-length": str(len(text.encode()))}


def write_fake_c4(root: Path, *, pages_per_shard: int = 120, lang_pages: int = 40, seed: int = 0) -> Path:
    """Write {train,validation}-*.jsonl.gz (variant en) and multilingual/{de,fr,ro}/train-*.jsonl.gz (variant
    multilingual) in the D17 record format."""
    rng = random.Random(seed)
    root.mkdir(parents=True, exist_ok=True)
    shards = ["train-00000-of-00002", "train-00001-of-00002", "validation-00000-of-00001"]
    k = 0
    for name in shards:
        with gzip.open(root / f"{name}.jsonl.gz", "wt", encoding="utf-8") as f:
            for _ in range(pages_per_shard):
                f.write(json.dumps(_page(rng, EN_WORDS, k)) + "\n")
                k += 1
    for lang, words, n in (("de", DE_WORDS, lang_pages), ("fr", FR_WORDS, lang_pages), ("ro", RO_WORDS, 3)):
        (root / "multilingual" / lang).mkdir(parents=True, exist_ok=True)
        with gzip.open(root / "multilingual" / lang / "train-00000-of-00001.jsonl.gz", "wt", encoding="utf-8") as f:
            for _ in range(n):
                f.write(json.dumps(_page(rng, words, k), ensure_ascii=False) + "\n")
                k += 1
    return root


TEST_VOCAB_SIZE = 300


@pytest.fixture(scope="session")
def fake_c4_dir(tmp_path_factory) -> Path:
    """Tiny fake C4 (ro deliberately too small for its 1/13 share, to exercise the D30 shortfall path)."""
    return write_fake_c4(tmp_path_factory.mktemp("c4"))


def make_cfg(tmp: Path, c4_dir: Path, vocab_model: Path, *extra: str):
    """A composed config with io.* under tmp, the fake C4 and the test vocabulary size."""
    from t5repro import config

    return config.load([f"io.c4_dir={c4_dir}", f"io.c4_multilingual_dir={c4_dir / 'multilingual'}",
                        f"io.vocab_model={vocab_model}", f"io.task_data_dir={tmp / 'tasks'}",
                        f"vocab.size={TEST_VOCAB_SIZE}", *extra])


@pytest.fixture(scope="session")
def vocab_model(tmp_path_factory, fake_c4_dir) -> Path:
    """A SentencePiece model trained by the `vocab` stage on the fake C4 (session-scoped: trained once)."""
    from t5repro import vocab

    tmp = tmp_path_factory.mktemp("vocab")
    model = tmp / "vocab" / "spm.model"
    vocab.run(make_cfg(tmp, fake_c4_dir, model))
    return model


@pytest.fixture(scope="session")
def session_cfg(tmp_path_factory, fake_c4_dir, vocab_model):
    """A smoke config pointing at the fake C4, the test vocabulary and generated task data."""
    from t5repro.tasks import smoke

    tmp = tmp_path_factory.mktemp("cfg")
    cfg = make_cfg(tmp, fake_c4_dir, vocab_model, "taskdata.train_examples=64", "taskdata.validation_examples=16")
    smoke.run(cfg)
    return cfg
