"""SampleWriter inside real ``trainer.predict`` runs: numbering, grid, manifest, spec sources."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import soundfile
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from gen_framework.callbacks import SampleWriter
from gen_framework.errors import DataError


class TinySampler(pl.LightningModule):
    """Stands in for a generative model: samples are a deterministic function of (seed, index)."""

    modality = "image"

    def __init__(self, data_spec: dict[str, Any], per_item: int = 1) -> None:
        super().__init__()
        self.data_spec = data_spec
        self.modality = data_spec["modality"]
        self.per_item = per_item
        self.channels = data_spec.get("channels", 1)
        self.sample_seed = 11
        self.sampling_options = {"temperature": 0.7}

    def sample(self, num_samples: int, *, seed: int | None = None) -> torch.Tensor:
        generator = torch.Generator().manual_seed(seed or 0)
        if self.modality == "image":
            return torch.rand(num_samples, self.channels, 6, 6, generator=generator) * 2 - 1
        if self.modality == "audio":
            return torch.rand(num_samples, 400, generator=generator) * 2 - 1
        return torch.randint(0, 256, (num_samples, 12), generator=generator)

    def predict_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (indices,) = batch
        # each sample's content encodes its dataset index, so files can be matched to numbers
        samples = [self.sample(self.per_item, seed=int(i)) for i in indices]
        return torch.cat(samples)


def predict(model, output_dir, count=10, batch_size=4, **writer_kwargs):
    trainer = pl.Trainer(
        accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False,
        enable_checkpointing=False, callbacks=[SampleWriter(str(output_dir), **writer_kwargs)],
    )
    loader = DataLoader(TensorDataset(torch.arange(count)), batch_size=batch_size)
    trainer.predict(model, loader, return_predictions=False)
    return trainer


def test_image_samples_are_numbered_by_dataset_index_with_grid_and_manifest(tmp_path):
    model = TinySampler({"modality": "image", "channels": 3, "image_size": 6})
    predict(model, tmp_path, count=10, batch_size=4)
    names = {p.name for p in tmp_path.iterdir()}
    assert names == {f"sample_{i:05d}.png" for i in range(10)} | {"grid.png", "manifest.json"}
    for i in (0, 9):
        expected = np.rint((model.sample(1, seed=i)[0].permute(1, 2, 0).numpy() + 1) * 127.5)
        with Image.open(tmp_path / f"sample_{i:05d}.png") as image:
            assert np.abs(np.asarray(image).astype(float) - expected).max() <= 1
    with Image.open(tmp_path / "grid.png") as grid:
        assert grid.size == (4 * 8 + 2, 3 * 8 + 2)  # ceil(sqrt(10)) = 4 per row, 6 px tiles, 2 px padding
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["count"] == 10 and manifest["files"] == [f"sample_{i:05d}.png" for i in range(10)]
    assert manifest["modality"] == "image" and manifest["seed"] == 11 and manifest["checkpoint"] is None
    assert manifest["sampling_options"] == {"temperature": 0.7} and manifest["grid"] == "grid.png"
    assert manifest["data_spec"] == model.data_spec


def test_several_samples_per_item_continue_the_numbering(tmp_path):
    model = TinySampler({"modality": "audio", "sample_rate": 8000}, per_item=3)
    predict(model, tmp_path, count=4, batch_size=3, grid=True)
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert manifest["files"] == [f"sample_{i:05d}.wav" for i in range(12)] and manifest["grid"] is None
    data, rate = soundfile.read(tmp_path / "sample_00004.wav")
    assert rate == 8000 and data.shape == (400,)
    np.testing.assert_allclose(data, model.sample(3, seed=1)[1].numpy(), atol=1e-4)  # item 1, its 2nd sample


def test_text_samples_and_spec_from_the_datamodule(tmp_path):
    class Data(pl.LightningDataModule):
        def data_spec(self):
            return {"modality": "text", "tokenizer": {"kind": "byte"}}

        def predict_dataloader(self):
            return DataLoader(TensorDataset(torch.arange(3)), batch_size=2)

    model = TinySampler({"modality": "text", "tokenizer": {"kind": "char", "chars": "ab"}})
    trainer = pl.Trainer(logger=False, enable_progress_bar=False, enable_model_summary=False,
                         callbacks=[SampleWriter(str(tmp_path), data_spec_from_module=False)])
    trainer.predict(model, datamodule=Data(), return_predictions=False)
    text = (tmp_path / "sample_00002.txt").read_bytes()
    assert text == bytes(model.sample(1, seed=2)[0].tolist()).decode("utf-8", errors="replace").encode()


def test_a_module_without_a_data_spec_is_a_clear_error(tmp_path):
    model = TinySampler({"modality": "image", "channels": 1})
    model.data_spec = None
    with pytest.raises(DataError, match="SampleWriter needs a data spec dict"):
        predict(model, tmp_path)
