"""§3.1.3 vocabulary: sample the 10:1:1:1 en:de:fr:ro C4 mix, train SentencePiece, wrap it for seqio.

Spec data.md §2 (D30-D37). Deviations: the paper does not say how "parts" were measured nor how large the
sample was (Q3); we measure parts in characters of the text lines fed to SentencePiece (D30) and, unless
`vocab.max_sample_chars` is set, take all English training text and scale the other languages to it.
"""

from __future__ import annotations

import functools
import glob
import io
import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, Mapping, Sequence

import sentencepiece as spm
from omegaconf import DictConfig

from t5repro import config as config_lib
from t5repro import io as t5io

logger = logging.getLogger(__name__)

PAD_ID, EOS_ID, UNK_ID, BOS_ID = 0, 1, 2, -1  # spec D31/D32
DEFAULT_EXTRA_IDS = 100  # spec D33


@dataclass
class LanguageSample:
    """What one language contributed to the SentencePiece corpus (D30), for the manifest."""

    lang: str
    files: list[str]
    target_chars: int | None
    chars: int = 0
    lines: int = 0
    pages: int = 0
    available_chars: int | None = None
    shortfall: bool = False
    notes: list[str] = field(default_factory=list)


def get_vocabulary(path: str | Path, extra_ids: int = DEFAULT_EXTRA_IDS):
    """The seqio vocabulary of a trained model with `extra_ids` sentinels appended (D33): id k-th sentinel = V-1-k."""
    return _cached_vocabulary(str(path), int(extra_ids))


@functools.lru_cache(maxsize=16)
def _cached_vocabulary(path: str, extra_ids: int):
    import seqio

    return seqio.SentencePieceVocabulary(path, extra_ids=extra_ids)


def language_files(c4_dir: Path, lang: str, multilingual_dir: Path | None = None) -> list[str]:
    """C4 train shards of one language (D30): English from io.c4_dir (variant `en`), de/fr/ro from
    io.c4_multilingual_dir (variant `multilingual`: <lang>/train-*.jsonl.gz)."""
    if lang == "en":
        where, key = c4_dir / "train-*.jsonl.gz", f"io.c4_dir={c4_dir}"
    else:
        if multilingual_dir is None:
            raise FileNotFoundError(f"vocab: language {lang!r} needs io.c4_multilingual_dir (the C4 `multilingual` "
                                    "variant)")
        where, key = multilingual_dir / lang / "train-*.jsonl.gz", f"io.c4_multilingual_dir={multilingual_dir}"
    files = sorted(glob.glob(str(where)))
    if not files:
        raise FileNotFoundError(f"vocab: no text for language {lang!r}: {where} not found ({key})")
    return files


def page_lines(files: Sequence[str]) -> Iterator[tuple[int, str]]:
    """(page index, non-empty text line) over C4 records; one line = one SentencePiece sentence (D30)."""
    page = 0
    for f in files:
        for record in t5io.read_jsonl(f):
            text = record.get("text")
            if not isinstance(text, str):
                raise ValueError(f"{f}: record {page} has no string 'text' field")
            for line in text.split("\n"):
                if line.strip():
                    yield page, line
            page += 1


def count_chars(files: Sequence[str]) -> int:
    """Characters of the text lines a language could contribute (the unit of the D30 mix)."""
    return sum(len(line) for _, line in page_lines(files))


def mix_targets(mix: Mapping[str, float], anchor_chars: int, max_sample_chars: int | None) -> dict[str, int]:
    """Characters wanted per language: the mix ratio (D30) of a total = max_sample_chars, or of all anchor text."""
    total_parts = float(sum(mix.values()))
    anchor = max(mix, key=lambda k: mix[k])
    total = max_sample_chars if max_sample_chars is not None else anchor_chars * total_parts / mix[anchor]
    return {lang: int(math.floor(total * parts / total_parts)) for lang, parts in mix.items()}


def sample_language(sample: LanguageSample) -> Iterator[str]:
    """Stream a language's lines in file order until its character budget is met (the last line is cut)."""
    last_page = -1
    for page, line in page_lines(sample.files):
        if sample.target_chars is not None and sample.chars >= sample.target_chars:
            return
        if sample.target_chars is not None and sample.chars + len(line) > sample.target_chars:
            line = line[: sample.target_chars - sample.chars]
        if page != last_page:
            sample.pages += 1
            last_page = page
        sample.chars += len(line)
        sample.lines += 1
        yield line
    if sample.target_chars is not None and sample.chars < sample.target_chars:
        # spec D30: a language with fewer characters than its share contributes all it has.
        sample.shortfall = True
        msg = f"{sample.lang}: only {sample.chars} characters available for a share of {sample.target_chars}; took all"
        sample.notes.append(msg)
        logger.warning("vocab mix shortfall: %s", msg)


