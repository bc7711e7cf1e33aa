"""DDP scaling on this CPU: 2 DDP processes x 1 thread against 1 process x 1 thread, in distinct samples/s.

For each plugin (DCGAN and GPT-mini by default) the same model is trained on synthetic data of its modality,
once in a single process and once under ``strategy="ddp"`` with 2 CPU processes (gloo), each pinned to 1
thread. The two set-ups alternate within each repeat (1x1, 2x1, 1x1, 2x1, ...) so that a change in the
machine's load falls on both, and medians over repeats are reported.

Throughput counts *distinct* samples: for a GAN, the generator update's fakes, identified by their latent
rows; for a language model, the training sequences of the batch. A row drawn on both ranks counts once, so a
run whose ranks drew the same latents gains nothing from the second process.

What bounds the speed-up is measured in the same runs: the 2-process step time against the 1-process one,
the time of a gloo all-reduce of a gradient-sized buffer (the communication a step adds), the process CPU
time per step (compute slowed by the other process sharing the cores), and the machine's load average. The
same arithmetic with a GPU interconnect's bandwidth gives the expected figure on GPUs (``gpu_estimate``).

    python benchmarks/ddp_scaling.py [--plugins dcgan gpt_mini] [--steps 50] [--warmup 10] [--repeats 3]
    python benchmarks/ddp_scaling.py --quick     # smoke run: 12 steps after 4 warm-up steps, once each

Writes ``benchmarks/results/ddp_scaling.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median, write_results  # noqa: E402

#: Model sizes that make a training step heavy enough for scaling to be measurable.
CONFIGS = {
    "dcgan": {"init_args": {"image_size": 28, "channels": 1, "base_channels": 32, "latent_dim": 64},
              "data_spec": {"modality": "image", "channels": 1, "image_size": 28}, "batch_size": 32},
    "gpt_mini": {"init_args": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "dropout": 0.0},
                 "data_spec": {"modality": "text"}, "batch_size": 12, "length": 64},
}

#: Interconnects for the GPU estimate: all-reduce bus bandwidth in bytes/s (nominal, not measured here).
INTERCONNECTS = {"NVLink 4 (H100/H200 SXM)": 450e9, "PCIe 4.0 x16": 25e9}

WORKER = r'''
import hashlib, json, statistics, sys, time, torch, pytorch_lightning as pl
import torch.distributed as dist
from gen_framework.registry import get_plugin
from gen_framework.testing.synthetic import SyntheticData

request = json.loads(sys.argv[1])
torch.set_num_threads(1)
pl.seed_everything(0, verbose=False)
spec = get_plugin(request["plugin"])
model = spec.module_class(**request["init_args"])
data = SyntheticData(request["data_spec"], length=request.get("length", 16), count=request["batch_size"] * 400,
                     batch_size=request["batch_size"])
warm = request["warmup"]
fingerprints = []  # one digest per sample of a timed step (a latent row or a sequence)

if model.family == "adversarial":
    draw = model.sample_latent
    def sample_latent(num, *, generator=None):
        latent = draw(num, generator=generator)
        # the generator update's latents come last in a step; keep one batch per timed step
        if model.training:
            model._last_latents = latent
        return latent
    model.sample_latent = sample_latent

class Clock(pl.Callback):
    def __init__(self):
        self.wall, self.cpu = [], []
    def on_train_batch_end(self, trainer, module, outputs, batch, batch_idx):
        self.wall.append(time.perf_counter())
        self.cpu.append(time.process_time())
        if trainer.global_step > warm:
            if module.family == "adversarial":
                rows = module._last_latents
            else:
                rows = batch[0] if isinstance(batch, (tuple, list)) else batch
            fingerprints.extend(hashlib.blake2b(row.numpy().tobytes(), digest_size=16).hexdigest()
                                for row in rows.detach().cpu())

clock = Clock()
trainer = pl.Trainer(accelerator="cpu", devices=request["devices"], strategy=request["strategy"],
                     max_steps=request["steps"] + warm, logger=False, enable_checkpointing=False,
                     enable_progress_bar=False, enable_model_summary=False, limit_val_batches=0,
                     num_sanity_val_steps=0, callbacks=[clock])
trainer.fit(model, data)
steps = len(clock.wall) - warm
result = {
    "seconds_per_step": (clock.wall[-1] - clock.wall[warm - 1]) / steps,
    "cpu_seconds_per_step": (clock.cpu[-1] - clock.cpu[warm - 1]) / steps,
    "parameters": sum(p.numel() for p in model.parameters() if p.requires_grad),
}
everyone = [fingerprints]
if dist.is_available() and dist.is_initialized():
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, fingerprints)
    # the communication a step adds: one all-reduce of every gradient (the GAN base's two per-player buckets
    # and DDP's buckets together move the same bytes), and the latency of an all-reduce of one number
    grads = torch.zeros(result["parameters"])
    one = torch.zeros(1)
    def timed(tensor, repeats=30):
        for _ in range(5):
            dist.all_reduce(tensor)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            dist.all_reduce(tensor)
            times.append(time.perf_counter() - start)
        return statistics.median(times)
    result["allreduce_seconds"] = timed(grads)
    result["allreduce_latency_seconds"] = timed(one)
total = sum(len(f) for f in everyone)
result["distinct_fraction"] = len(set().union(*map(set, everyone))) / total if total else 1.0
if trainer.is_global_zero:
    print("RESULT", json.dumps(result))
'''


def run(plugin: str, devices: int, steps: int, warmup: int) -> dict[str, Any]:
    config = CONFIGS[plugin]
    request = {"plugin": plugin, "devices": devices, "strategy": "ddp" if devices > 1 else "auto",
               "steps": steps, "warmup": warmup, **config}
    load_before = os.getloadavg()[0]
    # Lightning's DDP launcher re-executes the command, so the worker must be a file.
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ddp_scaling_worker.py"
        script.write_text(WORKER)
        out = subprocess.run([sys.executable, str(script), json.dumps(request)], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=1200)
    lines = [l for l in out.stdout.splitlines() if l.startswith("RESULT")]
    if not lines:
        raise RuntimeError(out.stderr[-3000:])
    result = json.loads(lines[0].split(" ", 1)[1])
    # A process that aborts while shutting down after its result was measured (seen with gloo at interpreter
    # exit: "terminate called without an active exception") keeps its figures; the exit code is recorded.
    result["exit_code"] = out.returncode
    items = devices * config["batch_size"]
    result["items_per_second"] = items / result["seconds_per_step"]
    result["distinct_items_per_second"] = result["items_per_second"] * result["distinct_fraction"]
    result["load_average"] = (load_before + os.getloadavg()[0]) / 2
    return result


def summarise(plugin: str, single: list[dict[str, Any]], double: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians, the speed-up, and what bounds it: communication and compute slowed by sharing the cores."""
    def med(runs: list[dict[str, Any]], key: str) -> float:
        return median([r[key] for r in runs])

    t1, t2 = med(single, "seconds_per_step"), med(double, "seconds_per_step")
    comm = med(double, "allreduce_seconds")
    parameters = single[0]["parameters"]
    # Were the 2 processes' compute as fast as the single one's, a step would take t1 + comm.
    communication_bound = 2 * t1 / (t1 + comm)
    # Per CPU-second of work, what 2 processes on 2 otherwise idle cores would give (communication waits excluded).
    cpu1, cpu2 = med(single, "cpu_seconds_per_step"), med(double, "cpu_seconds_per_step")
    gpu = {}
    for name, bandwidth in INTERCONNECTS.items():
        seconds = 2 * (2 - 1) / 2 * 4 * parameters / bandwidth  # ring all-reduce of fp32 gradients, 2 GPUs
        gpu[name] = {"allreduce_seconds": seconds,
                     "speedup_if_step_10ms": 2 * 0.010 / (0.010 + seconds),
                     "speedup_if_step_1ms": 2 * 0.001 / (0.001 + seconds)}
    return {
        "distinct_items_per_second_1x1": med(single, "distinct_items_per_second"),
        "distinct_items_per_second_2x1": med(double, "distinct_items_per_second"),
        "speedup": med(double, "distinct_items_per_second") / med(single, "distinct_items_per_second"),
        "distinct_fraction_2x1": min(r["distinct_fraction"] for r in double),
        "goal": 1.8,
        "seconds_per_step_1x1": t1,
        "seconds_per_step_2x1": t2,
        "cpu_seconds_per_step_1x1": cpu1,
        "cpu_seconds_per_step_2x1": cpu2,
        "cpu_time_speedup": 2 * cpu1 / cpu2,
        "allreduce_seconds": comm,
        "allreduce_latency_seconds": med(double, "allreduce_latency_seconds"),
        "parameters": parameters,
        "communication_bound_speedup": communication_bound,
        "load_average": median([r["load_average"] for r in single + double]),
        "gpu_estimate": gpu,
        "runs": {"1x1": single, "2x1": double},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", nargs="+", default=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=None, help="default: benchmarks/results/ddp_scaling.json")
    parser.add_argument("--quick", action="store_true", help="smoke run: 12 steps after 4 warm-up steps, once each")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup, args.repeats = 12, 4, 1
    runs: dict[str, dict[int, list[dict[str, Any]]]] = {p: {1: [], 2: []} for p in args.plugins}
    for repeat in range(args.repeats):
        for plugin in args.plugins:
            for devices in (1, 2):
                result = run(plugin, devices, args.steps, args.warmup)
                runs[plugin][devices].append(result)
                print(f"repeat {repeat + 1} {plugin} {devices}x1: {result['distinct_items_per_second']:.1f} distinct "
                      f"items/s, {1000 * result['seconds_per_step']:.1f} ms/step, load {result['load_average']:.1f}",
                      flush=True)
    results = {}
    for plugin in args.plugins:
        r = results[plugin] = summarise(plugin, runs[plugin][1], runs[plugin][2])
        print(f"{plugin}: {r['distinct_items_per_second_1x1']:.1f} -> {r['distinct_items_per_second_2x1']:.1f} distinct "
              f"items/s, speed-up {r['speedup']:.2f}x (goal >= 1.8x); all-reduce {1000 * r['allreduce_seconds']:.2f} ms "
              f"of a {1000 * r['seconds_per_step_2x1']:.1f} ms step; communication alone would allow "
              f"{r['communication_bound_speedup']:.2f}x, CPU time per step {r['cpu_time_speedup']:.2f}x")
    settings = {"steps": args.steps, "warmup": args.warmup, "repeats": args.repeats, "order": "interleaved"}
    path = write_results("ddp_scaling", results, threads=1, output=args.output, extra={"settings": settings})
    print(f"wrote {path}")


if __name__ == "__main__":
    start = time.time()
    main()
    print(f"took {time.time() - start:.0f} s")
