"""The datamodule registry, the shared constructor contract and the base class's splits and loaders."""

from __future__ import annotations

import inspect
import json
import subprocess
import sys
import typing
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import Dataset

from gen_framework.data import DATAMODULES, GenerativeDataModule, get_datamodule_class
from gen_framework.data.base import Splits, split_indices
from gen_framework.errors import ConfigError, DataError

EXPECTED = {
    "digits": "Digits",
    "mnist": "MNIST",
    "image_folder": "ImageFolder",
    "photo_patches": "PhotoPatches",
    "npz": "NPZImages",
    "text_file": "TextFile",
    "pydocs": "PyDocs",
    "wav_folder": "WavFolder",
    "melodies": "Melodies",
}
# the smallest arguments that construct each class without touching the disk
REQUIRED = {"image_folder": {"root": "x"}, "npz": {"path": "x.npz"}, "text_file": {"files": ["x.txt"]},
            "wav_folder": {"root": "x"}}


def test_registry_maps_every_short_name_to_its_class():
    assert {name: cls.__name__ for name, cls in DATAMODULES.items()} == EXPECTED
    for name, cls in DATAMODULES.items():
        assert get_datamodule_class(name) is cls
        assert issubclass(cls, GenerativeDataModule)
        assert cls.modality in ("image", "audio", "text")


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown datamodule 'cifar'.*digits.*wav_folder"):
        get_datamodule_class("cifar")


@pytest.mark.parametrize("name", sorted(DATAMODULES))
def test_every_parameter_is_typed_and_documented(name):
    cls = DATAMODULES[name]
    hints = typing.get_type_hints(cls.__init__)
    doc = inspect.getdoc(cls) or ""
    args_section = doc.split("Args:", 1)[1]
    for param in list(inspect.signature(cls.__init__).parameters)[1:]:
        assert param in hints, f"{cls.__name__}.{param} has no annotation"
        assert f"\n{param}: " in "\n" + "\n".join(line.strip() for line in args_section.splitlines()), (
            f"{cls.__name__}.{param} is not documented under Args"
        )


@pytest.mark.parametrize("name", sorted(DATAMODULES))
@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("batch_size", 0, r"`batch_size` must be >= 1, got 0"),
        ("batch_size", True, r"`batch_size` must be an integer"),
        ("num_workers", -1, r"`num_workers` must be >= 0"),
        ("val_fraction", 1.0, r"`val_fraction` must be in \[0.0, 1.0\)"),
        ("val_fraction", float("nan"), r"`val_fraction` must be a finite number"),
        ("seed", -3, r"`seed` must be in \[0, "),
    ],
)
def test_shared_arguments_are_validated(name, option, value, message):
    cls = DATAMODULES[name]
    with pytest.raises(DataError, match=f"{cls.__name__}: {message}"):
        cls(**REQUIRED.get(name, {}), **{option: value})


@pytest.mark.parametrize("name", sorted(DATAMODULES))
def test_jsonargparse_builds_each_datamodule_from_its_signature(name):
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(exit_on_error=False)
    parser.add_class_arguments(DATAMODULES[name], "data")
    args = [f"--data.{key}={json.dumps(value)}" for key, value in REQUIRED.get(name, {}).items()]
    built = parser.instantiate(parser.parse_args([*args, "--data.batch_size=3"])).data
    assert type(built) is DATAMODULES[name] and built.batch_size == 3
    if "channels" in inspect.signature(DATAMODULES[name]).parameters:
        with pytest.raises(Exception, match="channels"):
            parser.parse_args([*args, "--data.channels=2"])


def test_split_indices_is_a_seeded_partition():
    train, val = split_indices(100, 0.25, seed=5, owner="T")
    assert len(val) == 25 and len(train) == 75
    assert sorted(torch.cat([train, val]).tolist()) == list(range(100))
    again_train, again_val = split_indices(100, 0.25, seed=5, owner="T")
    assert torch.equal(train, again_train) and torch.equal(val, again_val)
    assert not torch.equal(val, split_indices(100, 0.25, seed=6, owner="T")[1])
    assert len(split_indices(3, 0.01, seed=0, owner="T")[1]) == 1  # a positive fraction keeps at least one
    assert len(split_indices(3, 0.0, seed=0, owner="T")[1]) == 0
    with pytest.raises(DataError, match="T: 1 item"):
        split_indices(1, 0.5, seed=0, owner="T")


class _Range(Dataset):
    def __init__(self, n: int) -> None:
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return i


class _Counting(GenerativeDataModule):
    modality = "image"

    def build_splits(self) -> Splits:
        return Splits(train=_Range(10), val=_Range(3), test=_Range(3))

    def data_spec(self):
        return {"modality": "image", "channels": 1, "image_size": 1}


def test_base_loaders_shuffle_by_seed_drop_the_last_partial_batch_and_keep_val_order():
    def epoch(seed):
        return [b.tolist() for b in _Counting(batch_size=4, seed=seed).train_dataloader()]

    first = epoch(0)
    assert [len(b) for b in first] == [4, 4]  # 10 items, batch 4: the partial batch is dropped
    assert first == epoch(0) and first != epoch(1)
    assert [b.tolist() for b in _Counting(batch_size=4).val_dataloader()] == [[0, 1, 2]]
    small = _Counting(batch_size=32)
    assert sum(len(b) for b in small.train_dataloader()) == 10  # smaller than a batch: nothing dropped


