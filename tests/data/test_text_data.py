"""Tokenizers (round trips, serialisation) and the text datamodules (windows, splits, errors)."""

from __future__ import annotations

import json

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from gen_framework.data import BPETokenizer, ByteTokenizer, CharTokenizer, PyDocs, TextFile, tokenizer_from_dict
from gen_framework.data.tokenizers import Tokenizer
from gen_framework.errors import DataError

SAMPLE = "Hello, wörld! ¿Qué tal? 你好 🎉\n\tindented   spaces\r\nend"


@pytest.fixture(scope="module")
def bpe():
    return BPETokenizer.train(SAMPLE * 20 + "the quick brown fox jumps over the lazy dog " * 50, vocab_size=300)


def rebuilt(tokenizer):
    return tokenizer_from_dict(json.loads(json.dumps(tokenizer.to_dict())))


def test_char_tokenizer_round_trip_and_sorted_vocabulary():
    tok = CharTokenizer.fit(SAMPLE)
    assert tok.chars == sorted(set(SAMPLE)) and tok.vocab_size == len(set(SAMPLE))
    ids = tok.encode(SAMPLE)
    assert tok.decode(ids) == SAMPLE and max(ids) < tok.vocab_size
    assert ids == [tok.chars.index(c) for c in SAMPLE]
    again = rebuilt(tok)
    assert isinstance(again, CharTokenizer) and again.encode(SAMPLE) == ids
    with pytest.raises(DataError, match="character 'Z' at position 2 is not in the"):
        tok.encode("HeZ")
    with pytest.raises(DataError, match="token id 999 is outside"):
        tok.decode([0, 999])


def test_byte_tokenizer_round_trip_and_invalid_utf8_decoding():
    tok = ByteTokenizer()
    ids = tok.encode(SAMPLE)
    assert tok.vocab_size == 256 and ids == list(SAMPLE.encode("utf-8"))
    assert tok.decode(ids) == SAMPLE and rebuilt(tok).decode(ids) == SAMPLE
    assert tok.decode([0xE4, 0xBD]) == "\ufffd"  # a cut multi-byte sequence is shown, not fatal


def test_bpe_tokenizer_round_trip_compression_and_serialisation(bpe):
    ids = bpe.encode(SAMPLE)
    assert bpe.decode(ids) == SAMPLE
    assert 256 < bpe.vocab_size <= 300 and max(ids) < bpe.vocab_size
    assert len(bpe.encode("the quick brown fox")) < len("the quick brown fox".encode()) / 2  # merges learned
    again = rebuilt(bpe)
    assert isinstance(again, BPETokenizer) and again.encode(SAMPLE) == ids
    assert isinstance(bpe, Tokenizer)


@settings(max_examples=40, deadline=None, database=None)
@given(text=st.text(max_size=60))
def test_every_tokenizer_round_trips_arbitrary_text(bpe, text):
    assert ByteTokenizer().decode(ByteTokenizer().encode(text)) == text
    assert bpe.decode(bpe.encode(text)) == text
    if text:
        char = CharTokenizer.fit(text)
        assert char.decode(char.encode(text)) == text


def test_tokenizer_from_dict_rejects_unknown_kinds():
    with pytest.raises(DataError, match="cannot rebuild a tokenizer"):
        tokenizer_from_dict({"kind": "sentencepiece"})
    with pytest.raises(DataError, match="cannot rebuild a tokenizer"):
        tokenizer_from_dict({"kind": "char"})
    with pytest.raises(DataError, match="cannot rebuild from its serialized JSON"):
        tokenizer_from_dict({"kind": "bpe", "json": "{not json"})


def corpus_file(tmp_path, name="a.txt", text=None):
    path = tmp_path / name
    path.write_text(text if text is not None else "".join(f"line {i:03d} of the corpus\n" for i in range(200)))
    return str(path)


