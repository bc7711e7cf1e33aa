"""The image datamodules share :class:`ImageDataModule` yet keep the typed options LightningCLI shows and checks.

LightningCLI (jsonargparse) builds ``--data.*`` from each class's ``__init__`` signature and docstring: a
``**kwargs`` pass-through to the base would drop options from ``--help`` and from validation. The table below is
the option set ``genfw fit --data.help <Class>`` listed before the base existed; it must not change by accident.
"""

from __future__ import annotations

import inspect
import re

import jsonargparse
import pytest

from gen_framework.data import (
    DATAMODULES,
    MNIST,
    DataError,
    Digits,
    ImageDataModule,
    ImageFolder,
    NPZImages,
    PhotoPatches,
)

_LOADER = {"batch_size": "type: int, default: 64", "num_workers": "type: int, default: 0",
           "val_fraction": "type: float, default: 0.1", "seed": "type: int, default: 0"}
#: option -> what its help says of type and default, in signature order.
OPTIONS: dict[type, dict[str, str]] = {
    Digits: {"image_size": "type: int, default: 32", "channels": "type: Literal[1, 3], default: 1", **_LOADER},
    MNIST: {"root": "type: str | null, default: null", "image_size": "type: int, default: 28",
            "channels": "type: Literal[1, 3], default: 1", **_LOADER},
    ImageFolder: {"root": "required, type: str", "image_size": "type: int, default: 64",
                  "channels": "type: Literal[1, 3], default: 3", **_LOADER},
    NPZImages: {"path": "required, type: str", "key": "type: str | null, default: null",
                "labels_key": "type: str | null, default: null",
                "value_range": "type: Optional[tuple[float, float]], default: null",
                "image_size": "type: int | null, default: null",
                "channels": "type: Optional[Literal[1, 3]], default: null", **_LOADER},
    PhotoPatches: {"image_size": "type: int, default: 64", "channels": "type: Literal[1, 3], default: 3",
                   "files": "type: Optional[list[str]], default: null",
                   "scale": "type: Optional[tuple[float, float]], default: null", "flip": "type: bool, default: True",
                   "patches_per_epoch": "type: int, default: 4096", **_LOADER},
}


def help_options(cls: type, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """``--data.<name>`` -> "type: ..., default: ..." as jsonargparse's help for ``cls`` prints them."""
    monkeypatch.setenv("COLUMNS", "1000")  # one help entry per line or two, never wrapped mid-sentence
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(cls, "data")
    entries = re.split(r"\n(?=  --)", parser.format_help())
    options = {}
    for entry in entries:
        match = re.match(r"\s*--data\.(\w+)\b.*\((.*?)\)\s*$", entry.strip(), flags=re.DOTALL)
        if match:
            options[match.group(1)] = match.group(2)
    return options


def test_every_image_datamodule_derives_from_the_base():
    images = {cls for cls in DATAMODULES.values() if cls.modality == "image"}
    assert images == set(OPTIONS)
    assert all(issubclass(cls, ImageDataModule) for cls in images)


@pytest.mark.parametrize("cls", list(OPTIONS), ids=lambda cls: cls.__name__)
def test_options_types_and_defaults_in_help_are_unchanged(cls, monkeypatch):
    options = help_options(cls, monkeypatch)
    assert list(options) == list(OPTIONS[cls])
    assert options == OPTIONS[cls]


@pytest.mark.parametrize("cls", list(OPTIONS), ids=lambda cls: cls.__name__)
def test_signature_is_explicit(cls):
    kinds = {p.kind for p in inspect.signature(cls.__init__).parameters.values()}
    assert inspect.Parameter.VAR_KEYWORD not in kinds and inspect.Parameter.VAR_POSITIONAL not in kinds


def test_the_parser_still_validates_a_typed_option():
    parser = jsonargparse.ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(MNIST, "data")
    with pytest.raises(jsonargparse.ArgumentError, match="channels"):
        parser.parse_args(["--data.channels", "2"])


@pytest.mark.parametrize(
    ("cls", "kwargs", "spec"),
    [
        (Digits, {}, {"modality": "image", "channels": 1, "image_size": 32}),
        (MNIST, {"image_size": 16, "channels": 3}, {"modality": "image", "channels": 3, "image_size": 16}),
        (PhotoPatches, {"image_size": 8, "channels": 1}, {"modality": "image", "channels": 1, "image_size": 8}),
    ],
    ids=["Digits", "MNIST", "PhotoPatches"],
)
def test_data_spec_before_setup(cls, kwargs, spec):
    assert cls(**kwargs).data_spec() == spec


@pytest.mark.parametrize("cls", [Digits, MNIST, PhotoPatches], ids=lambda cls: cls.__name__)
def test_image_arguments_are_checked_by_the_base(cls):
    with pytest.raises(DataError, match=rf"{cls.__name__}.*image_size"):
        cls(image_size=0)
    with pytest.raises(DataError, match=rf"{cls.__name__}.*channels"):
        cls(channels=2)
