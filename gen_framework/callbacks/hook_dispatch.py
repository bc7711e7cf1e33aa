"""Batch hooks that a callback inherits as no-ops are taken out of Lightning's per-batch dispatch.

Lightning calls every batch hook of every callback, inside a profiler context, whether or not the callback
overrides it: about 1.6 µs per callback and hook on a 2-core EPYC, and a training step dispatches six such hooks
(``benchmarks/dcgan_vae.py`` counts what that costs a step). The dispatch skips an attribute that is not
callable (``pytorch_lightning.trainer.call._call_callback_hooks`` checks ``callable(fn)``), so setting the
instance attribute of an inherited no-op hook to ``None`` leaves an attribute lookup. Hooks the callback's class
overrides, and every hook that is not per batch, are untouched.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

from pytorch_lightning import Callback

BATCH_HOOKS = (
    "on_train_batch_start",
    "on_train_batch_end",
    "on_before_backward",
    "on_after_backward",
    "on_before_optimizer_step",
    "on_before_zero_grad",
    "on_validation_batch_start",
    "on_validation_batch_end",
    "on_test_batch_start",
    "on_test_batch_end",
    "on_predict_batch_start",
    "on_predict_batch_end",
)

C = TypeVar("C", bound=Callback)


def skip_inherited_batch_hooks(callback: C) -> C:
    """Hide ``callback``'s batch hooks that its class inherits unchanged from ``Callback``; returns ``callback``."""
    for name in BATCH_HOOKS:
        if getattr(type(callback), name, None) is getattr(Callback, name):
            setattr(callback, name, None)
    return callback


def skip_all_inherited_batch_hooks(callbacks: Iterable[Callback]) -> None:
    """:func:`skip_inherited_batch_hooks` on each of ``callbacks``."""
    for callback in callbacks:
        skip_inherited_batch_hooks(callback)
