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
        # name -> (ids of the averaged and live tensors, their groups): rebuilt when a tensor is replaced
        self._groups: dict[str, tuple[tuple[int, ...], tuple[_Pair, _Pair] | None]] = {}
        # name -> (live submodule, its average, every module of both): what the fingerprint walks
        self._walks: dict[str, tuple[nn.Module, nn.Module, list[nn.Module]]] = {}

    def set_decay(self, decay: float) -> None:
        """Fold later updates in with ``decay`` (``[0, 1)``)."""
        if decay != self.decay:
            for averaged in self.values():
                averaged.multi_avg_fn = ema_multi_avg_fn(decay)
            self.decay = decay

    def update_from(self, owner: nn.Module) -> None:
        """Fold ``owner``'s current weights of each averaged submodule into its average.

        What ``AveragedModel.update_parameters`` does with this EMA's ``multi_avg_fn`` (parameters and buffers, a
        copy at the first update, a lerp of floating-point tensors, a copy of integer ones, ``n_averaged`` + 1),
        without its per-tensor Python bookkeeping: that took 200 µs per update of DCGAN's generator, about 0.4%
        of its training step, against 60 µs here. Tensors on another device than their average go through
        ``update_parameters``.
        """
        for name, averaged in self.items():
            live = getattr(owner, name)
            walk = self._walks.get(name)
            if walk is None or walk[0] is not live or walk[1] is not averaged.module:
                walk = self._walks[name] = (live, averaged.module, [*averaged.module.modules(), *live.modules()])
            key = _fingerprint(walk[2])
            groups = self._groups.get(name)
            if groups is None or groups[0] != key:
                average = [*averaged.module.parameters(), *averaged.module.buffers()]
                current = [*live.parameters(), *live.buffers()]
                groups = self._groups[name] = (key, _tensor_groups(average, current))
            if groups[1] is None:  # another device or dtype than the average: AveragedModel's own path
                averaged.update_parameters(live)
                continue
            (avg_float, cur_float), (avg_count, cur_count) = groups[1]
            with torch.no_grad():
                if bool(averaged.n_averaged == 0):
                    torch._foreach_copy_(average, current)
                else:
                    if avg_float:
                        torch._foreach_lerp_(avg_float, cur_float, 1.0 - self.decay)
                    if avg_count:
                        torch._foreach_copy_(avg_count, cur_count)
                averaged.n_averaged.add_(1)


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


_Pair = tuple[list[Tensor], list[Tensor]]


def _fingerprint(modules: list[nn.Module]) -> tuple[int, ...]:
    """Identities of every tensor and child module the ``modules`` hold directly.

    It changes when any parameter, buffer or submodule of the averaged trees is replaced (a replaced child shows
    in its parent's entries), so the tensor groups are rebuilt exactly when the walk of ``parameters()`` and
    ``buffers()`` would give other tensors; reading three dicts per module costs a tenth of that walk (55 µs per
    update of DCGAN's generator, a fifth of a percent of its step).
    """
    return tuple(
        id(value)
        for module in modules
        for entries in (module._parameters, module._buffers, module._modules)
        for value in entries.values()
    )


def _tensor_groups(average: list[Tensor], current: list[Tensor]) -> tuple[_Pair, _Pair] | None:
    """(floating-point averages and their live tensors, integer ones likewise); ``None`` where a pair differs in
    device or dtype (then ``AveragedModel.update_parameters`` converts)."""
    if len(average) != len(current) or any(a.device != c.device or a.dtype != c.dtype for a, c in zip(average, current)):
        return None
    floating = [a.is_floating_point() or a.is_complex() for a in average]
    return (
        ([a for a, f in zip(average, floating) if f], [c for c, f in zip(current, floating) if f]),
        ([a for a, f in zip(average, floating) if not f], [c for c, f in zip(current, floating) if not f]),
    )


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