def trainer_kwargs(vocab_cfg: DictConfig | Mapping, num_threads: int | None = None) -> dict:
    """SentencePiece flags of D31: unigram, pad 0/eos 1/unk 2/no bos, no byte fallback, defaults otherwise."""
    kwargs = dict(
        model_type=str(vocab_cfg["model_type"]),
        vocab_size=int(vocab_cfg["size"]),
        pad_id=PAD_ID,
        eos_id=EOS_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        byte_fallback=False,
        character_coverage=float(vocab_cfg["character_coverage"]),
        input_sentence_size=int(vocab_cfg["input_sentence_size"]),
        shuffle_input_sentence=True,
    )
    if num_threads is not None:
        kwargs["num_threads"] = num_threads
    return kwargs


def vocab_lines(model_bytes: bytes) -> list[str]:
    """`piece<TAB>score` lines, the format of SentencePiece's own .vocab file."""
    proc = spm.SentencePieceProcessor(model_proto=model_bytes)
    return [f"{proc.id_to_piece(i)}\t{proc.get_score(i):g}" for i in range(proc.get_piece_size())]


def train_sentencepiece(lines: Iterator[str], out_model: Path, kwargs: dict, seed: int) -> None:
    """Train SentencePiece from an iterator into memory, then write spm.model and spm.vocab atomically.

    A model_writer (not a temp model_prefix) keeps the output path out of the proto, so the bytes are
    reproducible.
    """
    spm.set_random_generator_seed(seed)  # deterministic sampling/shuffling where SentencePiece allows (D31)
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=lines, model_writer=buffer, **kwargs)
    model_bytes = buffer.getvalue()
    t5io.write_text(out_model.with_suffix(".vocab"), "\n".join(vocab_lines(model_bytes)) + "\n")
    with t5io.atomic_path(out_model) as dst:
        dst.write_bytes(model_bytes)


def run(cfg: DictConfig) -> None:
    """Stage `vocab`: sample the D30 mix from io.c4_dir and write io.vocab_model (+ spm.vocab, manifest.json)."""
    c4_dir = config_lib.require_path(cfg, "io.c4_dir")
    out_model = config_lib.require_path(cfg, "io.vocab_model")
    out_model.parent.mkdir(parents=True, exist_ok=True)
    vcfg = cfg.vocab
    mix = {str(k): float(v) for k, v in vcfg.mix.items()}
    max_chars = vcfg.get("max_sample_chars")
    ml = config_lib.select(cfg, "io.c4_multilingual_dir")
    files = {lang: language_files(c4_dir, lang, Path(str(ml)) if ml else None) for lang in mix}
    anchor = max(mix, key=lambda k: mix[k])
    anchor_chars = count_chars(files[anchor]) if max_chars is None else 0
    targets = mix_targets(mix, anchor_chars, None if max_chars is None else int(max_chars))
    if max_chars is None:
        targets[anchor] = None  # type: ignore[assignment]  # the anchor contributes all of its text
    samples = [LanguageSample(lang, files[lang], targets[lang]) for lang in mix]
    if max_chars is None:
        samples[list(mix).index(anchor)].available_chars = anchor_chars
    logger.info("vocab: character targets per language %s (mix %s)", targets, mix)

    def all_lines() -> Iterator[str]:
        for s in samples:
            yield from sample_language(s)

    seed = int(cfg.get("seed", 0))
    train_sentencepiece(all_lines(), out_model, trainer_kwargs(vcfg), seed)
    total = sum(s.chars for s in samples) or 1
    manifest = t5io.run_metadata({
        "stage": "vocab",
        "spec": "data.md D30-D33",
        "vocab_model": str(out_model),
        "sentencepiece_version": spm.__version__,
        "trainer": trainer_kwargs(vcfg),
        "seed": seed,
        "mix": mix,
        "languages": {
            s.lang: {"files": s.files, "target_chars": s.target_chars, "chars": s.chars, "lines": s.lines,
                     "pages": s.pages, "share": s.chars / total, "shortfall": s.shortfall, "notes": s.notes}
            for s in samples
        },
    })
    t5io.write_json(out_model.parent / "manifest.json", manifest)
    logger.info("vocab: wrote %s (%d pieces + %d extra ids); chars per language %s", out_model, int(vcfg.size),
                int(vcfg.extra_ids), {s.lang: s.chars for s in samples})
