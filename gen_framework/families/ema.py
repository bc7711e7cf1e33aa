"""The exponential moving average (EMA) of a model's chosen submodules, used for sampling.

:class:`ModelEMA` is the ``ema`` submodule of a :class:`~gen_framework.families.base.GenerativeModule`: one
``torch.optim.swa_utils.AveragedModel`` per averaged submodule, keyed by the submodule's name, so checkpoints
hold the averages under ``ema.<name>.module.*`` and ``ema.<name>.n_averaged``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel

from gen_framework.errors import ConfigError


class ModelEMA(nn.ModuleDict):
    """EMA copies of the submodules ``names`` of ``owner`` with ``decay``.

    Args:
        owner: The model whose submodules are averaged (not stored: the EMA is one of its submodules).
        names: Attribute names of the submodules to average.
        decay: The decay in ``(0, 1)``; :meth:`set_decay` changes it later (warm-up schedules).
    """

    def __init__(self, owner: nn.Module, names: Iterable[str], decay: float) -> None:
        super().__init__()
        for name in names:
            module = getattr(owner, name, None)
            if not isinstance(module, nn.Module):
                raise ConfigError(f"ema_module_names() names {name!r}, which is not a submodule of {type(owner).__name__}")
            copy = AveragedModel(module, multi_avg_fn=ema_multi_avg_fn(decay), use_buffers=True)
            copy.requires_grad_(False)
            self[name] = copy
        #: The decay the averages currently fold in with.
        self.decay = decay

    def set_decay(self, decay: float) -> None:
        """Fold later updates in with ``decay`` (``[0, 1)``)."""
        if decay != self.decay:
            for averaged in self.values():
                averaged.multi_avg_fn = ema_multi_avg_fn(decay)
            self.decay = decay

    def update_from(self, owner: nn.Module) -> None:
        """Fold ``owner``'s current weights of each averaged submodule into its average."""
        for name, averaged in self.items():
            averaged.update_parameters(getattr(owner, name))

    @contextlib.contextmanager
    def swapped_in(self, owner: nn.Module) -> Iterator[None]:
        """Within this context ``owner``'s averaged submodules carry their EMA weights (once any were averaged)."""
        if not any(int(a.n_averaged) > 0 for a in self.values()):
            yield
            return
        backups = {}
        for name, averaged in self.items():
            live = getattr(owner, name)
            backups[name] = {k: v.detach().clone() for k, v in live.state_dict().items()}
            live.load_state_dict(averaged.module.state_dict())
        try:
            yield
        finally:
            for name, state in backups.items():
                getattr(owner, name).load_state_dict(state)


def ema_multi_avg_fn(decay: float) -> Callable[[list[Tensor], list[Tensor], Tensor], None]:
    """``AveragedModel``'s ``multi_avg_fn`` for an EMA with ``decay``: one fused lerp per dtype group.

    Like ``torch.optim.swa_utils.get_ema_multi_avg_fn``, except that integer buffers (BatchNorm's
    ``num_batches_tracked``) are copied: averaging a count and truncating it back to an integer gives a
    number that means nothing, and costs a Python loop of small ops on every update.
    """

    # No no_grad(): AveragedModel hands over detached tensors, and the decorator costs more than the update.
    def update(averaged: list[Tensor], current: list[Tensor], num_averaged: Tensor) -> None:
        if averaged[0].is_floating_point() or averaged[0].is_complex():
            torch._foreach_lerp_(averaged, current, 1.0 - decay)
        else:
            torch._foreach_copy_(averaged, current)

    return update
