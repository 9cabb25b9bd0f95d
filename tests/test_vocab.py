"""Vocabulary stage and seqio vocabulary: spec data.md D30-D35."""

from __future__ import annotations

import json

import pytest
import sentencepiece as spm

from t5repro import vocab
from tests.conftest import TEST_VOCAB_SIZE, make_cfg, write_fake_c4


def test_stage_writes_model_vocab_and_manifest(vocab_model):
    d = vocab_model.parent
    assert vocab_model.is_file() and (d / "spm.vocab").is_file()
    manifest = json.loads((d / "manifest.json").read_text())
    assert manifest["sentencepiece_version"] == spm.__version__
    assert set(manifest["languages"]) == {"en", "de", "fr", "ro"}
    assert not [p for p in d.iterdir() if p.name.startswith(".")]  # atomic writes leave no temp files


def test_trainer_settings_are_d31(vocab_model):
    proto = spm.SentencePieceProcessor(model_file=str(vocab_model))
    assert proto.get_piece_size() == TEST_VOCAB_SIZE  # spec D31: vocab_size includes the specials
    assert (proto.pad_id(), proto.eos_id(), proto.unk_id(), proto.bos_id()) == (0, 1, 2, -1)  # D31/D32
    from sentencepiece import sentencepiece_model_pb2 as pb

    m = pb.ModelProto()
    m.ParseFromString(vocab_model.read_bytes())
    assert m.trainer_spec.model_type == pb.TrainerSpec.UNIGRAM
    assert not m.trainer_spec.byte_fallback  # D31
    assert m.trainer_spec.shuffle_input_sentence
    assert m.normalizer_spec.name == "nmt_nfkc" and m.normalizer_spec.add_dummy_prefix  # defaults kept
    assert m.trainer_spec.max_sentencepiece_length == 16 and not m.trainer_spec.split_digits


def test_mix_is_measured_in_characters_with_shortfall(vocab_model):
    langs = json.loads((vocab_model.parent / "manifest.json").read_text())["languages"]
    en = langs["en"]["chars"]
    # spec D30: 10:1:1:1 by characters; de/fr get exactly en/10, ro has less than its share and gives all of it.
    assert langs["de"]["chars"] == langs["fr"]["chars"] == int(en * 13 / 10 / 13)
    assert langs["ro"]["shortfall"] and langs["ro"]["chars"] < en // 10 and langs["ro"]["notes"]
    assert not langs["de"]["shortfall"] and langs["en"]["target_chars"] is None


def test_mix_targets_with_budget():
    t = vocab.mix_targets({"en": 10, "de": 1, "fr": 1, "ro": 1}, anchor_chars=0, max_sample_chars=1300)
    assert t == {"en": 1000, "de": 100, "fr": 100, "ro": 100}  # spec D30


def test_missing_language_names_the_file(tmp_path):
    c4 = write_fake_c4(tmp_path / "c4", pages_per_shard=2, lang_pages=1)
    (c4 / "multilingual" / "fr" / "train-00000-of-00001.jsonl.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"multilingual/fr/train-\*\.jsonl\.gz not found \(io\.c4_multilingual_dir"):
        vocab.run(make_cfg(tmp_path, c4, tmp_path / "v" / "spm.model"))


def test_training_is_deterministic(tmp_path, fake_c4_dir, vocab_model):
    other = tmp_path / "v" / "spm.model"
    vocab.run(make_cfg(tmp_path, fake_c4_dir, other))
    assert other.read_bytes() == vocab_model.read_bytes()


def test_sentinel_ids_count_down_from_the_last_id(vocab_model):
    v = vocab.get_vocabulary(vocab_model)
    assert v.vocab_size == TEST_VOCAB_SIZE + 100  # spec D33: 100 extra ids
    for k in (0, 1, 99):
        sid = v.vocab_size - 1 - k  # spec D33: sentinel k = V - 1 - k
        assert v.decode([sid]) == f"<extra_id_{k}>"  # spec D35 (suite): sentinels decode to their names
        assert v.encode(f"<extra_id_{k}>") == [sid]
    assert v.encode("<extra_id_99>")[0] == TEST_VOCAB_SIZE


def test_ids_and_encode_adds_no_eos(vocab_model):
    v = vocab.get_vocabulary(vocab_model)
    assert (v.pad_id, v.eos_id, v.unk_id) == (0, 1, 2)  # spec D32
    ids = v.encode("The city river school.")
    assert ids and 1 not in ids and 0 not in ids  # spec D34: no EOS, no pad
    assert v.encode("") == []  # spec D34
    assert v.encode("the  city\n\triver") == v.encode("the city river")  # D31 remove_extra_whitespaces
    assert 2 in v.encode("{ }")  # spec D31: no byte fallback; uncovered characters are unk


def test_decode_truncates_at_eos(vocab_model):
    v = vocab.get_vocabulary(vocab_model)
    a, b = v.encode("the city"), v.encode("river")
    assert v.decode(a + [1] + b) == v.decode(a) == "the city"  # spec D35
    assert v.decode([0] + a) == "the city"  # pad decodes to nothing
    assert v.decode([v.vocab_size + 5]) == v.decode([2])  # D35: ids >= size -> unk
