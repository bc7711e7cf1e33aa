"""Per-rank random streams for training, and the process's random states for exact resume.

What a training step draws (latents, reparameterisation noise, noise inputs, style-mixing cut-offs, dropout
masks) must differ between DDP ranks, or every rank computes the same random half of the work, yet stay a
pure function of where the step is so a resumed run draws what the uninterrupted one drew. So each training
batch gets its own seed, ``stream_seed(seed, rank, batch)``, and for the duration of the step torch's default
generators (the CPU one and the one of the module's accelerator) are seeded with it; on exit the states they
had before are put back. Code that draws from the default generators, ``nn.Dropout`` included, therefore needs
no generator argument, and nothing outside training steps (data order, validation) sees a different stream.

Seeded sampling (``GenerativeModule.sample(seed=...)``) passes its own ``torch.Generator`` and does not
depend on the rank.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from lightning_fabric.utilities.seed import _collect_rng_states, _set_rng_states

_MASK64 = (1 << 64) - 1


def _splitmix64(value: int) -> int:
    """A bijective 64-bit mixer (Steele et al., 2014): neighbouring inputs give unrelated outputs."""
    z = (value + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def stream_seed(seed: int, *keys: int) -> int:
    """The seed of the stream named by ``(seed, *keys)``, e.g. ``(seed, rank, batch)``: a non-negative int < 2**63."""
    value = _splitmix64(seed & _MASK64)
    for key in keys:
        value = _splitmix64(value ^ (key & _MASK64))
    return value >> 1


def base_seed() -> int:
    """The seed training streams derive from: ``seed_everything``'s (``PL_GLOBAL_SEED``), else a fresh random one."""
    given = os.environ.get("PL_GLOBAL_SEED")
    if given is not None:
        try:
            return int(given)
        except ValueError:
            pass
    return secrets.randbits(63)


@contextlib.contextmanager
def seeded_default_generators(seed: int, device: torch.device) -> Iterator[None]:
    """Within this context torch's default CPU generator, and ``device``'s when it is an accelerator, start
    from ``seed``; their previous states are restored on exit (also when the body raises)."""
    cpu_state = torch.get_rng_state()
    accelerator = _accelerator_generator(device)
    accelerator_state = accelerator.get_state() if accelerator is not None else None
    torch.default_generator.manual_seed(seed)
    if accelerator is not None:
        accelerator.manual_seed(seed)
    try:
        yield
    finally:
        torch.set_rng_state(cpu_state)
        if accelerator is not None:
            accelerator.set_state(accelerator_state)


def _accelerator_generator(device: torch.device) -> torch.Generator | None:
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        return torch.cuda.default_generators[index]
    if device.type == "mps":
        return torch.mps._get_default_mps_generator()
    return None


# ------------------------------------------------------------------ process random states


def capture_rng_state() -> dict[str, Any]:
    """The process's random states — torch (CPU and every CUDA device), numpy, Python — as Lightning collects
    them, in a form ``torch.load(weights_only=True)`` accepts (numpy's key array becomes a tensor)."""
    states = _collect_rng_states(include_cuda=True)
    kind, keys, pos, has_gauss, cached = states["numpy"]
    states["numpy"] = {"kind": kind, "keys": torch.from_numpy(keys.astype("int64")), "pos": int(pos),
                       "has_gauss": int(has_gauss), "cached": float(cached)}
    version, internal, gauss_next = states["python"]
    states["python"] = {"version": version, "state": list(internal), "gauss_next": gauss_next}
    return states


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`capture_rng_state` captured, with Lightning's helper.

    CUDA states are restored for the devices both runs have: a run resumed on fewer (or no) GPUs keeps the
    rest as they are. Checkpoints written before CUDA states were saved restore the CPU-side states only.
    """
    numpy_state = state["numpy"]
    python = state["python"]
    if isinstance(python, dict):
        python_state = (python["version"], tuple(python["state"]), python["gauss_next"])
    else:  # the earlier flat list: internal state, then version and gauss_next
        python_state = (python[-2], tuple(python[:-2]), python[-1])
    states: dict[str, Any] = {
        "torch": state["torch"],
        "numpy": (numpy_state["kind"], numpy_state["keys"].numpy().astype(np.uint32), numpy_state["pos"],
                  numpy_state["has_gauss"], numpy_state["cached"]),
        "python": python_state,
    }
    _set_rng_states(states)
    cuda_states = state.get("torch.cuda")
    if cuda_states and torch.cuda.is_available():
        for index, cuda_state in enumerate(cuda_states[: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


# ------------------------------------------------------------------ the module's collaborator


class TrainingRandomness:
    """A model's training randomness: the seed of its per-rank streams and the random state of a resumed run.

    Owned by :class:`~gen_framework.families.base.GenerativeModule`; saved in the checkpoint's ``gen_framework``
    entry as ``training_seed`` and ``rng``.
    """

    def __init__(self) -> None:
        #: Seed of the per-rank training streams; chosen when ``fit`` starts, or the resumed checkpoint's.
        self.seed: int | None = None
        self._pending_state: dict[str, Any] | None = None

    def choose_seed(self, broadcast: Any) -> None:
        """Take rank 0's :func:`base_seed` on every rank (``broadcast`` is the strategy's ``broadcast``)."""
        self.seed = int(broadcast(base_seed(), src=0))

    @contextlib.contextmanager
    def stream(self, rank: int, batch: int, device: torch.device) -> Iterator[None]:
        """Within this context the default generators draw the stream of ``(rank, batch)``."""
        if self.seed is None:  # a subclass's setup() did not call super(): no broadcast, but per rank
            self.seed = base_seed()
        with seeded_default_generators(stream_seed(self.seed, rank, batch), device):
            yield

    def state_dict(self) -> dict[str, Any]:
        """What a checkpoint keeps: the process's random states and the training seed."""
        return {"rng": capture_rng_state(), "training_seed": self.seed}

    def load(self, meta: dict[str, Any]) -> None:
        """Take a resumed run's seed and random states; the states are restored by :meth:`restore_pending`."""
        if meta.get("rng") is not None:
            self._pending_state = meta["rng"]
        if meta.get("training_seed") is not None:
            self.seed = int(meta["training_seed"])

    def restore_pending(self) -> None:
        """Restore the random states :meth:`load` took, once (called when training starts)."""
        if self._pending_state is not None:
            restore_rng_state(self._pending_state)
            self._pending_state = None
