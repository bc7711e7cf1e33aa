"""Tokenizers for the text datamodules: characters, UTF-8 bytes, and byte-level BPE trained locally.

Every tokenizer has ``vocab_size``, ``encode``, ``decode`` and a JSON-able ``to_dict``;
:func:`tokenizer_from_dict` rebuilds any of them, so a model's data spec is enough to decode its samples.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from gen_framework._utils.optional import require
from gen_framework.errors import DataError

TokenizerKind = Literal["char", "byte", "bpe"]


@runtime_checkable
class Tokenizer(Protocol):
    """What the framework needs from a tokenizer: ids are ints in ``[0, vocab_size)``."""

    @property
    def vocab_size(self) -> int: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids: Sequence[int]) -> str: ...

    def to_dict(self) -> dict[str, Any]: ...


def _check_ids(ids: Sequence[int], vocab_size: int, kind: str) -> list[int]:
    values = [int(i) for i in ids]
    bad = [i for i in values if not 0 <= i < vocab_size]
    if bad:
        raise DataError(f"{kind} tokenizer: token id {bad[0]} is outside [0, {vocab_size})")
    return values


class CharTokenizer:
    """One token per Unicode character; the vocabulary is the sorted set of characters of the fitted text.

    Encoding a character outside the vocabulary raises :class:`DataError` naming it (no silent replacement).

    Args:
        chars: the vocabulary, one character per id; duplicates are not allowed.
    """

    kind = "char"

    def __init__(self, chars: Sequence[str]) -> None:
        chars = list(chars)
        if not chars or any(len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise DataError("char tokenizer: the vocabulary must be a non-empty list of distinct single characters")
        self.chars = chars
        # code points in id order, and the order that sorts them, for vectorised lookup
        self._points = np.array([ord(c) for c in chars], dtype=np.int64)
        self._order = np.argsort(self._points)

    @classmethod
    def fit(cls, text: str) -> CharTokenizer:
        """A tokenizer over the sorted set of characters of ``text`` (which must not be empty)."""
        if not text:
            raise DataError("char tokenizer: cannot fit a vocabulary on empty text")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode_array(self, text: str) -> np.ndarray:
        """Like :meth:`encode` but returns int64 ``(T,)``, vectorised for long texts."""
        points = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
        sorted_points = self._points[self._order]
        slot = np.minimum(np.searchsorted(sorted_points, points), len(sorted_points) - 1)
        unknown = sorted_points[slot] != points
        if unknown.any():
            position = int(np.flatnonzero(unknown)[0])
            raise DataError(
                f"char tokenizer: character {text[position]!r} at position {position} is not in the "
                f"{self.vocab_size}-character vocabulary"
            )
        return self._order[slot]

    def encode(self, text: str) -> list[int]:
        return self.encode_array(text).tolist()

    def decode(self, ids: Sequence[int]) -> str:
        return "".join(self.chars[i] for i in _check_ids(ids, self.vocab_size, self.kind))

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "chars": "".join(self.chars)}


class ByteTokenizer:
    """One token per UTF-8 byte (256 ids). Decoding replaces invalid UTF-8 sequences with U+FFFD."""

    kind = "byte"

    @property
    def vocab_size(self) -> int:
        return 256

    def encode_array(self, text: str) -> np.ndarray:
        """Like :meth:`encode` but returns int64 ``(T,)``."""
        return np.frombuffer(text.encode("utf-8"), dtype=np.uint8).astype(np.int64)

    def encode(self, text: str) -> list[int]:
        return list(text.encode("utf-8"))

    def decode(self, ids: Sequence[int]) -> str:
        # a model can emit byte sequences that are not valid UTF-8; show them rather than fail
        return bytes(_check_ids(ids, 256, self.kind)).decode("utf-8", errors="replace")

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


class BPETokenizer:
    """Byte-level BPE (GPT-2 style) from Hugging Face ``tokenizers``, trained locally: no download.

    Any text encodes (the base alphabet is all 256 bytes) and decodes back exactly.

    Args:
        serialized: the ``tokenizers`` JSON of a trained byte-level BPE (``Tokenizer.to_str()``).
    """

    kind = "bpe"

    def __init__(self, serialized: str) -> None:
        require("tokenizers", "the bpe tokenizer")
        from tokenizers import Tokenizer as HFTokenizer

        try:
            self._tokenizer = HFTokenizer.from_str(serialized)
        except Exception as error:  # noqa: BLE001 - the Rust side raises a bare Exception on malformed JSON
            raise DataError(f"bpe tokenizer: cannot rebuild from its serialized JSON: {error}") from None
        self._serialized = serialized

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BPETokenizer:
        """Trains on ``text``; the result may have fewer than ``vocab_size`` ids when the text is short.

        Args:
            text: training text, not empty.
            vocab_size: target vocabulary size, 257-1,000,000 (256 byte tokens plus at least one merge).
        """
        require("tokenizers", "the bpe tokenizer")
        from tokenizers import Tokenizer as HFTokenizer
        from tokenizers import decoders, models, pre_tokenizers, trainers

        if not text:
            raise DataError("bpe tokenizer: cannot train on empty text")
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or not 257 <= vocab_size <= 1_000_000:
            raise DataError(f"bpe tokenizer: `vocab_size` must be an integer in [257, 1000000], got {vocab_size!r}")
        tokenizer = HFTokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            special_tokens=[],
            show_progress=False,
        )
        # lines as separate training items let the trainer count pairs in parallel
        tokenizer.train_from_iterator(text.splitlines(keepends=True), trainer=trainer)
        return cls(tokenizer.to_str())

    @property
    def vocab_size(self) -> int:
        return self._tokenizer.get_vocab_size()

    def encode_array(self, text: str) -> np.ndarray:
        """Like :meth:`encode` but returns int64 ``(T,)``."""
        return np.asarray(self.encode(text), dtype=np.int64)

    def encode(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text).ids)

    def decode(self, ids: Sequence[int]) -> str:
        return self._tokenizer.decode(_check_ids(ids, self.vocab_size, self.kind), skip_special_tokens=False)

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "json": self._serialized}


def train_tokenizer(
    kind: TokenizerKind, text: str, *, bpe_vocab_size: int = 1024
) -> CharTokenizer | ByteTokenizer | BPETokenizer:
    """Builds a tokenizer of ``kind`` fitted on ``text`` (bytes need no fitting)."""
    if kind == "char":
        return CharTokenizer.fit(text)
    if kind == "byte":
        return ByteTokenizer()
    if kind == "bpe":
        return BPETokenizer.train(text, bpe_vocab_size)
    raise DataError(f"unknown tokenizer {kind!r}; expected one of 'char', 'byte', 'bpe'")


def tokenizer_from_dict(data: dict[str, Any]) -> Tokenizer:
    """Rebuilds a tokenizer from its :meth:`to_dict` output.

    Raises:
        DataError: when the dict has an unknown ``kind`` or lacks the fields that kind needs.
    """
    kind = data.get("kind") if isinstance(data, dict) else None
    if kind == "char" and isinstance(data.get("chars"), str):
        return CharTokenizer(list(data["chars"]))
    if kind == "byte":
        return ByteTokenizer()
    if kind == "bpe" and isinstance(data.get("json"), str):
        return BPETokenizer(data["json"])
    raise DataError(
        "cannot rebuild a tokenizer from this dict: expected {'kind': 'char', 'chars': str}, {'kind': 'byte'} "
        f"or {{'kind': 'bpe', 'json': str}}, got keys {sorted(data) if isinstance(data, dict) else type(data)}"
    )
