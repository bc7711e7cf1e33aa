"""DDP scaling on this CPU: 2 DDP processes x 1 thread against 1 process x 1 thread.

For each plugin (DCGAN and GPT-mini by default) the same model is trained on synthetic data of its
modality, once in a single process and once under ``strategy="ddp"`` with 2 CPU processes (gloo), each
pinned to 1 thread. Throughput is items per second summed over processes, timed after warm-up steps; the
goal is a speed-up of at least 1.8x. Each configuration is repeated and the median reported.

    python benchmarks/ddp_scaling.py [--plugins dcgan gpt_mini] [--steps 40] [--repeats 3]
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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import median, write_results  # noqa: E402

#: Model sizes that make a training step heavy enough for scaling to be measurable.
CONFIGS = {
    "dcgan": {"init_args": {"image_size": 28, "channels": 1, "base_channels": 32, "latent_dim": 64},
              "data_spec": {"modality": "image", "channels": 1, "image_size": 28}, "batch_size": 32},
    "gpt_mini": {"init_args": {"n_layer": 4, "n_head": 4, "n_embd": 128, "block_size": 64, "dropout": 0.0},
                 "data_spec": {"modality": "text"}, "batch_size": 12, "length": 64},
}

WORKER = r'''
import json, sys, time, torch, pytorch_lightning as pl
from gen_framework.registry import get_plugin
from gen_framework.testing.synthetic import SyntheticData
request = json.loads(sys.argv[1])
torch.set_num_threads(1)
pl.seed_everything(0, verbose=False)
spec = get_plugin(request["plugin"])
model = spec.module_class(**request["init_args"])
data = SyntheticData(request["data_spec"], length=request.get("length", 16), count=request["batch_size"] * 400,
                     batch_size=request["batch_size"])
class Clock(pl.Callback):
    def __init__(self): self.times = []
    def on_train_batch_end(self, trainer, *args): self.times.append(time.perf_counter())
clock = Clock()
trainer = pl.Trainer(accelerator="cpu", devices=request["devices"], strategy=request["strategy"],
                     max_steps=request["steps"], logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     enable_model_summary=False, limit_val_batches=0, num_sanity_val_steps=0, callbacks=[clock])
trainer.fit(model, data)
if trainer.is_global_zero:
    warm = request["warmup"]
    seconds = clock.times[-1] - clock.times[warm - 1]
    steps = len(clock.times) - warm
    print("RESULT", json.dumps({"seconds_per_step": seconds / steps}))
'''


def run(plugin: str, devices: int, steps: int, warmup: int) -> float:
    config = CONFIGS[plugin]
    request = {"plugin": plugin, "devices": devices, "strategy": "ddp" if devices > 1 else "auto",
               "steps": steps, "warmup": warmup, **config}
    # Lightning's DDP launcher re-executes the command, so the worker must be a file.
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "ddp_scaling_worker.py"
        script.write_text(WORKER)
        out = subprocess.run([sys.executable, str(script), json.dumps(request)], capture_output=True, text=True,
                             env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=1200)
    if out.returncode != 0:
        raise RuntimeError(out.stderr[-3000:])
    line = next(l for l in out.stdout.splitlines() if l.startswith("RESULT"))
    seconds_per_step = json.loads(line.split(" ", 1)[1])["seconds_per_step"]
    return devices * config["batch_size"] / seconds_per_step  # items per second over all processes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plugins", nargs="+", default=list(CONFIGS))
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", type=Path, default=None, help="default: benchmarks/results/ddp_scaling.json")
    parser.add_argument("--quick", action="store_true", help="smoke run: 12 steps after 4 warm-up steps, once each")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.warmup, args.repeats = 12, 4, 1
    results = {}
    for plugin in args.plugins:
        single = [run(plugin, 1, args.steps, args.warmup) for _ in range(args.repeats)]
        double = [run(plugin, 2, args.steps, args.warmup) for _ in range(args.repeats)]
        results[plugin] = {
            "items_per_second_1x1": median(single),
            "items_per_second_2x1": median(double),
            "speedup": median(double) / median(single),
            "goal": 1.8,
            "runs": {"1x1": single, "2x1": double},
        }
        print(f"{plugin}: 1 process {median(single):.1f} items/s, 2 DDP processes {median(double):.1f} items/s, "
              f"speed-up {median(double) / median(single):.2f}x (goal >= 1.8x)")
    path = write_results("ddp_scaling", results, threads=1, output=args.output)
    print(f"wrote {path}")


if __name__ == "__main__":
    start = time.time()
    main()
    print(f"took {time.time() - start:.0f} s")
