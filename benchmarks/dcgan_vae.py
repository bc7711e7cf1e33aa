"""Benchmark of the DCGAN and ConvVAE plugins: framework overhead per step, and quality per CPU minute.

1. Overhead. The median time of one training iteration (from the start of one batch to the start of the
   next: data loading, the update, logging, callbacks, progress bar), in process CPU time and in wall time,
   under ``genfw fit --config
   configs/<plugin>/mnist.yaml`` — the real CLI, Trainer, logger and module — against a plain PyTorch loop
   over the same networks (same init args and seed), the same optimisers (``configure_optimizers``) and the
   same batches (the same datamodule's loader). Runs alternate, genfw then plain, ``--repeats`` times; the
   first ``WARMUP_STEPS`` iterations of each run are dropped; medians are reported. With one thread, CPU
   time is the steadier measure on a machine shared with other work (wall time counts waiting for a core).
2. Quality per CPU minute. ``genfw fit`` with the same config is stopped after 1 and 2 minutes of process
   CPU time (time spent measuring excluded). DCGAN: a small CNN trained on the real digits reads 500 samples
   (share read with softmax >= 0.9, classes covered); the same classifier's score on 500 real validation
   digits is the ceiling. VAE: IWAE bound (k=64) on 500 validation digits, nats per image.

Threads are pinned with ``torch.set_num_threads`` (default 1, which keeps numbers steadier on a shared
machine). Results are printed and written to ``benchmarks/results/dcgan_vae.json``.

    python benchmarks/dcgan_vae.py                 # about 10 minutes on a quiet 2-core CPU
    python benchmarks/dcgan_vae.py --quick         # a smoke run: few steps, 10-second budgets
    python benchmarks/dcgan_vae.py --parts overhead  # re-measure one part, keeping the other's results
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS_DIR, write_results  # noqa: E402
from cpu_budget import CPUBudgetProbe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = RESULTS_DIR / "dcgan_vae.json"
CONFIGS = {"dcgan": REPO / "configs" / "dcgan" / "mnist.yaml", "vae": REPO / "configs" / "vae" / "mnist.yaml"}
WARMUP_STEPS = 5
EVAL_IMAGES = 500
IWAE_K = 64

# Filled in by main() before any fit runs; the callbacks below read it.
CLASSIFIER: torch.nn.Module | None = None


def clocks() -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process)."""
    return time.perf_counter(), time.process_time()


def step_times(starts: list[tuple[float, float]]) -> dict[str, list[float]]:
    """Wall and CPU seconds between consecutive iteration starts, warm-up iterations dropped."""
    pairs = list(zip(starts, starts[1:]))[WARMUP_STEPS:]
    return {"wall": [b[0] - a[0] for a, b in pairs], "cpu": [b[1] - a[1] for a, b in pairs]}


class StepTimer(pl.Callback):
    """Records the wall and CPU clocks at the start of every training batch."""

    def __init__(self) -> None:
        self.starts: list[tuple[float, float]] = []

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        self.starts.append(clocks())


class QualityProbe(CPUBudgetProbe):
    """Digit-classifier scores (DCGAN) or the IWAE bound (VAE) at each CPU budget."""

    def __init__(self, kind: str, budgets: list[float]) -> None:
        super().__init__(budgets)
        self.kind = kind

    def label(self, pl_module: Any) -> str:
        return self.kind

    def score(self, trainer: pl.Trainer, model: Any) -> dict[str, Any]:
        was_training = model.training
        try:
            if self.kind == "dcgan":
                from gen_framework_dcgan.digit_score import digit_scores

                assert CLASSIFIER is not None
                scores = digit_scores(CLASSIFIER, model.sample(EVAL_IMAGES, seed=0))
                return {"confident_fraction": round(scores.confident_fraction, 3),
                        "classes_covered": scores.classes_covered,
                        "mean_confidence": round(scores.mean_confidence, 3)}
            images = validation_images(trainer.datamodule)
            model.eval()
            torch.manual_seed(0)
            nll = torch.cat([model.iwae_nll(chunk, IWAE_K) for chunk in images.split(100)])
            return {"iwae_nll_nats": round(float(nll.mean()), 2)}
        finally:
            model.train(was_training)


