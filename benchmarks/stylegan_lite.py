"""Benchmark of StyleGAN-lite: image quality per CPU minute against DCGAN, and training speed.

1. Quality at equal CPU training time. ``genfw fit --config configs/stylegan_lite/mnist.yaml`` and
   ``genfw fit --config configs/dcgan/mnist.yaml --data.init_args.image_size 32`` (both on the 5,000 bundled
   MNIST digits at 32×32, each with its own recipe) run in worker processes side by side (every model and
   seed at once), each pinned to ``--threads`` threads, and are measured when the process has spent each
   ``--minutes`` budget of CPU time (``time.process_time``, so a shared, loaded machine slows the wall clock
   but not the comparison; the time spent measuring is excluded). Per budget the median over seeds is reported
   beside every run. Samples come from ``model.sample`` (EMA generator where the recipe has one, ψ = 1).

   The metric: **FD-digits**, the Fréchet distance between Gaussians fitted to the 128-d features of the
   framework's digit judge (``gen_framework.metrics.digits``, trained on the real digits and cached) for
   ``EVAL_IMAGES`` samples against the 500 real validation digits, also as a multiple of the real-vs-real floor
   (500 real training digits); the number of classes that classifier reads with softmax >= 0.9 among the
   samples and its class coverage. **Pixel FD** on 8×8 pooled pixels is kept for comparison only: a mean digit
   scores well on it. **Images per CPU second**: training steps × batch size over the CPU time trained.
2. Speed. Median CPU time of one bare training step (no regulariser) of the mnist config at its batch size,
   with ``fused_modconv`` on and off (grouped convolution against activation scaling).

Results are printed and written to ``benchmarks/results/stylegan_lite.json``; sample grids of the first seed go
to ``plugins/stylegan_lite/docs/``; ``--table`` prints the README table from the JSON.

    python benchmarks/stylegan_lite.py --seeds 0 1 2 --minutes 2 4 6 10 --runs-dir runs/bench   # the protocol
    python benchmarks/stylegan_lite.py --seeds 0 1 2 --runs-dir runs/bench --assemble --skip-speed
    python benchmarks/stylegan_lite.py --quick                             # smoke run: 20-second budgets

Each run writes its records to ``<runs-dir>/<model>_<seed>.json`` as it reaches each budget, so runs stopped
early (a deadline on a loaded machine) still give the budgets every run reached: ``--assemble`` builds the
results from those files without training.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from scipy import linalg
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, write_results  # noqa: E402
from cpu_budget import CPUBudgetProbe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = RESULTS_DIR / "stylegan_lite.json"
DOCS = REPO / "plugins" / "stylegan_lite" / "docs"
CONFIGS = {
    "stylegan_lite": (REPO / "configs" / "stylegan_lite" / "mnist.yaml", []),
    "dcgan": (REPO / "configs" / "dcgan" / "mnist.yaml", ["--data.init_args.image_size", "32"]),
}
EVAL_IMAGES = 500
IMAGE_SIZE = 32
SCREEN_RESULTS = RESULTS_DIR / "stylegan_lite_batch_screen.json"
#: ``--screen``: the mnist config at smaller batches (more optimiser updates for the same images, as DCGAN's
#: batch 16 makes). Adam's learning rate scales with the square root of the batch (2.5e-3 at 64); R1 gamma stays
#: 0.01, inside StyleGAN2-ADA's heuristic 0.0002 * 32^2 / batch (0.0064-0.0128 at batch 32-16); the
#: minibatch-std group is at most the batch.
SCREEN = {
    "batch16": ["--data.init_args.batch_size", "16", "--model.init_args.mbstd_group_size", "16",
                "--model.init_args.lr_g", "1.25e-3", "--model.init_args.lr_d", "1.25e-3"],
    "batch32": ["--data.init_args.batch_size", "32", "--model.init_args.mbstd_group_size", "32",
                "--model.init_args.lr_g", "1.8e-3", "--model.init_args.lr_d", "1.8e-3"],
}


# ------------------------------------------------------------------ the metric


def mnist_data() -> Any:
    """The configs' datamodule (5,000 bundled MNIST digits at 32×32, the same train/validation split)."""
    from gen_framework.data import MNIST

    data = MNIST(image_size=IMAGE_SIZE, channels=1)
    data.setup("fit")
    return data


