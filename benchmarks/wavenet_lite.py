"""WaveNet-lite benchmark: fast (queue) generation against recomputation, real-time factor, and learning.

    python benchmarks/wavenet_lite.py                     # everything (~10 minutes on 2 shared cores)
    python benchmarks/wavenet_lite.py --skip-training     # speed only (~1-2 minutes)
    python benchmarks/wavenet_lite.py --quick             # smoke run: short timings, 15 s of training

Speed: per generated sample, the queue-based cached path (``use_cache=True``) against the recompute path
(``use_cache=False``, the whole receptive field through the network for every sample), both through
``AutoregressiveModule.generate``, for the default configuration (receptive field 1,025 samples) and a
narrower one. Times are medians over repeats, in CPU seconds of this process (``time.process_time``, one
thread: what a dedicated core would take) and in wall-clock seconds (which on a shared machine include time
spent waiting for a core). The real-time factor (RTF) is seconds of compute per second of 16 kHz audio: below
1 is faster than real time. The two paths are timed in turn within each repeat, so that a change of load hits
both alike; the speed-up is the median of the per-repeat ratios of CPU times. At batch 1 the RTF is the
latency of one stream; "amortised over a batch of 16" divides the cost of generating 16 streams at once by
16 (throughput, not latency). ``network_step_us`` is ``forward_cached`` alone, without the family's sampling
loop (softmax, multinomial draw, bookkeeping).

Real-time limit (``real_time_limit``, for the sizes ``melodies.yaml`` trains): FLOPs of the matrix products of one
incremental step against this CPU's measured fp32 matrix-product rate (the arithmetic limit), and the tensor
operations per generated sample (counted in ``generate`` with a dispatch hook) times the cost of the cheapest one
(the per-operation floor of any eager implementation), beside the measured cost per sample of the scripted loop
(``fast_generate``, what ``sample()`` runs; ``*_loop_*`` keys), the tensor operations it issues per sample, and
the cost of the same loop run eagerly.

Learning: ``configs/wavenet_lite/melodies.yaml`` trained for a fixed wall-clock budget, then validation bits
per sample and the share of the generated audio's spectral energy within half a semitone of the melodies'
notes (white noise scores ~0.04, the melodies ~0.95).

Prints a summary and writes ``benchmarks/results/wavenet_lite.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, machine_info  # noqa: E402

from gen_framework_wavenet_lite import WaveNetLite
from gen_framework_wavenet_lite.fast_generation import fast_generate
from gen_framework_wavenet_lite.spectrum import energy_near, peak_frequencies

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "wavenet_lite" / "melodies.yaml"
RESULTS = RESULTS_DIR / "wavenet_lite.json"
SAMPLE_RATE = 16000
SPEED_CONFIGS = {
    "default (R=D=64, S=128, 10 layers)": {},
    "narrow (R=D=32, S=64, 10 layers)": {"residual_channels": 32, "dilation_channels": 32, "skip_channels": 64},
}
REAL_TIME_CONFIG = "narrow (R=D=32, S=64, 10 layers)"  # the sizes configs/wavenet_lite/melodies.yaml trains


def timed(fn: Any) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one call of ``fn``."""
    c0, w0 = time.process_time(), time.perf_counter()
    fn()
    return time.process_time() - c0, time.perf_counter() - w0


