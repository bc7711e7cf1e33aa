"""Conformance check: under 2-process DDP the ranks draw different training randomness and end identical.

A plugin that draws its latents, noise or dropout masks from a stream every rank shares (its own generator
seeded with a constant, say) trains every rank on the same random half of the work: the effective batch of
fakes is one rank's, and the throughput counts duplicates. The check runs the kit's DDP worker
(:mod:`gen_framework.testing._ddp_worker`): two probe steps in which both ranks hold the same weights, see the
same batch and learn nothing (learning rates 0), then two ordinary steps on each rank's own batches.

- If a rank's two probe-step losses differ, the model draws randomness in training; then the two ranks'
  losses must differ at every probe step, else they drew the same numbers.
- If they are equal, the model draws nothing in training under the kit's init args and the first part holds
  trivially (the report says so). A model reseeding a shared stream identically at every step is not told
  apart from such a model.
- In every case the ranks must end with identical weights.

The DDP parity check (``ddp_two_processes``) runs the same worker; when it ran first in the same context, with
the same request, its output is reused rather than launching again.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

if TYPE_CHECKING:
    from gen_framework.testing.kit import KitContext

#: Seconds the 2-process run may take before the check fails.
TIMEOUT_S = 240


def ddp_request(ctx: KitContext, out: Path) -> dict[str, Any]:
    """The worker request for ``ctx``'s plugin, writing to ``out``."""
    module_class = f"{ctx.spec.module_class.__module__}.{ctx.spec.module_class.__qualname__}"
    return {"plugin": ctx.spec.name, "module_class": module_class, "init_args": ctx.init_args,
            "data_spec": ctx.data_spec, "length": ctx.length, "out": str(out)}


def run_ddp_worker(ctx: KitContext) -> Path:
    """The directory holding a 2-process DDP run of ``ctx``'s plugin, launched unless already there."""
    out = ctx.workdir / "ddp"
    request = ddp_request(ctx, out)
    done = out / "request.json"
    wanted = ["rank0.pt", "rank1.pt", "rank0_losses.pt", "rank1_losses.pt"]
    if done.is_file() and all((out / name).is_file() for name in wanted):
        if json.loads(done.read_text(encoding="utf-8")) == json.loads(json.dumps(request, sort_keys=True)):
            return out
    out.mkdir(parents=True, exist_ok=True)
    for name in [*wanted, "request.json"]:
        (out / name).unlink(missing_ok=True)
    # The workers must import what this process can (a plugin class defined in a test module, for one).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p), "OMP_NUM_THREADS": "1"}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gen_framework.testing._ddp_worker", json.dumps(request)],
            capture_output=True, text=True, timeout=TIMEOUT_S, env=env,
        )
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"2-process DDP fit did not finish in {err.timeout} s") from err
    assert result.returncode == 0, f"2-process DDP fit failed:\n{result.stderr[-2500:]}"
    return out


def check_ddp_ranks_draw_differently(ctx: KitContext) -> None:
    """Under 2-process DDP the ranks draw different training randomness while holding identical weights."""
    out = run_ddp_worker(ctx)
    losses = [torch.load(out / f"rank{r}_losses.pt", weights_only=True) for r in (0, 1)]
    first, second = losses[0][0], losses[0][1]
    draws = any(not torch.equal(first[name], second[name]) for name in first)
    if not draws:
        warnings.warn(
            f"{ctx.spec.name}: training draws no randomness with the kit's init args, so that the DDP ranks draw "
            "differently holds trivially; only identical weights were checked",
            stacklevel=2,
        )
    else:
        shared = [
            step + 1 for step, (a, b) in enumerate(zip(losses[0], losses[1]))
            if all(torch.equal(a[name], b[name]) for name in a)
        ]
        assert not shared, (
            f"both DDP ranks drew the same training randomness (identical losses at probe step(s) {shared} with the "
            "same weights and batch): draw latents/noise from torch's default generators inside training_step, "
            "which the family base seeds per rank, not from a generator of your own"
        )
    states = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    differing = [k for k in states[0] if not torch.equal(states[0][k], states[1][k])]
    assert not differing, f"weights differ between DDP ranks after training: {differing[:5]}"