def stack(dataset: Any, count: int) -> Tensor:
    return torch.stack([dataset[i][0] for i in range(min(count, len(dataset)))])


def pixel_features(images: Tensor) -> np.ndarray:
    return F.avg_pool2d(images, 4).flatten(1).double().numpy()


def pixel_fd(a: Tensor, b: Tensor) -> float:
    """Fréchet distance on 8×8 average-pooled pixels (64-d): kept for comparison with earlier results; a mean
    digit scores well on it, so it is not the quality measure."""
    fa, fb = pixel_features(a), pixel_features(b)
    cov_a, cov_b = np.cov(fa, rowvar=False), np.cov(fb, rowvar=False)
    root, _ = linalg.sqrtm(cov_a @ cov_b, disp=False)
    return float(((fa.mean(0) - fb.mean(0)) ** 2).sum() + np.trace(cov_a + cov_b - 2 * root.real))


class Judge:
    """Scores generated digits with the framework's trained digit classifier (see ``DigitJudge``)."""

    def __init__(self) -> None:
        from gen_framework.metrics.digits import DigitJudge

        data = mnist_data()
        self.real = stack(data.splits.val, EVAL_IMAGES)
        self.judge = DigitJudge(self.real, stack(data.splits.train, EVAL_IMAGES))

    def __call__(self, images: Tensor) -> dict[str, Any]:
        scores = self.judge(images)
        return {"fd_digits": round(scores.fd, 3), "fd_ratio": round(scores.fd_ratio, 2),
                "pixel_fd": round(pixel_fd(images, self.real), 3), "classes_covered": scores.classes_confident,
                "coverage": round(scores.coverage, 2), "confident_fraction": round(scores.confident_fraction, 3)}


# ------------------------------------------------------------------ training under a CPU budget


class QualityProbe(CPUBudgetProbe):
    """Digit-feature and pixel Fréchet distances of 500 samples at each CPU budget; the last grid is saved."""

    def __init__(self, budgets: list[float], grid_path: str = "", records_path: str = "") -> None:
        super().__init__(budgets)
        self.grid_path = grid_path
        self.records_path = records_path
        self.judge = Judge()

    def _measure(self, trainer: pl.Trainer, pl_module: Any, trained: float) -> None:
        super()._measure(trainer, pl_module, trained)
        if self.records_path:  # every budget reached so far, so a run stopped early keeps what it measured
            Path(self.records_path).write_text(json.dumps(self.records))

    def score(self, trainer: pl.Trainer, pl_module: Any) -> dict[str, Any]:
        samples = pl_module.sample(EVAL_IMAGES, seed=0)
        if self.grid_path and not self.budgets:
            from gen_framework.data import save_image_grid

            save_image_grid(samples[:64], self.grid_path, nrow=8)
        record = self.judge(samples)
        # Training throughput so far: real images per CPU second of training (scoring excluded).
        trained = time.process_time() - self._cpu_start - self._excluded
        batch = trainer.datamodule.batch_size
        record["images_per_cpu_second"] = round(trainer.global_step * batch / trained, 1) if trainer.global_step else 0
        return record