@torch.no_grad()
def speed(name: str, overrides: dict[str, Any], fast_samples: int, slow_samples: int, repeats: int) -> dict[str, Any]:
    torch.manual_seed(0)
    model = WaveNetLite(vocab_size=256, **overrides).eval()
    R = model.receptive_field
    silence = torch.full((1, 1), 128)
    # a full window of prompt, so every recomputed step runs the whole receptive field
    window = torch.randint(0, 256, (1, R))
    model.generate(silence, 200, seed=0)
    cache = model.init_cache(1)
    codes = torch.randint(0, 256, (fast_samples, 1, 1))
    batch = 16
    fns = {
        "fast": lambda: model.generate(silence, fast_samples, seed=0),
        "slow": lambda: model.generate(window, slow_samples, seed=0, use_cache=False),
        "step": lambda: [model.forward_cached(code, cache) for code in codes],
        "batch": lambda: model.generate(silence.repeat(batch, 1), fast_samples // 4, seed=0),
        "loop": lambda: fast_generate(model, silence, fast_samples, generator=torch.Generator().manual_seed(0)),
        "eager_loop": lambda: fast_generate(
            model, silence, fast_samples, generator=torch.Generator().manual_seed(0), script=False
        ),
    }
    fast_generate(model, silence, 200, generator=torch.Generator().manual_seed(0))  # scripts the loop once
    # timed in turn within each repeat, so a change of load on the machine hits both paths alike
    ratios = []
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in fns}
    for _ in range(repeats):
        for key, fn in fns.items():
            runs[key].append(timed(fn))
        ratios.append((runs["slow"][-1][0] / slow_samples) / (runs["fast"][-1][0] / fast_samples))
    (fast_cpu, fast_wall), (slow_cpu, slow_wall), (step_cpu, _), (batch_cpu, batch_wall), loop, eager = (
        (statistics.median(c for c, _ in runs[key]), statistics.median(w for _, w in runs[key])) for key in fns
    )
    same = torch.equal(model.generate(window, 64, seed=3), model.generate(window, 64, seed=3, use_cache=False))
    loop_same = torch.equal(
        fast_generate(model, window, 64, generator=torch.Generator().manual_seed(3)),
        model.generate(window, 64, seed=3, use_cache=False),
    )
    per_fast = fast_cpu / fast_samples
    per_slow = slow_cpu / slow_samples
    per_batch = batch_cpu / (fast_samples // 4)
    result = {
        "init_args": {**overrides},
        "parameters": sum(p.numel() for p in model.parameters()),
        "receptive_field_samples": R,
        "receptive_field_ms": round(1000 * R / SAMPLE_RATE, 1),
        "cached_us_per_sample_cpu": round(per_fast * 1e6, 1),
        "network_step_us_cpu": round(step_cpu / fast_samples * 1e6, 1),
        "cached_us_per_sample_wall": round(fast_wall / fast_samples * 1e6, 1),
        "recompute_us_per_sample_cpu": round(per_slow * 1e6, 1),
        "recompute_us_per_sample_wall": round(slow_wall / slow_samples * 1e6, 1),
        "speedup_cpu": round(statistics.median(ratios), 1),
        "speedup_cpu_per_repeat": [round(r, 1) for r in ratios],
        "speedup_wall": round((slow_wall / slow_samples) / (fast_wall / fast_samples), 1),
        "rtf_batch1_cpu": round(per_fast * SAMPLE_RATE, 2),
        "rtf_batch1_wall": round(fast_wall / fast_samples * SAMPLE_RATE, 2),
        "recompute_rtf_batch1_cpu": round(per_slow * SAMPLE_RATE, 1),
        f"cached_us_per_step_batch{batch}_cpu": round(per_batch * 1e6, 1),
        f"rtf_batch{batch}_cpu": round(per_batch * SAMPLE_RATE, 2),
        f"rtf_amortized_batch{batch}_cpu": round(per_batch * SAMPLE_RATE / batch, 3),
        f"rtf_amortized_batch{batch}_wall": round(batch_wall / (fast_samples // 4) * SAMPLE_RATE / batch, 3),
        "cached_equals_recompute_tokens": same,
        "scripted_loop_us_per_sample_cpu": round(loop[0] / fast_samples * 1e6, 1),
        "scripted_loop_us_per_sample_wall": round(loop[1] / fast_samples * 1e6, 1),
        "eager_loop_us_per_sample_cpu": round(eager[0] / fast_samples * 1e6, 1),
        "scripted_loop_rtf_batch1_cpu": round(loop[0] / fast_samples * SAMPLE_RATE, 2),
        "scripted_loop_equals_recompute_tokens": loop_same,
    }
    print(
        f"{name}: receptive field {R} samples ({result['receptive_field_ms']} ms); per sample cached "
        f"{result['cached_us_per_sample_cpu']} us (network step {result['network_step_us_cpu']} us), "
        f"recompute {result['recompute_us_per_sample_cpu']} us (CPU time) -> "
        f"{result['speedup_cpu']}x (wall {result['speedup_wall']}x); RTF batch 1 {result['rtf_batch1_cpu']} "
        f"(wall {result['rtf_batch1_wall']}); RTF amortised over a batch of {batch} "
        f"{result[f'rtf_amortized_batch{batch}_cpu']}; "
        f"same tokens: {same}; scripted loop {result['scripted_loop_us_per_sample_cpu']} us "
        f"(RTF {result['scripted_loop_rtf_batch1_cpu']}, eager {result['eager_loop_us_per_sample_cpu']} us, "
        f"same tokens: {loop_same})",
        flush=True,
    )
    return result


def step_flops(model: WaveNetLite) -> int:
    """Multiply-adds x 2 of one incremental step at batch 1: the matrix products of the network, nothing else.

    Per dilated layer: the two taps (2R -> 2D), the residual output (D -> R, not in the last layer) and the skip
    output (D -> S); then the output layers S -> S -> V. Element-wise work and the input lookup are left out.
    """
    R, D, S = model.residual_channels, model.dilation_channels, model.skip_channels
    V, L = model.vocab_size, len(model.layers)
    macs = L * (2 * R * 2 * D + D * S) + (L - 1) * D * R + S * S + S * V
    return 2 * macs


def matmul_gflops(repeats: int = 5) -> float:
    """This CPU's fp32 matrix-product rate on the current thread count, GFLOP/s of process CPU time (best of)."""
    a, b = torch.randn(512, 512), torch.randn(512, 512)
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        for _ in range(20):
            a @ b
        best = min(best, time.process_time() - c0)
    return 20 * 2 * 512**3 / best / 1e9


def op_floor_us(repeats: int = 5) -> float:
    """CPU microseconds of the cheapest useful tensor operation here: an in-place sigmoid of 64 values (best of)."""
    x = torch.zeros(1, 64)
    best = float("inf")
    for _ in range(repeats):
        c0 = time.process_time()
        for _ in range(20000):
            x.sigmoid_()
        best = min(best, time.process_time() - c0)
    return best / 20000 * 1e6


@torch.no_grad()
def ops_per_sample(model: WaveNetLite, samples: int = 200) -> float:
    """Tensor operations (ATen calls) per generated sample at batch 1, counted in generate's steady state."""
    from torch.utils._python_dispatch import TorchDispatchMode

    class Count(TorchDispatchMode):
        calls = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
            Count.calls += 1
            return func(*args, **(kwargs or {}))

    silence = torch.full((1, 1), 128)
    counts = []
    for run in (
        lambda n: model.generate(silence, n, seed=0),
        lambda n: fast_generate(model, silence, n, generator=torch.Generator().manual_seed(0), script=False),
    ):
        Count.calls = 0
        with Count():
            run(10)
        short = Count.calls
        Count.calls = 0
        with Count():
            run(10 + samples)
        counts.append((Count.calls - short) / samples)
    return counts[0], counts[1]


def real_time_limit(overrides: dict[str, Any], measured_us: float) -> dict[str, Any]:
    """How close fast generation at batch 1 gets to the two limits of this CPU: arithmetic and per-operation cost."""
    torch.manual_seed(0)
    model = WaveNetLite(vocab_size=256, **overrides).eval()
    flops = step_flops(model)
    rate = matmul_gflops()
    floor = op_floor_us()
    ops, loop_ops = ops_per_sample(model)
    result = {
        "flops_per_sample": flops,
        "matmul_gflops": round(rate, 1),
        "arithmetic_limit_us_per_sample": round(flops / rate / 1e3, 2),
        "arithmetic_limit_rtf": round(flops / rate / 1e9 * SAMPLE_RATE, 3),
        "ops_per_sample": round(ops, 1),
        "cheapest_op_us": round(floor, 2),
        "dispatch_floor_us_per_sample": round(ops * floor, 1),
        "dispatch_floor_rtf": round(ops * floor * 1e-6 * SAMPLE_RATE, 2),
        "loop_ops_per_sample": round(loop_ops, 1),
        "loop_dispatch_floor_us_per_sample": round(loop_ops * floor, 1),
        "measured_us_per_sample": measured_us,
        "measured_rtf": round(measured_us * 1e-6 * SAMPLE_RATE, 2),
        "real_time_us_per_sample": round(1e6 / SAMPLE_RATE, 1),
    }
    print(
        f"real-time limit at batch 1: {flops} FLOP per sample at {rate:.0f} GFLOP/s -> "
        f"{result['arithmetic_limit_us_per_sample']} us (RTF {result['arithmetic_limit_rtf']}); "
        f"{ops:.0f} tensor operations per sample at >= {floor:.2f} us each -> "
        f">= {result['dispatch_floor_us_per_sample']} us "
        f"(RTF {result['dispatch_floor_rtf']}); measured {measured_us} us (RTF {result['measured_rtf']}); "
        f"real time needs < {result['real_time_us_per_sample']} us",
        flush=True,
    )
    return result


def learning(budget_s: float, sample_seconds: float) -> dict[str, Any]:
    import pytorch_lightning as pl
    from omegaconf import OmegaConf

    from gen_framework.data import Melodies
    from gen_framework.data.melody_synth import SCALE_HZ

    config = OmegaConf.to_container(OmegaConf.load(CONFIG), resolve=True)
    pl.seed_everything(config["seed_everything"])
    model = WaveNetLite(**config["model"]["init_args"])
    data = Melodies(**config["data"]["init_args"])
    trainer = pl.Trainer(
        max_steps=config["trainer"]["max_steps"],
        max_time={"seconds": budget_s},
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        limit_val_batches=0,
    )
    start = time.perf_counter()
    trainer.fit(model, data)
    train_s = time.perf_counter() - start
    trainer.limit_val_batches = 1.0
    metrics = trainer.validate(model, data, verbose=False)[0]
    bits = float(metrics["val/bits_per_token"])

    generated = {}
    for temperature in (1.0, 0.9):
        c0 = time.process_time()
        audio = model.sample(4, seed=0, seconds=sample_seconds, temperature=temperature).numpy()
        cpu = time.process_time() - c0
        generated[str(temperature)] = {
            "note_energy": [round(energy_near(a, SAMPLE_RATE, SCALE_HZ), 3) for a in audio],
            "rms": [round(float(np.sqrt((a**2).mean())), 3) for a in audio],
            "peaks_hz": [[round(f) for f in peak_frequencies(a, SAMPLE_RATE)] for a in audio],
            "generation_cpu_s": round(cpu, 1),
        }
    data.setup("fit")
    reference = data.splits.val.clips.codes[: round(sample_seconds * SAMPLE_RATE)]
    from gen_framework.data import mu_law_decode

    data_score = energy_near(mu_law_decode(reference.long()).numpy(), SAMPLE_RATE, SCALE_HZ)
    noise_score = energy_near(np.random.default_rng(0).standard_normal(len(reference)), SAMPLE_RATE, SCALE_HZ)
    result = {
        "config": str(CONFIG.relative_to(ROOT)),
        "budget_s": budget_s,
        "train_wall_s": round(train_s, 1),
        "steps": trainer.global_step,
        "samples_seen": trainer.global_step * data.batch_size * data.segment_length,
        "val_bits_per_sample": round(bits, 3),
        "uniform_baseline_bits": 8.0,
        "generated": generated,
        "note_energy_of_data": round(data_score, 3),
        "note_energy_of_white_noise": round(noise_score, 3),
        "scale_hz": [round(f, 1) for f in SCALE_HZ],
    }
    print(
        f"learning: {result['steps']} steps in {result['train_wall_s']} s -> val {bits:.3f} bits/sample (uniform 8); "
        f"note energy of samples at T=1.0 {generated['1.0']['note_energy']}, T=0.9 {generated['0.9']['note_energy']}; "
        f"data {data_score:.3f}, white noise {noise_score:.3f}; peaks at T=0.9 {generated['0.9']['peaks_hz']}",
        flush=True,
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--fast-samples", type=int, default=4000)
    parser.add_argument("--slow-samples", type=int, default=20)
    parser.add_argument("--train-seconds", type=float, default=240.0)
    parser.add_argument("--sample-seconds", type=float, default=1.0)
    parser.add_argument("--skip-training", action="store_true")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 repeats of 400 cached and 5 recomputed samples, 15 s of training")
    args = parser.parse_args()
    if args.quick:
        args.repeats, args.fast_samples, args.slow_samples = 2, 400, 5
        args.train_seconds, args.sample_seconds = 15.0, 0.25
    torch.set_num_threads(args.threads)
    info = machine_info()
    results: dict[str, Any] = {"speed": {}}
    for name, overrides in SPEED_CONFIGS.items():
        results["speed"][name] = speed(name, overrides, args.fast_samples, args.slow_samples, args.repeats)
    measured = results["speed"][REAL_TIME_CONFIG]["scripted_loop_us_per_sample_cpu"]
    results["real_time_limit"] = {
        "config": REAL_TIME_CONFIG, **real_time_limit(SPEED_CONFIGS[REAL_TIME_CONFIG], measured)
    }
    if not args.skip_training:
        results["learning"] = learning(args.train_seconds, args.sample_seconds)
    info["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    previous = json.loads(args.output.read_text()) if args.output.is_file() else {}
    if args.skip_training and "learning" in previous.get("results", {}):
        results["learning"] = previous["results"]["learning"]
    args.output.write_text(json.dumps({"machine": info, "results": results}, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
