"""`TrainingHealth`: a training loss that becomes NaN or infinite stops the run, or rolls it back.

After every training batch the callback checks the step's losses: ``pl_module.step_losses`` (the family
bases set it: ``train/loss``, or ``train/loss_d`` and ``train/loss_g`` for GANs), otherwise the loss returned
by ``training_step``. The check costs one device-to-host transfer of a single flag per step (plus one
all-reduce of that flag under DDP, so that every rank takes the same decision); losses that are already
Python numbers cost nothing.

On a non-finite loss:

- ``on_nonfinite="stop"`` (default) raises :class:`~gen_framework.errors.TrainingError` naming the step and
  the loss, with remedies; ``genfw`` prints it on one line and exits 2. The callback runs before
  ``ModelCheckpoint``, so the broken weights never reach ``last.ckpt``.
- ``on_nonfinite="rollback"`` restores the model (EMA included) and the optimisers from an in-memory snapshot,
  multiplies every learning rate by ``lr_factor`` and continues; after ``max_rollbacks`` rollbacks it stops
  as above. Snapshots are copies on the CPU taken every ``snapshot_every_n_steps`` healthy steps (and when
  training starts): memory for one copy of the weights and optimiser state, no per-step cost. The steps
  since the snapshot are not repeated: ``global_step`` and the data loader move on.
- ``on_nonfinite="off"`` checks nothing.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Literal

import pytorch_lightning as pl
import torch
from pytorch_lightning.utilities import rank_zero_warn
from torch import Tensor

from gen_framework.errors import ConfigError, TrainingError

NonFiniteAction = Literal["stop", "rollback", "off"]


class TrainingHealth(pl.Callback):
    """Stop, or roll back with a lower learning rate, when a training loss becomes NaN or infinite.

    Args:
        on_nonfinite: ``stop`` raises a ``TrainingError``; ``rollback`` restores the latest snapshot, lowers
            the learning rates and continues; ``off`` disables the check.
        max_rollbacks: Rollbacks allowed before stopping (the count is saved in checkpoints and goes on when resumed).
        lr_factor: Every learning rate (and the base rates of LR schedulers) is multiplied by this at each
            rollback.
        snapshot_every_n_steps: With ``rollback``, take a snapshot after every this many healthy steps.
    """

    def __init__(
        self,
        on_nonfinite: NonFiniteAction = "stop",
        max_rollbacks: int = 3,
        lr_factor: float = 0.5,
        snapshot_every_n_steps: int = 100,
    ) -> None:
        if on_nonfinite not in ("stop", "rollback", "off"):
            raise ConfigError(f"on_nonfinite must be stop, rollback or off; got {on_nonfinite!r}")
        if max_rollbacks < 0 or not 0.0 < lr_factor < 1.0 or snapshot_every_n_steps < 1:
            raise ConfigError(
                "need max_rollbacks >= 0, 0 < lr_factor < 1 and snapshot_every_n_steps >= 1; got "
                f"max_rollbacks={max_rollbacks}, lr_factor={lr_factor}, snapshot_every_n_steps={snapshot_every_n_steps}"
            )
        self.on_nonfinite = on_nonfinite
        self.max_rollbacks = max_rollbacks
        self.lr_factor = lr_factor
        self.snapshot_every_n_steps = snapshot_every_n_steps
        self.rollbacks = 0
        self._snapshot: dict[str, Any] | None = None
        self._step = 0
        self._warned_no_losses = False

    # ------------------------------------------------------------------ hooks

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self.on_nonfinite == "rollback":
            self._take_snapshot(trainer, pl_module)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, batch_idx: int) -> None:
        # The step whose losses are checked afterwards; global_step has moved on by then.
        self._step = trainer.global_step

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.on_nonfinite == "off":
            return
        losses = _step_losses(pl_module, outputs)
        if not losses:
            self._warn_no_losses(pl_module)
            return
        if _all_finite(losses.values(), trainer):
            if self.on_nonfinite == "rollback" and self._snapshot_due(trainer):
                self._take_snapshot(trainer, pl_module)
            return
        key, value = _first_nonfinite(losses)
        if self.on_nonfinite == "rollback" and self.rollbacks < self.max_rollbacks and self._snapshot is not None:
            self._roll_back(trainer, pl_module, key, value)
            return
        raise TrainingError(self._message(trainer, pl_module, key, value, batch_idx))

    def state_dict(self) -> dict[str, Any]:
        return {"rollbacks": self.rollbacks}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.rollbacks = int(state_dict.get("rollbacks", 0))

    # --------------------------------------------------------------- rollback

    def _snapshot_due(self, trainer: pl.Trainer) -> bool:
        return self._snapshot is None or trainer.global_step - self._snapshot["step"] >= self.snapshot_every_n_steps

    def _take_snapshot(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._snapshot = {
            "step": trainer.global_step,
            "model": _to_cpu(pl_module.state_dict()),
            "optimizers": [_to_cpu(optimizer.state_dict()) for optimizer in trainer.optimizers],
        }

    def _roll_back(self, trainer: pl.Trainer, pl_module: pl.LightningModule, key: str, value: float) -> None:
        assert self._snapshot is not None
        self.rollbacks += 1
        pl_module.load_state_dict(self._snapshot["model"])
        for optimizer, state in zip(trainer.optimizers, self._snapshot["optimizers"]):
            optimizer.load_state_dict(state)
        for optimizer in trainer.optimizers:
            for group in optimizer.param_groups:
                group["lr"] *= self.lr_factor
                if "initial_lr" in group:
                    group["initial_lr"] *= self.lr_factor
        for config in trainer.lr_scheduler_configs:
            base_lrs = getattr(config.scheduler, "base_lrs", None)
            if base_lrs is not None:
                config.scheduler.base_lrs = [lr * self.lr_factor for lr in base_lrs]
        rank_zero_warn(
            f"{key} became {value} at global step {self._step}: restored the weights and optimiser state of step "
            f"{self._snapshot['step']} and multiplied the learning rates by {self.lr_factor} "
            f"(rollback {self.rollbacks} of at most {self.max_rollbacks})"
        )
        # The next rollback starts from here, so learning-rate reductions compound.
        restored_step = self._snapshot["step"]
        self._take_snapshot(trainer, pl_module)
        self._snapshot["step"] = restored_step

    # ---------------------------------------------------------------- helpers

    def _message(self, trainer: pl.Trainer, pl_module: pl.LightningModule, key: str, value: float, batch_idx: int) -> str:
        hparams = dict(getattr(pl_module, "hparams", {}) or {})
        lr_options = [k for k in hparams if k == "lr" or k.startswith("lr_")]
        clip_options = [k for k in hparams if k.startswith("grad_clip")]
        remedies = []
        if lr_options:
            remedies.append("a lower learning rate (" + ", ".join(f"--model.init_args.{k}" for k in lr_options) + ")")
        else:
            remedies.append("a lower learning rate")
        if clip_options:
            remedies.append("gradient clipping (" + ", ".join(f"--model.init_args.{k}" for k in clip_options) + ")")
        elif pl_module.automatic_optimization:
            remedies.append("gradient clipping (--trainer.gradient_clip_val 1.0)")
        precision = str(trainer.precision)
        if precision.startswith(("16", "bf16")):
            remedies.append(f"full precision (--trainer.precision 32-true instead of {precision})")
        if self.on_nonfinite == "rollback":
            remedies.append("more rollbacks (--training_health.max_rollbacks)")
        else:
            remedies.append("--training_health.on_nonfinite rollback to go on from a healthy snapshot at a lower rate")
        after = f" after {self.rollbacks} rollbacks" if self.rollbacks else ""
        return (
            f"training stopped{after}: {key} became {value} at global step {self._step} "
            f"(epoch {trainer.current_epoch}, batch {batch_idx}); checkpoints written so far hold healthy weights. "
            f"Try {', '.join(remedies[:-1])}, or {remedies[-1]}"
        )

    def _warn_no_losses(self, pl_module: pl.LightningModule) -> None:
        if not self._warned_no_losses:
            self._warned_no_losses = True
            rank_zero_warn(
                f"TrainingHealth: {type(pl_module).__name__} exposes no losses (no step_losses, training_step returns "
                "no loss); non-finite losses will not be detected"
            )


def _step_losses(pl_module: pl.LightningModule, outputs: Any) -> Mapping[str, Any]:
    """The losses to check: the module's ``step_losses``, else the loss ``training_step`` returned."""
    losses = getattr(pl_module, "step_losses", None)
    if losses:
        return losses
    if isinstance(outputs, Tensor):
        return {"loss": outputs}
    if isinstance(outputs, Mapping) and "loss" in outputs:
        return {"loss": outputs["loss"]}
    return {}