def worker(
    kind: str, seed: int, budgets: list[float], threads: int, out: Path, grid: str) -> None:
    """One model's quality run (in its own process, so its CPU time is its own)."""
    torch.set_num_threads(threads)
    from gen_framework.cli import run_lightning_cli

    base, _, variant = kind.partition(":")  # "stylegan_lite:batch16" is a --screen variant of the mnist config
    config, extra = CONFIGS[base]
    extra = [*extra, *SCREEN.get(variant, [])]
    probe = {"class_path": "__main__.QualityProbe",
             "init_args": {"budgets": budgets, "grid_path": grid, "records_path": str(out)}}
    with tempfile.TemporaryDirectory(prefix=f"genfw_bench_{kind}_") as tmp:
        cli = run_lightning_cli([
            "fit", "--config", str(config), *extra, "--seed_everything", str(seed), "--trainer.max_steps", "1000000",
            "--trainer.default_root_dir", tmp, "--trainer.logger", "false", "--checkpoint.dirpath", tmp,
            "--trainer.enable_progress_bar", "false", "--trainer.limit_val_batches", "0",
            "--trainer.callbacks+", json.dumps(probe),
        ])
    records = next(c for c in cli.trainer.callbacks if isinstance(c, QualityProbe)).records
    out.write_text(json.dumps(records))


def read_runs(directory: Path, seeds: list[int]) -> dict[str, list[list[dict[str, Any]]]]:
    """Every model's per-seed records from ``directory/<kind>_<seed>.json``, all cut to the budgets that every
    run reached (a run stopped before its last budget keeps the ones it reached)."""
    runs = {kind: [json.loads((directory / f"{kind}_{seed}.json").read_text()) for seed in seeds] for kind in CONFIGS}
    reached = min(len(records) for per_seed in runs.values() for records in per_seed)
    return {kind: [records[:reached] for records in per_seed] for kind, per_seed in runs.items()}


# ------------------------------------------------------------------ speed


def step_times(config: str, steps: int, fused: bool, threads: int) -> float:
    """Median CPU seconds (``time.process_time``) per training step (D update + G update, no regulariser) of
    the config's model at its batch size."""
    import yaml

    from gen_framework_stylegan_lite import StyleGANLite

    torch.set_num_threads(threads)
    content = yaml.safe_load((REPO / "configs" / "stylegan_lite" / f"{config}.yaml").read_text())
    data_args = content["data"]["init_args"]
    init = {k: v for k, v in content["model"]["init_args"].items() if not str(v).startswith("${")}
    torch.manual_seed(0)
    model = StyleGANLite(image_size=data_args["image_size"], channels=data_args["channels"],
                         **{**init, "fused_modconv": fused})
    model.train()
    opt_g, opt_d = model.configure_optimizers()
    batch = data_args["batch_size"]
    real = torch.rand(batch, data_args["channels"], data_args["image_size"], data_args["image_size"]) * 2 - 1
    times = []
    for _ in range(steps + 1):
        began = time.process_time()
        with torch.no_grad():
            fake = model.generate(model.sample_latent(batch))
        loss_d = model.discriminator_loss(model.discriminator(real), model.discriminator(fake))
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = model.generator_loss(model.discriminator(model.generate(model.sample_latent(batch))))
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        times.append(time.process_time() - began)
    return statistics.median(times[1:])


# ------------------------------------------------------------------ main