def validation_images(datamodule: Any) -> torch.Tensor:
    """The first ``EVAL_IMAGES`` validation images ``(N, 1, 28, 28)`` in [-1, 1]."""
    dataset = datamodule.splits.val
    return torch.stack([dataset[i][0] for i in range(min(EVAL_IMAGES, len(dataset)))])


def genfw_fit(kind: str, workdir: Path, extra: list[str], callbacks: list[dict[str, Any]]) -> Any:
    """Run ``genfw fit --config configs/<kind>/mnist.yaml`` in this process; returns the finished CLI."""
    from gen_framework.cli import run_lightning_cli

    args = [
        "fit", "--config", str(CONFIGS[kind]),
        "--trainer.default_root_dir", str(workdir), "--trainer.logger.init_args.save_dir", str(workdir),
        *extra,
    ]
    for callback in callbacks:
        args += ["--trainer.callbacks+", json.dumps(callback)]
    return run_lightning_cli(args)


def found(cli: Any, cls: type) -> Any:
    return next(c for c in cli.trainer.callbacks if isinstance(c, cls))


def plain_loop(kind: str, steps: int) -> dict[str, list[float]]:
    """The same networks, optimisers and batches as the config, trained by a hand-written loop."""
    from gen_framework.data import MNIST
    from gen_framework_dcgan import DCGAN
    import yaml

    from gen_framework_vae import ConvVAE

    config = yaml.safe_load(CONFIGS[kind].read_text())
    init = {k: v for k, v in config["model"]["init_args"].items() if not str(v).startswith("${")}
    data_args = config["data"]["init_args"]
    pl.seed_everything(config["seed_everything"], verbose=False)
    model = (DCGAN if kind == "dcgan" else ConvVAE)(
        image_size=data_args["image_size"], channels=data_args["channels"], **init
    )
    data = MNIST(**data_args)
    starts: list[tuple[float, float]] = []
    if kind == "dcgan":
        generator, discriminator = model.generator, model.discriminator
        opt_g, opt_d = model.configure_optimizers()
        # The config samples from a generator EMA; the plain loop keeps one too (parameters and BatchNorm
        # statistics, as AveragedModel(use_buffers=True) does).
        live = [t for t in (*generator.parameters(), *generator.buffers()) if t.is_floating_point()]
        averaged = [t.detach().clone() for t in live]
        decay = model.ema_decay
        batches = iter(cycle(data))
        for _ in range(steps + 1):
            starts.append(clocks())
            real, _labels = next(batches)
            with torch.no_grad():
                fake = generator(torch.randn(real.shape[0], model.latent_dim))
            loss_d = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake)).mean()
            opt_d.zero_grad(set_to_none=True)
            loss_d.backward()
            opt_d.step()
            discriminator.requires_grad_(False)
            loss_g = F.softplus(-discriminator(generator(torch.randn(real.shape[0], model.latent_dim)))).mean()
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
            discriminator.requires_grad_(True)
            if decay is not None:
                with torch.no_grad():
                    torch._foreach_lerp_(averaged, [t.detach() for t in live], 1.0 - decay)
    else:
        optimiser = model.configure_optimizers()
        batches = iter(cycle(data))
        for step in range(steps + 1):
            starts.append(clocks())
            x, _labels = next(batches)
            mean, log_var = model.encoder(x)
            z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
            target = ((x + 1) / 2).clamp(0, 1)
            recon = F.binary_cross_entropy_with_logits(model.decoder(z), target, reduction="none").flatten(1).sum(1)
            kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(1)
            weight = min(1.0, step / model.kl_warmup_steps) if model.kl_warmup_steps else 1.0
            loss = (recon + weight * kl).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return step_times(starts)


def cycle(data: Any) -> Any:
    while True:
        yield from data.train_dataloader()