def _all_finite(values: Any, trainer: pl.Trainer) -> bool:
    """True when every value is finite, on every rank; at most one host transfer and one all-reduce."""
    values = list(values)
    tensors = [v.detach() for v in values if isinstance(v, Tensor)]
    host_finite = all(math.isfinite(float(v)) for v in values if not isinstance(v, Tensor))
    if trainer.world_size > 1:
        device = tensors[0].device if tensors else trainer.strategy.root_device
        bad = torch.tensor(0.0 if host_finite else 1.0, device=device)
        if tensors:
            bad = bad + (~torch.isfinite(torch.cat([t.reshape(-1).float() for t in tensors]))).any().float()
        return float(trainer.strategy.reduce(bad, reduce_op="sum")) == 0.0
    if not host_finite:
        return False
    if all(t.device.type == "cpu" and t.numel() == 1 for t in tensors):
        # Reading a few CPU scalars costs less than building and reducing a tensor of them (every step).
        return all(math.isfinite(t.item()) for t in tensors)
    return bool(torch.isfinite(torch.cat([t.reshape(-1).float() for t in tensors])).all())


def _first_nonfinite(losses: Mapping[str, Any]) -> tuple[str, float]:
    """The first key whose value is NaN or infinite (another rank's when all of these are finite)."""
    for key, value in losses.items():
        flat = value.detach().float().reshape(-1) if isinstance(value, Tensor) else torch.tensor([float(value)])
        bad = flat[~torch.isfinite(flat)]
        if bad.numel():
            return key, float(bad[0])
    return f"{next(iter(losses))} (on another process)", math.nan


def _to_cpu(obj: Any) -> Any:
    """A copy of a state dict on the CPU: tensors cloned, containers rebuilt, other values shared."""
    if isinstance(obj, Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {key: _to_cpu(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return type(obj)(_to_cpu(value) for value in obj)
    return obj