@pytest.mark.parametrize("name", ["digits", "pydocs", "melodies"])
def test_data_spec_is_json_and_available_before_setup(name):
    kwargs = {"num_clips": 4, "clip_seconds": 0.5} if name == "melodies" else {}
    spec = DATAMODULES[name](**kwargs).data_spec()
    assert json.loads(json.dumps(spec)) == spec
    assert spec["modality"] == DATAMODULES[name].modality


def test_importing_the_package_leaves_heavy_optional_libraries_unloaded():
    heavy = ["sklearn", "skimage", "mlxtend", "tokenizers", "soundfile"]
    code = f"import sys, gen_framework.data; print([m for m in {heavy!r} if m in sys.modules])"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert result.stdout.strip() == "[]"


def test_random_draws_do_not_depend_on_workers():
    def two_epochs(workers):
        dm = DATAMODULES["pydocs"](block_size=8, batch_size=16, samples_per_epoch=48, num_workers=workers)
        loader = dm.train_dataloader()
        return [batch for _ in range(2) for batch in loader]

    single, parallel = two_epochs(0), two_epochs(2)
    assert len(single) == 6 and all(torch.equal(a, b) for a, b in zip(single, parallel))
    assert not torch.equal(single[0], single[3])  # the second epoch draws other windows


def test_distributed_ranks_split_one_epoch_of_draws():
    from lightning_fabric.utilities.distributed import DistributedSamplerWrapper

    from gen_framework.data._random import EpochSampler

    dataset = DATAMODULES["pydocs"](block_size=8, samples_per_epoch=20).splits.train
    keys = []
    for rank in (0, 1):
        sampler = DistributedSamplerWrapper(EpochSampler(20), num_replicas=2, rank=rank, shuffle=True)
        sampler.set_epoch(3)  # Lightning forwards the epoch to the wrapped sampler
        keys.append(list(sampler))
    assert all(epoch == 3 for part in keys for epoch, _ in part)
    assert sorted(i for part in keys for _, i in part) == list(range(20))
    # an item depends on its key only, so a rank's process draws exactly what a single process would
    elsewhere = DATAMODULES["pydocs"](block_size=8, samples_per_epoch=20).splits.train
    assert torch.equal(dataset.__getitems__(keys[1])[0], elsewhere[keys[1][0]])
    assert not torch.equal(dataset[(3, 0)], dataset[(4, 0)])


class _Consumer(pl.LightningModule):
    """Records the batches Lightning hands over, and trains one scalar so the loop has something to step."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(()))
        self.seen: dict[str, list[Any]] = {"train": [], "val": []}

    def _record(self, stage: str, batch: Any) -> torch.Tensor:
        first = batch[0] if isinstance(batch, (list, tuple)) else batch
        self.seen[stage].append((tuple(first.shape), first.dtype, self.current_epoch, first.float().sum().item()))
        return self.weight * first.float().mean()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        return self._record("train", batch)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._record("val", batch)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


@pytest.mark.parametrize(
    ("name", "kwargs", "shape", "dtype"),
    [
        ("digits", {"image_size": 8, "batch_size": 16}, (16, 1, 8, 8), torch.float32),
        ("pydocs", {"block_size": 16, "batch_size": 4, "samples_per_epoch": 8}, (4, 17), torch.int64),
        ("melodies", {"num_clips": 6, "clip_seconds": 0.25, "segment_length": 64, "batch_size": 2,
                      "segments_per_epoch": 4, "val_fraction": 0.34}, (2, 65), torch.int64),
    ],
)
def test_datamodules_run_in_a_real_trainer(name, kwargs, shape, dtype):
    model = _Consumer()
    trainer = pl.Trainer(
        accelerator="cpu", max_epochs=2, limit_train_batches=2, limit_val_batches=2, logger=False,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )
    trainer.fit(model, datamodule=DATAMODULES[name](**kwargs))
    assert [s[2] for s in model.seen["train"]] == [0, 0, 1, 1]
    assert model.seen["train"][0][3] != model.seen["train"][2][3]  # each epoch brings new batches
    assert all(s[:2] == (shape, dtype) for s in model.seen["train"])
    assert model.seen["val"] and all(s[1] == dtype for s in model.seen["val"])


def test_shuffle_order_depends_only_on_seed_and_epoch():
    from gen_framework.data._random import SeededShuffle

    fresh = SeededShuffle(50, seed=4)
    fresh.set_epoch(3)
    resumed_order = list(fresh)
    continuing = SeededShuffle(50, seed=4)
    orders = [list(continuing) for _ in range(4)]  # no set_epoch: each pass is the next epoch
    assert orders[3] == resumed_order and sorted(resumed_order) == list(range(50))
    assert len({tuple(o) for o in orders}) == 4
    assert list(SeededShuffle(50, seed=5)) != orders[0]
