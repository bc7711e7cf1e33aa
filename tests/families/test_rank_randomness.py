"""Plain DDP for every family, and per-rank training randomness: every rank draws its own latents, noise and
dropout masks, from (seed, rank, batch), and all ranks end with identical weights.

The multi-process test trains a user GAN (with BatchNorm and an EMA), VAE and autoregressive model
(subclassed as the docs say) in one 2-process launch; the rest runs in this process.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from toys.models import ToyImageGAN, ToyVAE
from torch.utils.data import DataLoader, TensorDataset

from gen_framework.families._randomness import (
    capture_rng_state,
    restore_rng_state,
    seeded_default_generators,
    stream_seed,
)
from gen_framework.registry import FAMILIES

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "ddp_rank_randomness.py"
STEPS = 3


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp_rank_randomness")
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), "--steps", str(STEPS)],
        capture_output=True, text=True, timeout=420, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return {family: [torch.load(out / family / f"rank{r}.pt", weights_only=True) for r in (0, 1)] for family in FAMILIES}


@pytest.mark.distributed
@pytest.mark.parametrize("family", FAMILIES)
def test_ranks_draw_different_training_randomness_and_end_identical(ddp_runs, family):
    rank0, rank1 = ddp_runs[family]
    assert rank0["global_step"] == rank1["global_step"] == STEPS, "max_steps=N must mean N training steps"
    first0, first1 = rank0["first_draw"], rank1["first_draw"]
    assert first0 is not None and first0.shape == first1.shape
    if first0.dtype == torch.bool:  # dropout masks
        assert not torch.equal(first0, first1), "both ranks drew the same dropout mask in their first training step"
    else:  # the VAE's noise is recovered from z, so equal noise would be equal up to rounding
        assert not torch.allclose(first0, first1, atol=1e-3), "both ranks drew the same latents/noise in step 1"
    assert rank0["training_seed"] == rank1["training_seed"] == 0, "the streams derive from seed_everything's seed"
    differing = [k for k in rank0["state"] if not torch.equal(rank0["state"][k], rank1["state"][k])]
    assert not differing, f"parameters differ between ranks after {STEPS} steps: {differing[:5]}"
    assert torch.equal(rank0["sample"], rank1["sample"]), "sample(seed=...) must not depend on the rank"


# ------------------------------------------------------------------ in-process


def images(count: int = 32) -> DataLoader:
    data = torch.rand(count, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    return DataLoader(TensorDataset(data), batch_size=8)


class LatentLog(ToyImageGAN):
    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.latents: list[torch.Tensor] = []

    def sample_latent(self, num, *, generator=None):
        latent = super().sample_latent(num, generator=generator)
        if self.training:
            self.latents.append(latent.detach().clone())
        return latent


def test_training_latents_are_a_function_of_seed_rank_and_batch():
    pl.seed_everything(5, verbose=False)
    model = LatentLog()
    pl.Trainer(max_steps=3, **trainer_kwargs()).fit(model, images())
    assert model.training_seed == 5
    # per batch: the discriminator's latents, then the generator's, from stream_seed(seed, rank 0, batch)
    for batch in range(3):
        stream = torch.Generator().manual_seed(stream_seed(5, 0, batch))
        expected_d = torch.randn(8, model.latent_dim, generator=stream)
        expected_g = torch.randn(8, model.latent_dim, generator=stream)
        assert torch.equal(model.latents[2 * batch], expected_d)
        assert torch.equal(model.latents[2 * batch + 1], expected_g)


def test_training_steps_leave_the_global_generator_alone():
    pl.seed_everything(0, verbose=False)
    model = ToyVAE()
    state = torch.get_rng_state()
    with seeded_default_generators(stream_seed(1, 0, 0), model.device):
        torch.randn(10)
    assert torch.equal(torch.get_rng_state(), state)


def test_stream_seeds_differ_by_rank_and_batch_and_fit_in_63_bits():
    seeds = {stream_seed(0, rank, batch) for rank in range(8) for batch in range(1000)}
    assert len(seeds) == 8000
    assert all(0 <= s < 2**63 for s in seeds)
    assert stream_seed(0, 1, 2) == stream_seed(0, 1, 2) != stream_seed(1, 1, 2)


def test_a_resumed_run_keeps_the_training_seed_of_the_checkpoint(tmp_path):
    from pytorch_lightning.callbacks import ModelCheckpoint

    pl.seed_everything(3, verbose=False)
    first = ToyVAE()
    saver = ModelCheckpoint(dirpath=tmp_path, every_n_train_steps=2, save_top_k=-1, filename="{step}")
    pl.Trainer(max_steps=2, callbacks=[saver], **trainer_kwargs(enable_checkpointing=True)).fit(first, images())
    pl.seed_everything(99, verbose=False)
    resumed = ToyVAE()
    pl.Trainer(max_steps=3, **trainer_kwargs()).fit(resumed, images(), ckpt_path=tmp_path / "step=2.ckpt",
                                                    weights_only=True)
    assert resumed.training_seed == 3


def test_rng_state_round_trips_through_a_weights_only_checkpoint(tmp_path):
    import random

    import numpy as np

    state = capture_rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (torch.rand(3), np.random.rand(3), random.random())
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    assert torch.equal(torch.rand(3), expected[0])
    assert np.array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: checks that CUDA generators resume")
def test_cuda_generators_are_saved_and_restored(tmp_path):
    torch.cuda.manual_seed_all(11)
    state = capture_rng_state()
    assert len(state["torch.cuda"]) == torch.cuda.device_count()
    torch.save(state, tmp_path / "rng.pt")
    expected = [torch.rand(4, device=f"cuda:{i}").cpu() for i in range(torch.cuda.device_count())]
    restore_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    for index, values in enumerate(expected):
        assert torch.equal(torch.rand(4, device=f"cuda:{index}").cpu(), values)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device: checks the per-step CUDA stream")
def test_training_draws_on_cuda_come_from_the_rank_stream_and_leave_the_cuda_generator_alone():
    device = torch.device("cuda", torch.cuda.current_device())
    torch.cuda.manual_seed(0)
    before = torch.cuda.get_rng_state(device)
    with seeded_default_generators(stream_seed(0, 1, 4), device):
        drawn = torch.randn(5, device=device)
    assert torch.equal(torch.cuda.get_rng_state(device), before)
    expected = torch.randn(5, device=device, generator=torch.Generator(device=device).manual_seed(stream_seed(0, 1, 4)))
    assert torch.equal(drawn, expected)
