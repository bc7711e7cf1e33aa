"""SampleLogger inside real ``trainer.fit`` runs: schedule, loggers, RNG and mode isolation."""

from __future__ import annotations

import random
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.loggers import CSVLogger, TensorBoardLogger
from torch.utils.data import DataLoader, TensorDataset

from gen_framework.callbacks import SampleLogger

# the stand-in model keeps a submodule in eval mode on purpose
pytestmark = pytest.mark.filterwarnings("ignore:Found 1 module\\(s\\) in eval mode")

SPECS = {
    "image": {"modality": "image", "channels": 3, "image_size": 4},
    "audio": {"modality": "audio", "sample_rate": 8000, "quantization": {"kind": "mu_law", "levels": 256}},
    "text": {"modality": "text", "tokenizer": {"kind": "char", "chars": "abc \n"}},
}


class TinyGenerator(pl.LightningModule):
    """Trains a linear layer on noisy targets (so training consumes global RNG) and samples from it."""

    def __init__(self, modality: str = "image", nan: bool = False) -> None:
        super().__init__()
        self.modality = modality
        self.data_spec = SPECS[modality]
        self.net = torch.nn.Sequential(torch.nn.Linear(4, 48), torch.nn.Dropout(0.5))
        self.frozen = torch.nn.BatchNorm1d(4).eval()  # deliberately kept in eval mode during training
        self.nan = nan
        self.calls: list[tuple[int, bool, bool]] = []

    def sample(self, num_samples: int, *, seed: int | None = None) -> torch.Tensor:
        self.calls.append((num_samples, self.training, torch.is_grad_enabled()))
        torch.manual_seed(seed)  # a careless model reseeding the global generators
        np.random.seed(seed)
        random.seed(seed)
        out = torch.tanh(self.net(torch.randn(num_samples, 4)))
        if self.nan:
            out = out * float("nan")
        if self.modality == "image":
            return out.view(num_samples, 3, 4, 4)
        if self.modality == "audio":
            return out
        return (out.abs() * 4.99).long()

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor:
        (x,) = batch
        noise = torch.randn(len(x), 48) + float(np.random.rand()) + random.random()
        return (self.net(x) - noise).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.05)


def fit(model, logger, steps=7, callbacks=()):
    pl.seed_everything(0, verbose=False)
    trainer = pl.Trainer(
        accelerator="cpu", max_steps=steps, logger=logger, callbacks=list(callbacks), enable_progress_bar=False,
        enable_model_summary=False, enable_checkpointing=False,
    )
    loader = DataLoader(TensorDataset(torch.randn(64, 4, generator=torch.Generator().manual_seed(1))), batch_size=4,
                        shuffle=True)
    trainer.fit(model, loader)
    return trainer


def test_logs_every_n_steps_and_at_the_end_to_csv_log_dir(tmp_path):
    model = TinyGenerator()
    trainer = fit(model, CSVLogger(tmp_path), callbacks=[SampleLogger(every_n_steps=3, num_samples=5)])
    samples_dir = tmp_path / "lightning_logs" / "version_0" / "samples"
    assert sorted(p.name for p in samples_dir.iterdir()) == ["step_0000003", "step_0000006", "step_0000007"]
    files = sorted((samples_dir / "step_0000003").iterdir())
    assert [f.name for f in files] == [f"sample_{i:05d}.png" for i in range(5)]
    with Image.open(files[0]) as image:
        assert image.size == (4, 4)
    assert [c[0] for c in model.calls] == [5, 5, 5] and trainer.global_step == 7


def test_sampling_leaves_training_rng_and_modes_untouched(tmp_path):
    plain = TinyGenerator()
    fit(plain, CSVLogger(tmp_path / "a"))
    logged = TinyGenerator()
    fit(logged, CSVLogger(tmp_path / "b"), callbacks=[SampleLogger(every_n_steps=2, num_samples=3)])
    assert len(logged.calls) == 4
    for a, b in zip(plain.parameters(), logged.parameters()):
        assert torch.equal(a, b)  # identical training despite reseeding inside sample()
    assert all(not training and not grad for _, training, grad in logged.calls)  # eval mode, no gradients
    assert logged.net.training and not logged.frozen.training  # each submodule's own mode restored


def event_tags(log_dir):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(log_dir), size_guidance={"images": 0, "audio": 0, "tensors": 0})
    events.Reload()
    return events


@pytest.mark.parametrize("modality", ["image", "audio", "text"])
def test_tensorboard_receives_grid_audio_or_text(tmp_path, modality):
    logger = TensorBoardLogger(tmp_path)
    fit(TinyGenerator(modality), logger, steps=4, callbacks=[SampleLogger(every_n_steps=2, num_samples=4)])
    events = event_tags(logger.log_dir)
    if modality == "image":
        images = events.Images("samples")
        assert [e.step for e in images] == [2, 4]
        assert (images[0].width, images[0].height) == (2 * 6 + 2, 2 * 6 + 2)  # 2x2 grid of 4 px tiles
    elif modality == "audio":
        audio = events.Audio("samples")
        assert [e.step for e in audio] == [2, 4] and audio[0].sample_rate == 8000
        assert audio[0].length_frames == 4 * (48 + 2000)  # four clips, each followed by 0.25 s of silence
    else:
        texts = events.Tensors("samples/text_summary")
        assert [e.step for e in texts] == [2, 4]
        content = texts[0].tensor_proto.string_val[0].decode()
        assert content.count("---") == 3 and set(content) <= set("abc \n-")


def test_no_logger_means_no_sampling_and_nan_samples_are_skipped(tmp_path):
    model = TinyGenerator()
    fit(model, False, callbacks=[SampleLogger(every_n_steps=2)])
    assert model.calls == []
    broken = TinyGenerator(nan=True)
    with pytest.warns(UserWarning, match="samples at step 2 contain NaN/Inf; not logged"):
        fit(broken, CSVLogger(tmp_path), steps=2, callbacks=[SampleLogger(every_n_steps=2)])
    assert not (tmp_path / "lightning_logs" / "version_0" / "samples").exists()


def test_steps_that_jump_past_a_multiple_still_trigger_logging():
    callback = SampleLogger(every_n_steps=3)
    logged: list[int] = []
    callback.log_samples = lambda trainer, module: logged.append(trainer.global_step)  # type: ignore[method-assign]
    trainer = SimpleNamespace(global_step=0)
    callback.on_train_start(trainer, None)
    for step in (2, 4, 6, 8, 10):  # a two-optimiser GAN advances the global step by two per batch
        trainer.global_step = step
        callback.on_train_batch_end(trainer, None, None, None, 0)
    assert logged == [4, 6, 10]


def test_arguments_are_validated():
    from gen_framework.errors import DataError

    with pytest.raises(DataError, match="`every_n_steps` must be >= 1"):
        SampleLogger(every_n_steps=0)
