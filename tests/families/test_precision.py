"""Every family trains a few steps under bf16-mixed on the CPU: finite losses, and every optimiser's trainable
parameters move (not just buffers: BatchNorm statistics change in any forward pass, step or no step)."""

import math

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from torch.utils.data import DataLoader, TensorDataset
from toys.models import ToyImageGAN, ToyLM, ToyVAE


class StepLosses(pl.Callback):
    """The family bases' ``step_losses`` after every training batch."""

    def __init__(self):
        self.losses = []

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.losses.append({key: float(value) for key, value in pl_module.step_losses.items()})


@pytest.mark.parametrize("family", ["adversarial", "variational", "autoregressive"])
def test_bf16_mixed_trains_every_family(family):
    torch.manual_seed(0)
    if family == "autoregressive":
        model = ToyLM(vocab_size=8)
        data = DataLoader((torch.arange(17 * 16) % 8).view(16, 17), batch_size=4)
    else:
        model = ToyImageGAN() if family == "adversarial" else ToyVAE()
        data = DataLoader(TensorDataset(torch.rand(16, 1, 8, 8) * 2 - 1), batch_size=4)
    before = {name: p.detach().clone() for name, p in model.named_parameters() if p.requires_grad}
    names = {id(p): name for name, p in model.named_parameters()}
    recorder = StepLosses()
    trainer = pl.Trainer(max_steps=3, precision="bf16-mixed", callbacks=[recorder], **trainer_kwargs())
    trainer.fit(model, data)
    assert trainer.global_step == 3
    assert len(recorder.losses) == 3 and all(math.isfinite(v) for step in recorder.losses for v in step.values())
    after = dict(model.named_parameters())
    assert len(trainer.optimizers) == (2 if family == "adversarial" else 1)
    for optimizer in trainer.optimizers:
        owned = [names[id(p)] for group in optimizer.param_groups for p in group["params"]]
        assert any(not torch.equal(before[n], after[n].detach()) for n in owned), f"{owned[0]}... did not move"
    assert all(torch.isfinite(p).all() for p in after.values())
