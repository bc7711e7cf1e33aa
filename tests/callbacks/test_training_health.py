"""TrainingHealth: a NaN loss stops the run with the step, the loss and remedies (exit 2 through genfw), or
rolls back to a snapshot with lower learning rates, under automatic and manual optimisation."""

from __future__ import annotations

import math

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from torch.utils.data import DataLoader
from toys.data import ToyImages
from toys.models import NonFiniteGAN, NonFiniteVAE, ToyLM, ToyVAE

from gen_framework.callbacks.training_health import TrainingHealth, _all_finite
from gen_framework.persistence.checkpoint import read_checkpoint
from gen_framework.cli import main
from gen_framework.errors import ConfigError, TrainingError


class NonFiniteLM(ToyLM):
    """ToyLM whose logits are NaN at global step 3 (once); trained with a LambdaLR schedule."""

    def forward(self, tokens, condition=None):
        logits = super().forward(tokens, condition)
        return logits * float("nan") if self.trainer.training and self.global_step == 3 else logits


def fit(model: pl.LightningModule, health: TrainingHealth, steps: int = 8, trainer: pl.Trainer | None = None) -> pl.Trainer:
    trainer = trainer or pl.Trainer(max_steps=steps, callbacks=[health], **trainer_kwargs(limit_val_batches=0))
    if isinstance(model, ToyLM):
        tokens = torch.arange(17 * 64).remainder(8).view(64, 17)
        trainer.fit(model, DataLoader(tokens, batch_size=8))
    else:
        trainer.fit(model, datamodule=ToyImages(count=64, batch_size=8))
    return trainer


def finite(model: torch.nn.Module) -> bool:
    return all(torch.isfinite(v).all() for v in model.state_dict().values() if v.is_floating_point())


def test_genfw_stops_at_the_nan_step_with_one_line_and_exit_2(tmp_path, capsys):
    root = tmp_path / "runs"
    code = main([
        "fit", "--model", "toys.models.NonFiniteVAE", "--model.init_args.nan_at", "5", "--data", "toys.data.ToyImages",
        "--trainer.max_steps", "20", "--trainer.default_root_dir", str(root),
        "--trainer.logger.init_args.save_dir", str(root), "--trainer.enable_progress_bar", "false",
        "--trainer.limit_val_batches", "0", "--checkpoint.every_n_train_steps", "2",
    ])
    err = capsys.readouterr().err
    assert code == 2
    message = [line for line in err.splitlines() if line.startswith("genfw: error:")]
    assert len(message) == 1 and message[0].startswith("genfw: error: training stopped"), err
    assert "train/loss became nan at global step 5" in message[0]
    assert "--model.init_args.lr" in message[0] and "--trainer.gradient_clip_val" in message[0]
    assert "Traceback" not in err
    # The broken step never reached a checkpoint: last.ckpt is the step-4 one, finite.
    checkpoint = read_checkpoint(next(root.rglob("last.ckpt")))
    assert checkpoint["global_step"] == 4
    assert all(torch.isfinite(v).all() for v in checkpoint["state_dict"].values() if v.is_floating_point())


def test_genfw_runs_through_a_nan_when_the_check_is_off(tmp_path):
    root = tmp_path / "runs"
    assert main([
        "fit", "--model", "toys.models.NonFiniteVAE", "--model.init_args.nan_at", "1", "--data", "toys.data.ToyImages",
        "--trainer.max_steps", "3", "--trainer.default_root_dir", str(root), "--trainer.logger", "false",
        "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "0",
        "--training_health.on_nonfinite", "off",
    ]) == 0


def test_manual_optimisation_gan_names_the_discriminator_loss_and_step():
    with pytest.raises(TrainingError, match=r"train/loss_d became nan at global step 3 .*lr_g.*grad_clip_d"):
        fit(NonFiniteGAN(nan_at=3), TrainingHealth())


@pytest.mark.parametrize("make", [lambda: NonFiniteVAE(nan_at=3, lr=1e-3), lambda: NonFiniteGAN(nan_at=3)],
                         ids=["vae-automatic", "gan-manual"])
def test_rollback_recovers_and_finishes_with_halved_learning_rates(make):
    model = make()
    health = TrainingHealth(on_nonfinite="rollback", snapshot_every_n_steps=2)
    with pytest.warns(UserWarning, match="became nan at global step 3: restored .* of step 2"):
        trainer = fit(model, health, steps=8)
    assert trainer.global_step == 8 and health.rollbacks == 1
    assert finite(model)
    expected = [model.lr_g, model.lr_d] if isinstance(model, NonFiniteGAN) else [model.lr]
    assert [opt.param_groups[0]["lr"] for opt in trainer.optimizers] == pytest.approx([lr / 2 for lr in expected])


def test_rollback_lowers_a_schedulers_base_rates_too():
    model = NonFiniteLM(vocab_size=8, lr=1e-2, warmup_steps=100)
    health = TrainingHealth(on_nonfinite="rollback", snapshot_every_n_steps=1)
    with pytest.warns(UserWarning, match="rollback 1 of at most 3"):
        trainer = fit(model, health, steps=6)
    assert finite(model)
    (scheduler,) = [config.scheduler for config in trainer.lr_scheduler_configs]
    assert scheduler.base_lrs == pytest.approx([5e-3, 5e-3])
    # Warm-up goes on from the lowered base rate.
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(5e-3 * model.lr_factor(scheduler.last_epoch))


def test_rollbacks_compound_and_stop_after_max_rollbacks():
    model = NonFiniteVAE(nan_at=3, nan_count=100, lr=1e-3)
    health = TrainingHealth(on_nonfinite="rollback", max_rollbacks=2, snapshot_every_n_steps=1)
    trainer = pl.Trainer(max_steps=10, callbacks=[health], **trainer_kwargs(limit_val_batches=0))
    with pytest.warns(UserWarning), pytest.raises(TrainingError, match=r"stopped after 2 rollbacks: .* global step 5"):
        fit(model, health, trainer=trainer)
    assert health.rollbacks == 2
    assert trainer.optimizers[0].param_groups[0]["lr"] == pytest.approx(1e-3 / 4)


def test_host_values_are_checked_without_tensors_and_infinity_counts():
    trainer = pl.Trainer(**trainer_kwargs())
    assert _all_finite([1.0, 2.0], trainer)
    assert not _all_finite([1.0, math.inf], trainer)
    assert not _all_finite([torch.tensor(1.0), torch.tensor(-math.inf)], trainer)


def test_a_healthy_run_in_stop_mode_keeps_no_snapshot():
    health = TrainingHealth()
    fit(ToyVAE(), health, steps=3)
    assert health._snapshot is None and health.rollbacks == 0


def test_invalid_options_are_config_errors():
    with pytest.raises(ConfigError, match="on_nonfinite"):
        TrainingHealth(on_nonfinite="warn")
    with pytest.raises(ConfigError, match="lr_factor"):
        TrainingHealth(lr_factor=1.5)