def test_text_file_windows_split_and_spec(tmp_path):
    path = corpus_file(tmp_path)
    dm = TextFile(files=path, block_size=16, batch_size=8, val_fraction=0.1)
    batch = next(iter(dm.train_dataloader()))
    assert batch.shape == (8, 17) and batch.dtype == torch.int64
    spec = dm.data_spec()
    assert spec["modality"] == "text" and json.loads(json.dumps(spec)) == spec
    tok = tokenizer_from_dict(spec["tokenizer"])
    text = open(path).read()
    cut = len(text) - round(0.1 * len(text))
    for row in batch:
        assert tok.decode(row.tolist()) in text[:cut]  # training windows come from the first 90 %
    val = torch.cat([b for b in dm.val_dataloader()])
    assert len(val) == (len(text) - cut - 1) // 16
    assert torch.equal(val[1:, 0], val[:-1, -1])  # consecutive: each window starts where the last ended
    assert tok.decode(val[0].tolist()) == text[cut : cut + 17]
    assert len(dm.splits.train) == cut // 16  # one epoch is about one pass over the training text
    first = [b.tolist() for b in dm.train_dataloader()]
    again = [b.tolist() for b in TextFile(files=path, block_size=16, batch_size=8).train_dataloader()]
    assert first == again


def test_text_file_concatenates_several_files_and_supports_bpe_and_bytes(tmp_path):
    a = corpus_file(tmp_path, "a.txt", "alpha " * 100)
    b = corpus_file(tmp_path, "b.txt", "omega " * 100)
    dm = TextFile(files=[a, b], block_size=8, tokenizer="byte", val_fraction=0.5, batch_size=4)
    assert dm.data_spec()["tokenizer"] == {"kind": "byte"}
    # a newline is added after the first file; the split falls right after it
    assert dm.tokenizer.decode(dm.splits.train.tokens.long().tolist()).endswith("alpha \n")
    assert dm.tokenizer.decode(dm.splits.val.tokens.long().tolist()) == "omega " * 100 + "\n"
    bpe = TextFile(files=[a, b], block_size=8, tokenizer="bpe", bpe_vocab_size=280, val_fraction=0.5)
    assert bpe.data_spec()["tokenizer"]["kind"] == "bpe" and 256 < bpe.tokenizer.vocab_size <= 280
    assert next(iter(bpe.train_dataloader())).max() < bpe.tokenizer.vocab_size


def test_text_file_errors_name_the_file_and_offset(tmp_path):
    bad = tmp_path / "latin1.txt"
    bad.write_bytes("caf".encode() + "é".encode("latin-1") + b" more")
    with pytest.raises(DataError, match="latin1.txt is not valid UTF-8: byte 0xe9 at byte offset 3"):
        TextFile(files=str(bad)).setup()
    with pytest.raises(DataError, match="cannot read text file .*missing.txt"):
        TextFile(files=str(tmp_path / "missing.txt")).setup()
    short = corpus_file(tmp_path, "short.txt", "tiny text\n")
    with pytest.raises(DataError, match="training part has 9 tokens, fewer than block_size \\+ 1 = 65"):
        TextFile(files=short).setup()
    with pytest.raises(DataError, match="`tokenizer` must be one of 'char', 'byte', 'bpe'"):
        TextFile(files=short, tokenizer="word")
    with pytest.raises(DataError, match="`files` is empty"):
        TextFile(files=[])


def test_pydocs_is_the_python_help_corpus_offline():
    from pydoc_data.topics import topics

    dm = PyDocs(block_size=32, batch_size=4)
    dm.setup()
    assert 60 < dm.tokenizer.vocab_size < 200
    total = len(dm.splits.train.tokens) + len(dm.splits.val.tokens)
    assert total == sum(len(v) for v in topics.values()) + len(topics) - 1
    assert abs(len(dm.splits.val.tokens) / total - 0.1) < 1e-3
    text = dm.tokenizer.decode(next(iter(dm.val_dataloader()))[0].tolist())
    assert text == dm.tokenizer.decode(dm.splits.val.tokens[:33].long().tolist())
