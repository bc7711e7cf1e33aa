"""Datamodules by modality, the embedded offline datasets, tokenizers, mu-law coding and sample writers.

Every datamodule is a :class:`GenerativeDataModule` with a ``data_spec()`` telling a model how to decode its
outputs. :data:`DATAMODULES` maps the short names used in configs to the classes.
"""

from __future__ import annotations

from gen_framework.data.audio import AudioDataModule, Melodies, WavFolder
from gen_framework.data.base import GenerativeDataModule, Modality, Splits
from gen_framework.data.image import ImageDataModule
from gen_framework.data.image_arrays import MNIST, Digits
from gen_framework.data.image_folder import ImageFolder
from gen_framework.data.mu_law import MuLawQuantizer, mu_law_decode, mu_law_encode
from gen_framework.data.npz import NPZImages
from gen_framework.data.photo_patches import PhotoPatches
from gen_framework.data.text import PyDocs, TextDataModule, TextFile
from gen_framework.data.tokenizers import (
    BPETokenizer,
    ByteTokenizer,
    CharTokenizer,
    Tokenizer,
    tokenizer_from_dict,
)
from gen_framework.data.writers import make_image_grid, save_image_grid, write_manifest, write_samples
from gen_framework.errors import ConfigError, DataError

DATAMODULES: dict[str, type[GenerativeDataModule]] = {
    "digits": Digits,
    "mnist": MNIST,
    "image_folder": ImageFolder,
    "photo_patches": PhotoPatches,
    "npz": NPZImages,
    "text_file": TextFile,
    "pydocs": PyDocs,
    "wav_folder": WavFolder,
    "melodies": Melodies,
}


def get_datamodule_class(name: str) -> type[GenerativeDataModule]:
    """The datamodule class registered as ``name`` in :data:`DATAMODULES`.

    Raises:
        ConfigError: for an unknown name, listing the known ones.
    """
    try:
        return DATAMODULES[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(DATAMODULES))
        raise ConfigError(f"unknown datamodule {name!r}; known datamodules: {known}") from None


__all__ = [
    "DATAMODULES",
    "MNIST",
    "AudioDataModule",
    "BPETokenizer",
    "ByteTokenizer",
    "CharTokenizer",
    "DataError",
    "Digits",
    "GenerativeDataModule",
    "ImageDataModule",
    "ImageFolder",
    "Melodies",
    "Modality",
    "MuLawQuantizer",
    "NPZImages",
    "PhotoPatches",
    "PyDocs",
    "Splits",
    "TextDataModule",
    "TextFile",
    "Tokenizer",
    "WavFolder",
    "get_datamodule_class",
    "make_image_grid",
    "mu_law_decode",
    "mu_law_encode",
    "save_image_grid",
    "tokenizer_from_dict",
    "write_manifest",
    "write_samples",
]
