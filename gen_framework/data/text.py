"""Token windows over a text corpus: your UTF-8 files, or Python's own documentation as the offline default."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from gen_framework.data._checks import check_choice, check_int
from gen_framework.data._files import read_file_bytes
from gen_framework.data._random import RandomDrawDataset, integers, split_keys, unbind
from gen_framework.data.base import GenerativeDataModule, Splits
from gen_framework.data.tokenizers import Tokenizer, TokenizerKind, train_tokenizer
from gen_framework.errors import DataError


def read_utf8(path: str | Path, owner: str) -> str:
    """Reads a UTF-8 text file (a leading byte-order mark is dropped).

    Raises:
        DataError: naming the file when it is missing, unreadable, not a regular file, larger than the per-file
            limit (:func:`~gen_framework.data._files.max_file_bytes`), or not UTF-8 (with the byte offset).
    """
    path = Path(path)
    raw = read_file_bytes(path, owner, "text file")  # a regular file within the size limit: /dev/zero would never end
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise DataError(
            f"{owner}: {path} is not valid UTF-8: byte 0x{raw[error.start]:02x} at byte offset {error.start} "
            f"({error.reason}); convert the file to UTF-8"
        ) from None
    return text.removeprefix("\ufeff")


def compact(ids: np.ndarray, vocab_size: int) -> torch.Tensor:
    """Token ids in the smallest integer dtype that holds ``vocab_size`` ids (a corpus can be large)."""
    dtype = torch.uint8 if vocab_size <= 256 else torch.int16 if vocab_size <= 32768 else torch.int32
    return torch.from_numpy(ids).to(dtype)


class RandomWindows(RandomDrawDataset):
    """Windows of ``block_size + 1`` consecutive tokens at offsets drawn from ``(seed, epoch, index)``.

    Items are int64 ``(block_size + 1,)``: a model reads the first ``block_size`` and predicts the last.
    """

    def __init__(self, tokens: torch.Tensor, block_size: int, num_items: int, seed: int) -> None:
        super().__init__(num_items, seed)
        self.tokens = tokens
        self.span = torch.arange(block_size + 1)

    def draw(self, epoch: int, indices: np.ndarray) -> list[Any]:
        starts = integers(self.seed, epoch, indices, 0, len(self.tokens) - len(self.span) + 1)
        return unbind(self.tokens[torch.from_numpy(starts)[:, None] + self.span].long())


class ConsecutiveWindows(Dataset):
    """Windows starting every ``block_size`` tokens, so each token is predicted once; the tail that does not fill a
    window is left out. Items are int64 ``(block_size + 1,)``."""

    def __init__(self, tokens: torch.Tensor, block_size: int) -> None:
        self.tokens = tokens
        self.block_size = block_size
        self.span = torch.arange(block_size + 1)

    def __len__(self) -> int:
        return max(0, (len(self.tokens) - 1) // self.block_size)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.__getitems__([index])[0]

    def __getitems__(self, keys: Sequence[Any]) -> list[Any]:
        _, indices = split_keys(keys)
        if indices.size and (indices.min() < 0 or indices.max() >= len(self)):
            raise IndexError(f"window index out of range for {len(self)} windows")
        starts = torch.from_numpy(indices) * self.block_size
        return unbind(self.tokens[starts[:, None] + self.span].long())


class TextDataModule(GenerativeDataModule):
    """Shared machinery of the text datamodules; subclasses provide :meth:`load_text`.

    The tokenizer is fitted on the whole text (so validation text never holds an unknown character); the token
    stream is then split: its last ``val_fraction`` is validation (also the test split), the rest training.

    Args:
        block_size: context length, >= 1; items are ``block_size + 1`` tokens.
        tokenizer: "char" (characters of the corpus), "byte" (UTF-8 bytes) or "bpe" (byte-level BPE).
        bpe_vocab_size: vocabulary size of the BPE tokenizer, 257-1,000,000 (used with ``tokenizer="bpe"``).
        samples_per_epoch: training windows per epoch, >= 1; ``None`` for about one pass over the training tokens
            (their count divided by ``block_size``).
        batch_size: windows per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the token stream, taken from its end, held out for validation, in [0, 1).
        seed: seed of the window offsets, >= 0.
    """

    modality = "text"

    def __init__(
        self,
        block_size: int = 64,
        tokenizer: TokenizerKind = "char",
        bpe_vocab_size: int = 1024,
        samples_per_epoch: int | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, num_workers=num_workers, val_fraction=val_fraction, seed=seed)
        owner = type(self).__name__
        self.block_size = check_int(owner, "block_size", block_size, minimum=1, maximum=1_000_000)
        self.tokenizer_kind: TokenizerKind = check_choice(owner, "tokenizer", tokenizer, ("char", "byte", "bpe"))
        self.bpe_vocab_size = check_int(owner, "bpe_vocab_size", bpe_vocab_size, minimum=257, maximum=1_000_000)
        if samples_per_epoch is not None:
            check_int(owner, "samples_per_epoch", samples_per_epoch, minimum=1)
        self.samples_per_epoch = samples_per_epoch
        self._tokenizer: Tokenizer | None = None

    @abstractmethod
    def load_text(self) -> str:
        """Called once by :meth:`setup`: returns the whole corpus."""

    @property
    def tokenizer(self) -> Tokenizer:
        """The fitted tokenizer (loads the corpus on first access)."""
        self.setup()
        assert self._tokenizer is not None
        return self._tokenizer

    def build_splits(self) -> Splits:
        owner = type(self).__name__
        text = self.load_text()
        if not text:
            raise DataError(f"{owner}: the corpus is empty")
        tokenizer = train_tokenizer(self.tokenizer_kind, text, bpe_vocab_size=self.bpe_vocab_size)
        ids = tokenizer.encode_array(text)
        cut = len(ids) - round(self.val_fraction * len(ids))
        window = self.block_size + 1
        if cut < window:
            raise DataError(
                f"{owner}: the training part has {cut} tokens, fewer than block_size + 1 = {window}; "
                "use more text, a smaller `block_size` or a smaller `val_fraction`"
            )
        if self.val_fraction > 0 and len(ids) - cut < window:
            raise DataError(
                f"{owner}: the validation part has {len(ids) - cut} tokens, fewer than block_size + 1 = {window}; "
                "use more text, a smaller `block_size` or a larger `val_fraction`"
            )
        tokens = compact(ids, tokenizer.vocab_size)
        num_train = self.samples_per_epoch or max(1, cut // self.block_size)
        val = ConsecutiveWindows(tokens[cut:], self.block_size)
        self._tokenizer = tokenizer
        return Splits(train=RandomWindows(tokens[:cut], self.block_size, num_train, self.seed), val=val, test=val)

    def data_spec(self) -> dict[str, Any]:
        # sequence_length: tokens per model input (windows hold one more, the last target).
        return {"modality": "text", "tokenizer": self.tokenizer.to_dict(), "sequence_length": self.block_size}


class TextFile(TextDataModule):
    """Token windows over your UTF-8 text files.

    The files are concatenated in the given order, a newline added after any file not ending in one. The
    tokenizer is fitted on the whole concatenation; the last ``val_fraction`` of the token stream is validation
    (and test), the rest training. Training windows start at random offsets drawn per ``(seed, epoch, index)``;
    validation windows are consecutive and non-overlapping.

    Batches are int64 ``(B, block_size + 1)`` token ids in ``[0, vocab_size)``.

    Args:
        files: one path or a list of paths of UTF-8 text files.
        block_size: context length, >= 1; items are ``block_size + 1`` tokens.
        tokenizer: "char" (characters of the corpus), "byte" (UTF-8 bytes) or "bpe" (byte-level BPE).
        bpe_vocab_size: vocabulary size of the BPE tokenizer, 257-1,000,000 (used with ``tokenizer="bpe"``).
        samples_per_epoch: training windows per epoch, >= 1; ``None`` for about one pass over the training tokens.
        batch_size: windows per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the token stream, taken from its end, held out for validation, in [0, 1).
        seed: seed of the window offsets, >= 0.
    """

    def __init__(
        self,
        files: list[str] | str,
        block_size: int = 64,
        tokenizer: TokenizerKind = "char",
        bpe_vocab_size: int = 1024,
        samples_per_epoch: int | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            block_size=block_size,
            tokenizer=tokenizer,
            bpe_vocab_size=bpe_vocab_size,
            samples_per_epoch=samples_per_epoch,
            batch_size=batch_size,
            num_workers=num_workers,
            val_fraction=val_fraction,
            seed=seed,
        )
        self.files = [files] if isinstance(files, (str, Path)) else list(files)
        if not self.files:
            raise DataError("TextFile: `files` is empty; give at least one text file")

    def load_text(self) -> str:
        parts = [read_utf8(path, "TextFile") for path in self.files]
        if not any(parts):
            names = ", ".join(str(path) for path in self.files)
            raise DataError(f"TextFile: the text file(s) {names} hold no text; give at least one non-empty file")
        return "".join(part if part.endswith("\n") or not part else part + "\n" for part in parts)


class PyDocs(TextDataModule):
    """Python's own help topics (``pydoc_data.topics``) as an offline English corpus of about 465k characters.

    All topics are joined with newlines in sorted key order; the exact text depends on the Python version.
    Splitting, windows and tokenizers are as in :class:`TextFile`; the character vocabulary has about 100 ids.

    Batches are int64 ``(B, block_size + 1)`` token ids in ``[0, vocab_size)``.

    Args:
        block_size: context length, >= 1; items are ``block_size + 1`` tokens.
        tokenizer: "char" (characters of the corpus), "byte" (UTF-8 bytes) or "bpe" (byte-level BPE).
        bpe_vocab_size: vocabulary size of the BPE tokenizer, 257-1,000,000 (used with ``tokenizer="bpe"``).
        samples_per_epoch: training windows per epoch, >= 1; ``None`` for about one pass over the training tokens.
        batch_size: windows per batch, >= 1.
        num_workers: dataloader worker processes, >= 0.
        val_fraction: share of the token stream, taken from its end, held out for validation, in [0, 1).
        seed: seed of the window offsets, >= 0.
    """

    def __init__(
        self,
        block_size: int = 64,
        tokenizer: TokenizerKind = "char",
        bpe_vocab_size: int = 1024,
        samples_per_epoch: int | None = None,
        batch_size: int = 64,
        num_workers: int = 0,
        val_fraction: float = 0.1,
        seed: int = 0,
    ) -> None:
        super().__init__(
            block_size=block_size,
            tokenizer=tokenizer,
            bpe_vocab_size=bpe_vocab_size,
            samples_per_epoch=samples_per_epoch,
            batch_size=batch_size,
            num_workers=num_workers,
            val_fraction=val_fraction,
            seed=seed,
        )

    def load_text(self) -> str:
        from pydoc_data.topics import topics

        return "\n".join(topics[key] for key in sorted(topics))
