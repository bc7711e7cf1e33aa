"""Inherited no-op batch hooks leave Lightning's dispatch; the hooks a callback overrides still run."""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from torch.utils.data import DataLoader
from toys.models import ToyLM

from gen_framework.callbacks.hook_dispatch import BATCH_HOOKS, skip_inherited_batch_hooks

REPO = Path(__file__).resolve().parents[2]


class Counting(pl.Callback):
    def __init__(self) -> None:
        self.batch_ends = 0
        self.after_backward = 0

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self.batch_ends += 1

    def on_after_backward(self, trainer, pl_module) -> None:
        self.after_backward += 1


def test_overridden_hooks_run_and_inherited_ones_are_not_dispatched():
    callback = skip_inherited_batch_hooks(Counting())
    assert callable(callback.on_train_batch_end) and callable(callback.on_after_backward)
    hidden = [name for name in BATCH_HOOKS if not callable(getattr(callback, name))]
    assert set(hidden) == set(BATCH_HOOKS) - {"on_train_batch_end", "on_after_backward"}
    assert callable(callback.on_train_start)  # not a batch hook: untouched
    trainer = pl.Trainer(max_steps=5, callbacks=[callback], **trainer_kwargs(limit_val_batches=0))
    tokens = torch.arange(17 * 64).remainder(8).view(64, 17)
    trainer.fit(ToyLM(vocab_size=8, context=16), DataLoader(tokens, batch_size=8))
    assert callback.batch_ends == 5 and callback.after_backward == 5


def test_the_cli_trainer_hides_inherited_hooks_of_every_callback(tmp_path):
    from gen_framework.cli import run_lightning_cli

    cli = run_lightning_cli([
        "fit", "--config", str(REPO / "configs" / "gpt_mini" / "pydocs.yaml"), "--trainer.max_steps", "1",
        "--model.init_args.n_layer", "1", "--model.init_args.n_head", "1", "--model.init_args.n_embd", "8",
        "--trainer.limit_val_batches", "0", "--trainer.num_sanity_val_steps", "0",
        "--trainer.enable_progress_bar", "false", "--trainer.default_root_dir", str(tmp_path),
        "--trainer.logger.init_args.save_dir", str(tmp_path),
    ])
    checkpoint = next(c for c in cli.trainer.callbacks if isinstance(c, pl.callbacks.ModelCheckpoint))
    assert checkpoint.on_before_backward is None  # inherited: hidden
    assert callable(checkpoint.on_train_batch_end)  # overridden: saves every n steps from it
    for callback in cli.trainer.callbacks:
        for name in BATCH_HOOKS:
            inherited = getattr(type(callback), name) is getattr(pl.Callback, name)
            assert callable(getattr(callback, name)) is not inherited, (type(callback).__name__, name)
