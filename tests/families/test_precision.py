"""Every family trains a few steps under bf16-mixed on the CPU (correctness only: this CPU has no bf16 units)."""

import pytorch_lightning as pl
import pytest
import torch
from conftest import trainer_kwargs
from torch.utils.data import DataLoader, TensorDataset
from toys.models import ToyImageGAN, ToyLM, ToyVAE


@pytest.mark.parametrize("family", ["adversarial", "variational", "autoregressive"])
def test_bf16_mixed_trains_every_family(family):
    torch.manual_seed(0)
    if family == "autoregressive":
        model = ToyLM(vocab_size=8)
        data = DataLoader((torch.arange(17 * 16) % 8).view(16, 17), batch_size=4)
    else:
        model = ToyImageGAN() if family == "adversarial" else ToyVAE()
        data = DataLoader(TensorDataset(torch.rand(16, 1, 8, 8) * 2 - 1), batch_size=4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = pl.Trainer(max_steps=3, precision="bf16-mixed", **trainer_kwargs())
    trainer.fit(model, data)
    assert trainer.global_step == 3
    after = model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert all(torch.isfinite(v).all() for v in after.values() if v.is_floating_point())
