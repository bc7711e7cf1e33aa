"""CPU time spent in the networks' own work, so that two training loops can be compared without it.

On a shared machine the speed of the same convolution drifts by 10-30% from one minute to the next, which
buries a few percent of loop overhead. Two loops over the same networks, optimisers and batches do the same
network work; what differs is everything around it. :class:`ComputeClock` measures the network work (forward
passes of the watched modules, backward passes, Adam's arithmetic) so that a benchmark can report each loop's
step as *compute* + *other* and compare the *other* parts, which drift far less.

The clock patches two module-level functions for the duration of a ``with`` block: ``torch.autograd.backward``
(every ``loss.backward()`` goes through it) and ``torch.optim.adam.adam`` (the functional update that
``Adam.step`` calls after its bookkeeping). Forward passes are timed by hooks on the watched modules. Only the
outermost timed call counts, so nothing is counted twice.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

# torch.optim deletes its submodules' names from its namespace; the module itself is still importable.
ADAM_MODULE = importlib.import_module("torch.optim.adam")


class ComputeClock:
    """Accumulates process CPU seconds spent inside forward, backward and optimiser arithmetic."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._depth = 0
        self._entered = 0.0
        self._handles: list[Any] = []

    def _enter(self) -> None:
        if self._depth == 0:
            self._entered = time.process_time()
        self._depth += 1

    def _exit(self) -> None:
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.process_time() - self._entered

    def _timed(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            self._enter()
            try:
                return fn(*args, **kwargs)
            finally:
                self._exit()

        return timed

    def watch(self, *modules: nn.Module) -> None:
        """Count the forward passes of ``modules`` (the networks; not their submodules one by one)."""
        for module in modules:
            self._handles.append(module.register_forward_pre_hook(lambda *_: self._enter()))
            self._handles.append(module.register_forward_hook(lambda *_: self._exit(), always_call=True))

    @contextmanager
    def installed(self) -> Iterator[ComputeClock]:
        """Time backward passes and Adam updates inside the block; forward hooks are removed on exit."""
        backward, adam = torch.autograd.backward, ADAM_MODULE.adam
        torch.autograd.backward = self._timed(backward)
        ADAM_MODULE.adam = self._timed(adam)
        try:
            yield self
        finally:
            torch.autograd.backward, ADAM_MODULE.adam = backward, adam
            for handle in self._handles:
                handle.remove()
            self._handles.clear()


def matched_overhead_percent(ratio: float, plain_ratio: float) -> float:
    """Overhead of a loop over the plain one, in percent, from each one's other/compute time ratio.

    A loop's step is ``compute * (1 + r)``, and both loops do the same compute.
    """
    return 100 * ((1 + ratio) / (1 + plain_ratio) - 1)
