"""``${fast_precision:}``: the fastest training precision this machine runs natively, for a config's ``trainer.precision``.

bf16 matmuls run several times faster than fp32 where the hardware has bf16 units (measured here, AMD EPYC with
``avx512_bf16``: 299 against 50 GFLOP/s, ``benchmarks/results/compile_precision.json``) and many times slower
where it emulates them. A config that writes ``precision: bf16-mixed`` is therefore fast on one machine and slow
on the next; one that writes ::

    trainer:
      precision: ${fast_precision:}      # bf16-mixed where bf16 is native, else 32-true

gets ``"bf16-mixed"`` (fp32 master weights, bf16 matmuls under autocast) where the accelerator runs bf16 natively
and ``"32-true"`` elsewhere. The argument, when given, names the accelerator to ask about: ``${fast_precision:cpu}``,
``${fast_precision:cuda}``; without one (or ``auto``) it asks about the accelerator Lightning's ``"auto"`` picks
here: CUDA when a GPU is visible, else the CPU.

* CUDA: ``torch.cuda.is_bf16_supported(including_emulation=False)`` (compute capability 8.0 and later).
* CPU: oneDNN's own answer, ``torch.ops.mkldnn._is_mkldnn_bf16_supported()`` (AVX512-BF16, AMX or AVX512 core
  where oneDNN has bf16 kernels); ``False`` where PyTorch is built without oneDNN.

The resolver is registered by :class:`gen_framework.cli.app.GenFWCLI` when it is built (importing this module changes
nothing process-wide); :func:`register` is idempotent.
"""

from __future__ import annotations

from typing import Any, Callable, Literal

from gen_framework.errors import ConfigError

RESOLVER = "fast_precision"
FAST = "bf16-mixed"
SAFE = "32-true"
ACCELERATORS = ("auto", "cpu", "cuda", "gpu")


def cuda_runs_bf16() -> bool:
    """Whether a visible CUDA device has native bf16 (not the emulation PyTorch falls back to)."""
    import torch

    if not torch.cuda.is_available():
        return False
    try:
        return bool(torch.cuda.is_bf16_supported(including_emulation=False))
    except TypeError:  # PyTorch without the argument: its answer was the native one
        return bool(torch.cuda.is_bf16_supported())


def cpu_runs_bf16() -> bool:
    """Whether oneDNN reports bf16 kernels for this CPU (``False`` in a build without oneDNN)."""
    import torch

    if not torch.backends.mkldnn.is_available():
        return False
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # the private probe moved: assume the safe answer
        return False


def resolve_accelerator(accelerator: str) -> Literal["cpu", "cuda"]:
    """``"cpu"`` or ``"cuda"`` for a ``${fast_precision:...}`` argument; a :class:`ConfigError` for anything else."""
    import torch

    name = str(accelerator).strip().lower() or "auto"
    if name not in ACCELERATORS:
        raise ConfigError(
            f"${{{RESOLVER}:{accelerator}}}: unknown accelerator {accelerator!r}; "
            f"write ${{{RESOLVER}:}} or name one of: {', '.join(a for a in ACCELERATORS if a != 'auto')}"
        )
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return "cpu" if name == "cpu" else "cuda"


#: The capability probe per accelerator; tests replace an entry to see both answers.
PROBES: dict[str, Callable[[], bool]] = {"cpu": cpu_runs_bf16, "cuda": cuda_runs_bf16}


def fast_precision(accelerator: str = "auto") -> str:
    """``"bf16-mixed"`` where ``accelerator`` runs bf16 natively, else ``"32-true"``."""
    return FAST if PROBES[resolve_accelerator(accelerator)]() else SAFE


def _resolver(*args: Any) -> str:
    if len(args) > 1:
        raise ConfigError(
            f"${{{RESOLVER}:{','.join(map(str, args))}}}: takes at most one argument, the accelerator "
            f"({', '.join(ACCELERATORS)}); it is written ${{{RESOLVER}:}} as a trainer.precision value"
        )
    return fast_precision(args[0] if args else "auto")


def register() -> None:
    """Registers ``${fast_precision:}`` with omegaconf (process-wide; called when the CLI is built)."""
    import omegaconf
    from omegaconf import OmegaConf

    if OmegaConf.has_resolver(RESOLVER):
        return
    # use_cache=False: the probe is asked at each resolution (tests swap it). omegaconf 2.4 renamed
    # register_new_resolver to register_resolver (the old name warns); 2.3's register_resolver is the legacy one.
    major, minor = (int(part) for part in omegaconf.__version__.split(".")[:2])
    register = OmegaConf.register_resolver if (major, minor) >= (2, 4) else OmegaConf.register_new_resolver
    register(RESOLVER, _resolver, use_cache=False)


__all__ = ["ACCELERATORS", "PROBES", "RESOLVER", "cpu_runs_bf16", "cuda_runs_bf16", "fast_precision", "register"]