def medians(per_seed: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per budget (the i-th record of every run), the median of each number over the runs."""
    table = []
    for records in zip(*per_seed):
        table.append({key: round(statistics.median(r[key] for r in records), 3) for key in records[0]})
    return table


def markdown_table(results: dict[str, Any]) -> str:
    """The README/docs table, rendered from the results JSON (``python benchmarks/stylegan_lite.py --table``)."""
    style, dcgan = results["stylegan_lite_quality"], results["dcgan_quality"]
    lines = ["| CPU time | StyleGAN-lite FD-digits (× floor) | DCGAN FD-digits (× floor) | classes read "
             "confidently (StyleGAN / DCGAN) | images per CPU second (StyleGAN / DCGAN) |", "|---|---|---|---|---|"]
    for s, d in zip(style["median_over_seeds"], dcgan["median_over_seeds"]):
        lines.append(f"| {s['cpu_seconds'] / 60:.1f} min | {s['fd_digits']:.1f} ({s['fd_ratio']:.1f}×) | "
                     f"{d['fd_digits']:.1f} ({d['fd_ratio']:.1f}×) | {s['classes_covered']:.0f} / "
                     f"{d['classes_covered']:.0f} | {s['images_per_cpu_second']:.0f} / {d['images_per_cpu_second']:.0f} |")
    return "\n".join(lines)


def train_side_by_side(args: argparse.Namespace, runs_dir: Path) -> None:
    """Every model and seed trains at once, each in its own process with its own CPU clock; each run's records
    go to ``runs_dir/<kind>_<seed>.json``."""
    budgets = json.dumps([60 * m for m in args.minutes])
    workers = {}
    for seed in args.seeds:
        for kind in CONFIGS:
            grid = "" if args.quick or seed != args.seeds[0] else str(DOCS / f"{kind}_mnist_samples.png")
            command = [sys.executable, __file__, "--threads", str(args.threads), "--worker", kind, str(seed),
                       budgets, str(runs_dir / f"{kind}_{seed}.json"), grid]
            workers[kind, seed] = subprocess.Popen(command, cwd=REPO)
    for (kind, seed), process in workers.items():
        if process.wait() != 0:
            raise SystemExit(f"the {kind} worker (seed {seed}) failed with exit code {process.returncode}")


def screen(args: argparse.Namespace) -> int:
    """Variants of the mnist config (``SCREEN``) at the first ``--minutes`` budget, one worker at a time, for each
    of ``--seeds``; the batch-64 record of the same seed and budget is taken from ``--output``. Runs of other
    seeds already in the screen's results are kept."""
    budget = 60 * args.minutes[0]
    Judge()  # trains the framework's digit classifier once, so the workers find it cached
    rows: dict[str, Any] = json.loads(SCREEN_RESULTS.read_text())["results"] if SCREEN_RESULTS.is_file() else {}
    recorded = json.loads(args.output.read_text())["results"]["stylegan_lite_quality"]["runs"]
    rows.setdefault("batch64", {"options": [], "runs": {}})
    with tempfile.TemporaryDirectory(prefix="genfw_screen_") as tmp:
        for seed in args.seeds:
            rows["batch64"]["runs"][str(seed)] = next(
                r for r in recorded[str(seed)] if abs(r["cpu_seconds"] - budget) < 5)
            for variant in args.screen:
                out = Path(tmp) / f"{variant}_{seed}.json"
                command = [sys.executable, __file__, "--threads", str(args.threads), "--worker",
                           f"stylegan_lite:{variant}", str(seed), json.dumps([budget]), str(out), ""]
                if subprocess.call(command, cwd=REPO) != 0:
                    raise SystemExit(f"the {variant} worker (seed {seed}) failed")
                entry = rows.setdefault(variant, {"options": SCREEN[variant], "runs": {}})
                entry["runs"][str(seed)] = json.loads(out.read_text())[-1]
                print(variant, seed, entry["runs"][str(seed)], flush=True)
    settings = {"minutes": args.minutes[0], "eval_images": EVAL_IMAGES,
                "batch64": f"configs/stylegan_lite/mnist.yaml, the records of {args.output.name}",
                "variants": "one at a time, each in its own process; CPU time per process"}
    path = write_results("stylegan_lite_batch_screen", rows, output=SCREEN_RESULTS, extra={"settings": settings})
    print(f"written to {path}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 2.5, 5.0], help="CPU budgets")
    parser.add_argument("--steps", type=int, default=10, help="timed steps per speed run")
    parser.add_argument("--repeats", type=int, default=3, help="speed runs per setting")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--table", action="store_true", help="print the markdown table of --output and exit")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="one run per model and seed")
    parser.add_argument("--runs-dir", type=Path, help="keep each run's records here (default: a temporary folder)")
    parser.add_argument("--assemble", action="store_true",
                        help="train nothing: build the results from the records in --runs-dir (runs stopped early "
                             "count up to the budgets every run reached)")
    parser.add_argument("--skip-speed", action="store_true",
                        help="keep the step-time section of the existing --output instead of measuring it")
    parser.add_argument("--screen", nargs="+", choices=sorted(SCREEN),
                        help="train these variants of the mnist config (one at a time, each of --seeds, the first "
                             "--minutes budget) and write them beside the batch-64 records to " + SCREEN_RESULTS.name)
    parser.add_argument("--worker", nargs=5, metavar=("KIND", "SEED", "BUDGETS", "OUT", "GRID"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    import logging
    import warnings

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    if args.worker:
        kind, seed, budgets, out, grid = args.worker
        sys.argv = sys.argv[:1]
        worker(kind, int(seed), json.loads(budgets), args.threads, Path(out), grid)
        return 0
    if args.table:
        print(markdown_table(json.loads(args.output.read_text())["results"]))
        return 0
    if args.screen:
        return screen(args)
    if args.quick:
        args.minutes, args.steps, args.repeats, args.seeds = [1 / 3], 3, 1, [0]
    torch.set_num_threads(args.threads)
    began = time.perf_counter()

    judge = Judge()  # trains the framework's digit classifier once, so the workers find it cached
    data = mnist_data()
    floor = judge(stack(data.splits.train, EVAL_IMAGES))
    noise = judge(torch.rand(EVAL_IMAGES, 1, IMAGE_SIZE, IMAGE_SIZE) * 2 - 1)
    print(f"real training digits score {floor}; uniform noise {noise}", flush=True)
    results: dict[str, Any] = {
        "metric": {"name": "fd_digits", "feature_network": "gen_framework trained digit classifier (128-d)",
                   "real_vs_real_floor": floor, "uniform_noise": noise, "eval_images": EVAL_IMAGES},
    }

    DOCS.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="genfw_bench_") as tmp:
        runs_dir = args.runs_dir or Path(tmp)
        runs_dir.mkdir(parents=True, exist_ok=True)
        if not args.assemble:
            train_side_by_side(args, runs_dir)
        runs = read_runs(runs_dir, args.seeds)
        for kind, per_seed in runs.items():
            results[f"{kind}_quality"] = {"median_over_seeds": medians(per_seed),
                                          "runs": dict(zip(map(str, args.seeds), per_seed))}
    style, dcgan = results["stylegan_lite_quality"]["median_over_seeds"][-1], results["dcgan_quality"][
        "median_over_seeds"][-1]
    results["goals"] = {
        "fd_ratio_to_dcgan": round(style["fd_digits"] / dcgan["fd_digits"], 2), "fd_goal": "<= 1.5",
        "all_classes_every_seed": all(r[-1]["classes_covered"] == 10
                                      for r in results["stylegan_lite_quality"]["runs"].values()),
        "throughput_ratio_dcgan_over_stylegan": round(
            dcgan["images_per_cpu_second"] / max(style["images_per_cpu_second"], 1e-9), 2),
        "throughput_goal": "<= 2",
    }

    speed: dict[str, Any] = {}
    if args.skip_speed and args.output.is_file():
        speed = json.loads(args.output.read_text())["results"].get("speed_batch32", {})
    for config in () if args.skip_speed else ("mnist",):
        for fused in (True, False):
            runs = [step_times(config, args.steps, fused, args.threads) for _ in range(args.repeats)]
            speed[f"{config}_{'fused' if fused else 'unfused'}_ms_per_step"] = round(1e3 * statistics.median(runs), 1)
            print(f"speed {config} fused={fused}: {[round(1e3 * r, 1) for r in runs]} ms/step", flush=True)
    results["speed_batch32"] = speed

    reached = [round(r["cpu_seconds"] / 60, 2) for r in results["stylegan_lite_quality"]["median_over_seeds"][1:]]
    settings = {"minutes": args.minutes, "minutes_reached_by_every_run": reached, "seeds": args.seeds,
                "eval_images": EVAL_IMAGES, "speed_steps": args.steps, "speed_repeats": args.repeats,
                "speed": "kept from the previous results" if args.skip_speed else "measured"}
    path = write_results("stylegan_lite", results, output=args.output,
                         extra={"settings": settings, "wall_seconds": round(time.perf_counter() - began, 1)})
    print(json.dumps(results, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