def overhead(kind: str, steps: int, repeats: int, workdir: Path) -> dict[str, Any]:
    medians: dict[str, dict[str, list[float]]] = {"genfw": {"wall": [], "cpu": []}, "plain": {"wall": [], "cpu": []}}
    for repeat in range(repeats):
        cli = genfw_fit(kind, workdir / f"{kind}_overhead_{repeat}", ["--trainer.max_steps", str(steps)],
                        [{"class_path": "__main__.StepTimer"}])
        runs = {"genfw": step_times(found(cli, StepTimer).starts), "plain": plain_loop(kind, steps)}
        for path, times in runs.items():
            for clock in ("wall", "cpu"):
                medians[path][clock].append(statistics.median(times[clock]) * 1e3)
        print(f"  [{kind}] repeat {repeat}: genfw {medians['genfw']['cpu'][-1]:.1f} ms CPU "
              f"({medians['genfw']['wall'][-1]:.1f} wall), plain {medians['plain']['cpu'][-1]:.1f} ms CPU "
              f"({medians['plain']['wall'][-1]:.1f} wall) per step", flush=True)
    result: dict[str, Any] = {"steps_per_run": steps, "repeats": repeats}
    for clock in ("cpu", "wall"):
        genfw_ms = statistics.median(medians["genfw"][clock])
        plain_ms = statistics.median(medians["plain"][clock])
        result[clock] = {
            "genfw_ms_per_step": round(genfw_ms, 2), "plain_ms_per_step": round(plain_ms, 2),
            "overhead_percent": round(100 * (genfw_ms / plain_ms - 1), 1),
            "genfw_each_repeat": [round(m, 2) for m in medians["genfw"][clock]],
            "plain_each_repeat": [round(m, 2) for m in medians["plain"][clock]],
        }
    return result


def quality(kind: str, budgets: list[float], workdir: Path) -> list[dict[str, Any]]:
    probe = {"class_path": "__main__.QualityProbe", "init_args": {"kind": kind, "budgets": budgets}}
    cli = genfw_fit(kind, workdir / f"{kind}_quality", ["--trainer.max_steps", "100000"], [probe])
    return found(cli, QualityProbe).records


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60, help="training steps per overhead run")
    parser.add_argument("--minutes", type=float, nargs="+", default=[1.0, 2.0], help="CPU budgets for quality")
    parser.add_argument("--quick", action="store_true", help="smoke run: 15 steps, 2 repeats, 10 s budgets")
    parser.add_argument("--parts", nargs="+", choices=["overhead", "quality"], default=["overhead", "quality"],
                        help="what to measure; a partial run updates those entries of an existing --output")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats, args.minutes = 15, 2, [1 / 6]
    torch.set_num_threads(args.threads)
    os.environ.setdefault("GEN_FRAMEWORK_DEBUG", "1")
    import logging
    import warnings

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    # Progress bars would interleave with the printed results; everything else stays as genfw fit runs it.
    sys.argv = sys.argv[:1]

    global CLASSIFIER
    from gen_framework.data import MNIST
    from gen_framework_dcgan.digit_score import digit_scores, train_digit_classifier

    began = time.perf_counter()
    CLASSIFIER, accuracy = train_digit_classifier()
    real = digit_scores(CLASSIFIER, validation_images(MNIST()))
    print(f"digit classifier: validation accuracy {accuracy:.3f}; on real digits "
          f"{real.confident_fraction:.3f} read with softmax >= 0.9, {real.classes_covered} classes", flush=True)

    results: dict[str, Any] = {"digit_classifier": {
        "val_accuracy": round(accuracy, 4), "real_digits_confident_fraction": round(real.confident_fraction, 3),
        "real_digits_classes_covered": real.classes_covered,
    }}
    with tempfile.TemporaryDirectory(prefix="genfw_bench_") as tmp:
        workdir = Path(tmp)
        for kind in ("dcgan", "vae"):
            if "overhead" in args.parts:
                print(f"{kind}: overhead of genfw fit over a plain loop", flush=True)
                results[f"{kind}_overhead"] = overhead(kind, args.steps, args.repeats, workdir)
            if "quality" in args.parts:
                print(f"{kind}: quality per CPU minute", flush=True)
                results[f"{kind}_quality"] = quality(kind, [60 * m for m in args.minutes], workdir)

    if set(args.parts) != {"overhead", "quality"} and args.output.is_file():
        previous = json.loads(args.output.read_text())
        results = {**previous.get("results", {}), **results}
    settings = {"steps": args.steps, "repeats": args.repeats, "minutes": args.minutes,
                "warmup_steps_dropped": WARMUP_STEPS, "eval_images": EVAL_IMAGES, "iwae_k": IWAE_K}
    path = write_results("dcgan_vae", results, output=args.output,
                         extra={"settings": settings, "wall_seconds": round(time.perf_counter() - began, 1)})
    print(json.dumps(results, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
