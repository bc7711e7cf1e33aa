"""Benchmark of the DCGAN and ConvVAE plugins: framework overhead per step, and quality per CPU minute.

1. Overhead. The time of one training iteration (from the start of one batch to the start of the next:
   data loading, the update, logging, callbacks, progress bar), in process CPU time and in wall time, under
   ``genfw fit --config configs/<plugin>/mnist.yaml`` (the real CLI, Trainer, logger and module) against a
   plain PyTorch loop over the same networks (same init args and seed), the same optimisers
   (``configure_optimizers``) and the same batches (the same datamodule's loader). Two more runs split the
   difference: the plain loop's update written as a minimal LightningModule under a bare ``pl.Trainer`` (no
   logger, callbacks, checkpoints or progress bar: Lightning's own loop), and the plugin's module under the
   same bare Trainer (its family base's step). The four runs alternate ``--repeats`` times, their order
   rotating from round to round; the first
   ``WARMUP_STEPS`` iterations of each run are dropped and each run gives its medians.

   The speed of the same convolutions drifts by 10-30% from one minute to the next on a shared machine, more
   than the few percent being measured. So every step is also split into *compute* (forward passes of the
   networks, backward passes, Adam's arithmetic: the same work in every loop, timed by
   ``compute_clock.ComputeClock``) and *other* (everything around it). A slow spell stretches both alike,
   so a run's ratio r = other / compute is steady where its times are not: the compute-matched overhead,
   the verdict, is (1 + r_genfw) / (1 + r_plain) - 1 with each r the median over repeats. The ratio of the
   raw medians is reported beside it. With many short rounds (``--repeats 20 --steps 30``) the same shares
   are also taken within each round, where the four runs are seconds apart and drift cancels, and the median
   over rounds (``paired_*``, with quartiles and a bootstrap interval) resolves sub-percent differences.
2. Quality per CPU minute. ``genfw fit`` with the same config is stopped after 1 and 2 minutes of process
   CPU time (time spent measuring excluded). DCGAN: the framework's digit judge
   (``gen_framework.metrics.digits``, trained on the real digits and cached) reads 500 samples (share read with
   softmax >= 0.9, classes covered, FD-digits); the same classifier's score on 500 real validation digits is
   the ceiling. VAE: IWAE bound (k=64) on 500 validation digits, nats per image.

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
import random
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
from compute_clock import ComputeClock, matched_overhead_percent  # noqa: E402
from cpu_budget import CPUBudgetProbe  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
RESULTS = RESULTS_DIR / "dcgan_vae.json"
CONFIGS = {"dcgan": REPO / "configs" / "dcgan" / "mnist.yaml", "vae": REPO / "configs" / "vae" / "mnist.yaml"}
WARMUP_STEPS = 5
EVAL_IMAGES = 500
IWAE_K = 64

NETWORKS = ("generator", "discriminator", "encoder", "decoder")  # what the compute clock times, where present

# Filled in by main() before any fit runs; the callbacks below read it.
CLASSIFIER: torch.nn.Module | None = None
REAL_DIGITS: torch.Tensor | None = None  # the first EVAL_IMAGES validation digits, FD-digits' reference
SHADOW_EMA: list[float] = []  # --shadow-ema: other generator EMA decays scored beside the config's
TRUNCATION: list[float] = []  # --truncation: sampling truncation psi values scored beside psi = 1
SCORE_STEPS: list[int] = []  # --score-steps: also score at these generator updates (another config's max_steps)
COMPUTE = ComputeClock()


def clocks() -> tuple[float, float, float]:
    """(wall seconds, CPU seconds of this process, CPU seconds spent in network compute so far)."""
    return time.perf_counter(), time.process_time(), COMPUTE.seconds


def step_times(starts: list[tuple[float, float, float]]) -> dict[str, list[float]]:
    """Wall, CPU, compute and other (CPU minus compute) seconds per iteration, warm-up iterations dropped."""
    pairs = list(zip(starts, starts[1:]))[WARMUP_STEPS:]
    times: dict[str, list[float]] = {"wall": [b[0] - a[0] for a, b in pairs], "cpu": [b[1] - a[1] for a, b in pairs],
                                     "compute": [b[2] - a[2] for a, b in pairs]}
    times["other"] = [cpu - compute for cpu, compute in zip(times["cpu"], times["compute"])]
    return times


def watch_networks(model: torch.nn.Module) -> None:
    COMPUTE.watch(*(getattr(model, name) for name in NETWORKS if hasattr(model, name)))


class StepTimer(pl.Callback):
    """Records the clocks at the start of every training batch."""

    def __init__(self) -> None:
        self.starts: list[tuple[float, float, float]] = []

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        watch_networks(pl_module)

    def on_train_batch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule, batch: Any, idx: int) -> None:
        self.starts.append(clocks())


class QualityProbe(CPUBudgetProbe):
    """Digit-classifier scores (DCGAN) or the IWAE bound (VAE) at each CPU budget."""

    def __init__(
        self, kind: str, budgets: list[float], at_end: bool = False, shadow_ema: list[float] | None = None
    ) -> None:
        super().__init__(budgets)
        self.kind, self.at_end = kind, at_end
        # Other decays of the generator EMA, kept beside the config's and scored too: sampling from an average
        # does not change training, so one run compares several decays (each warmed up as ema_warmup does).
        self.shadow_decays = list(shadow_ema or [])
        self.shadows: dict[float, Any] = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: Any) -> None:
        from torch.optim.swa_utils import AveragedModel

        for decay in self.shadow_decays:
            def blend(averaged: Any, current: Any, num_averaged: Any, decay: float = decay) -> None:
                step = trainer.global_step
                pairs = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]  # not BN's step count
                if not pairs:
                    return
                torch._foreach_lerp_([a for a, _ in pairs], [c for _, c in pairs],
                                     1.0 - min(decay, (1 + step) / (10 + step)))
            self.shadows[decay] = AveragedModel(pl_module.generator, multi_avg_fn=blend, use_buffers=True)
            self.shadows[decay].requires_grad_(False)
        super().on_train_start(trainer, pl_module)

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: Any, *args: Any) -> None:
        began = time.process_time()
        for shadow in self.shadows.values():
            shadow.update_parameters(pl_module.generator)
        self._excluded += time.process_time() - began  # the config's own EMA is counted; these extras are not
        if trainer.global_step in SCORE_STEPS:
            # A shorter config of the same recipe ends here in the same state (same seed, same updates so far).
            self._measure(trainer, pl_module, time.process_time() - self._cpu_start - self._excluded)
        super().on_train_batch_end(trainer, pl_module, *args)

    def label(self, pl_module: Any) -> str:
        return self.kind

    def on_train_end(self, trainer: pl.Trainer, pl_module: Any) -> None:
        """With ``at_end``: one more record when the run stops at its own ``max_steps`` (the main job's end)."""
        if self.at_end and self.records and self.records[-1]["steps"] != trainer.global_step:
            self._measure(trainer, pl_module, time.process_time() - self._cpu_start - self._excluded)

    def score(self, trainer: pl.Trainer, model: Any) -> dict[str, Any]:
        was_training = model.training
        try:
            if self.kind == "dcgan":
                samples = model.sample(EVAL_IMAGES, seed=0)
                record = digit_record(samples)
                for psi in TRUNCATION:
                    # Sampling only: the same weights, latents scaled by psi (variety traded for fidelity).
                    truncated = digit_record(model.sample(EVAL_IMAGES, seed=0, truncation_psi=psi))
                    record[f"psi_{psi}"] = {k: truncated[k] for k in ("confident_fraction", "min_class_share",
                                                                       "fd_digits")}
                for decay, shadow in self.shadows.items():
                    # The shadow's weights stand in for the config's EMA while sampling, then are put back.
                    target = model.ema["generator"].module
                    kept = {k: v.clone() for k, v in target.state_dict().items()}
                    target.load_state_dict(shadow.module.state_dict())
                    try:
                        other = digit_record(model.sample(EVAL_IMAGES, seed=0))
                    finally:
                        target.load_state_dict(kept)
                    record[f"ema_{decay}"] = {k: other[k] for k in ("confident_fraction", "min_class_share",
                                                                    "fd_digits")}
                return record
            images = validation_images(trainer.datamodule)
            model.eval()
            torch.manual_seed(0)
            nll = torch.cat([model.iwae_nll(chunk, IWAE_K) for chunk in images.split(100)])
            return {"iwae_nll_nats": round(float(nll.mean()), 2)}
        finally:
            model.train(was_training)


def digit_record(samples: torch.Tensor) -> dict[str, Any]:
    """The digit judge's verdict on samples ``(N, 1, S, S)`` (S the judge's size), rounded for the JSON."""
    from gen_framework.metrics.digits import digit_feature_distance, digit_scores

    assert CLASSIFIER is not None and REAL_DIGITS is not None
    scores = digit_scores(CLASSIFIER, samples)
    return {"confident_fraction": round(scores.confident_fraction, 3), "classes_covered": scores.classes_covered,
            "min_class_share": round(scores.min_class_share, 3), "mean_confidence": round(scores.mean_confidence, 3),
            "fd_digits": round(digit_feature_distance(CLASSIFIER, samples, REAL_DIGITS), 2)}


def validation_images(datamodule: Any) -> torch.Tensor:
    """The first ``EVAL_IMAGES`` validation images ``(N, 1, S, S)`` in [-1, 1]."""
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


def config_model_and_data(kind: str) -> tuple[Any, Any]:
    """The config's module and datamodule, built directly (seeded as the config seeds them)."""
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
    return model, MNIST(**data_args)


def bare_lightning(kind: str, steps: int, workdir: Path) -> dict[str, list[float]]:
    """The config's module and datamodule under a bare ``pl.Trainer``: the family base's step in Lightning's loop."""
    model, data = config_model_and_data(kind)
    return bare_trainer_fit(model, data, steps, workdir)


def minimal_lightning(kind: str, steps: int, workdir: Path) -> dict[str, list[float]]:
    """The plain loop's update written as a LightningModule, under a bare ``pl.Trainer``: Lightning's own cost."""
    model, data = config_model_and_data(kind)
    # Manual optimisation counts every optimiser step, two per GAN iteration.
    iterations = 2 if kind == "dcgan" else 1
    return bare_trainer_fit(MinimalLightning(kind, model), data, steps, workdir, steps_per_iteration=iterations)


def bare_trainer_fit(
    module: pl.LightningModule, data: Any, steps: int, workdir: Path, steps_per_iteration: int = 1
) -> dict[str, list[float]]:
    timer = StepTimer()
    trainer = pl.Trainer(
        max_steps=steps * steps_per_iteration, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0, callbacks=[timer],
        default_root_dir=workdir,
    )
    trainer.fit(module, datamodule=data)
    return step_times(timer.starts)


class PlainGAN:
    """The config's DCGAN update, hand-written: its losses (hinge or non-saturating), D then G, and the generator
    EMA."""

    def __init__(self, model: Any) -> None:
        self.generator, self.discriminator, self.latent_dim = model.generator, model.discriminator, model.latent_dim
        if model.loss_type not in ("hinge", "non_saturating"):
            raise SystemExit(f"the plain loop writes the hinge and non-saturating losses, not {model.loss_type!r}")
        self.hinge = model.loss_type == "hinge"
        # The config samples from a generator EMA; the plain loop keeps one too (parameters and BatchNorm
        # statistics, as AveragedModel(use_buffers=True) does).
        self.live = [t for t in (*self.generator.parameters(), *self.generator.buffers()) if t.is_floating_point()]
        self.averaged = [t.detach().clone() for t in self.live]
        self.decay = model.ema_decay

    def update(self, real: torch.Tensor, opt_g: Any, opt_d: Any, backward: Any) -> None:
        generator, discriminator = self.generator, self.discriminator
        with torch.no_grad():
            fake = generator(torch.randn(real.shape[0], self.latent_dim))
        if self.hinge:
            loss_d = F.relu(1.0 - discriminator(real)).mean() + F.relu(1.0 + discriminator(fake)).mean()
        else:
            loss_d = F.softplus(-discriminator(real)).mean() + F.softplus(discriminator(fake)).mean()
        opt_d.zero_grad(set_to_none=True)
        backward(loss_d)
        opt_d.step()
        discriminator.requires_grad_(False)
        fake_logits = discriminator(generator(torch.randn(real.shape[0], self.latent_dim)))
        loss_g = -fake_logits.mean() if self.hinge else F.softplus(-fake_logits).mean()
        opt_g.zero_grad(set_to_none=True)
        backward(loss_g)
        opt_g.step()
        discriminator.requires_grad_(True)
        if self.decay is not None:
            with torch.no_grad():
                torch._foreach_lerp_(self.averaged, [t.detach() for t in self.live], 1.0 - self.decay)


def plain_vae_loss(model: Any, x: torch.Tensor, step: int) -> torch.Tensor:
    """The config's ConvVAE loss, hand-written: Bernoulli likelihood, Gaussian KL with linear warm-up."""
    mean, log_var = model.encoder(x)
    z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
    target = ((x + 1) / 2).clamp(0, 1)
    recon = F.binary_cross_entropy_with_logits(model.decoder(z), target, reduction="none").flatten(1).sum(1)
    kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(1)
    weight = min(1.0, step / model.kl_warmup_steps) if model.kl_warmup_steps else 1.0
    return (recon + weight * kl).mean()


class MinimalLightning(pl.LightningModule):
    """The plain loop's update as a LightningModule: manual optimisation for the GAN, automatic for the VAE."""

    def __init__(self, kind: str, model: Any) -> None:
        super().__init__()
        self.kind, self.optimisers = kind, model.configure_optimizers()
        self.automatic_optimization = kind == "vae"
        if kind == "dcgan":
            self.generator, self.discriminator = model.generator, model.discriminator
            self.gan = PlainGAN(model)
        else:
            self.encoder, self.decoder, self.kl_warmup_steps = model.encoder, model.decoder, model.kl_warmup_steps

    def configure_optimizers(self) -> Any:
        return self.optimisers

    def training_step(self, batch: Any, batch_idx: int) -> torch.Tensor | None:
        x, _labels = batch
        if self.kind == "vae":
            return plain_vae_loss(self, x, self.global_step)
        opt_g, opt_d = self.optimizers()
        self.gan.update(x, opt_g, opt_d, self.manual_backward)
        return None


def plain_loop(kind: str, steps: int) -> dict[str, list[float]]:
    """The same networks, optimisers and batches as the config, trained by a hand-written loop."""
    model, data = config_model_and_data(kind)
    watch_networks(model)
    starts: list[tuple[float, float, float]] = []
    batches = iter(cycle(data))
    if kind == "dcgan":
        gan = PlainGAN(model)
        opt_g, opt_d = model.configure_optimizers()
        for _ in range(steps + 1):
            starts.append(clocks())
            real, _labels = next(batches)
            gan.update(real, opt_g, opt_d, torch.Tensor.backward)
    else:
        optimiser = model.configure_optimizers()
        for step in range(steps + 1):
            starts.append(clocks())
            x, _labels = next(batches)
            loss = plain_vae_loss(model, x, step)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    return step_times(starts)


def cycle(data: Any) -> Any:
    while True:
        yield from data.train_dataloader()


def overhead(kind: str, steps: int, repeats: int, workdir: Path) -> dict[str, Any]:
    paths = ("genfw", "lightning", "minimal", "plain")
    clocks_reported = ("wall", "cpu", "compute", "other")
    medians: dict[str, dict[str, list[float]]] = {path: {clock: [] for clock in clocks_reported} for path in paths}
    with COMPUTE.installed():
        for repeat in range(repeats):
            def genfw_run() -> dict[str, list[float]]:
                cli = genfw_fit(kind, workdir / f"{kind}_overhead_{repeat}", ["--trainer.max_steps", str(steps)],
                                [{"class_path": "__main__.StepTimer"}])
                return step_times(found(cli, StepTimer).starts)

            arms = {
                "genfw": genfw_run,
                "lightning": lambda: bare_lightning(kind, steps, workdir / f"{kind}_bare_{repeat}"),
                "minimal": lambda: minimal_lightning(kind, steps, workdir / f"{kind}_minimal_{repeat}"),
                "plain": lambda: plain_loop(kind, steps),
            }
            # The order rotates from round to round, so no loop always runs first (or right after another).
            order = paths[repeat % len(paths):] + paths[: repeat % len(paths)]
            runs = {path: arms[path]() for path in order}
            for path, times in runs.items():
                for clock in clocks_reported:
                    medians[path][clock].append(statistics.median(times[clock]) * 1e3)
            print(f"  [{kind}] repeat {repeat}: " + ", ".join(
                f"{path} {medians[path]['cpu'][-1]:.1f} = {medians[path]['compute'][-1]:.1f} + {medians[path]['other'][-1]:.2f}"
                for path in paths
            ) + " ms CPU per step (= compute + other)", flush=True)
    result: dict[str, Any] = {"steps_per_run": steps, "repeats": repeats}
    for clock in ("cpu", "wall"):
        genfw_ms, lightning_ms, minimal_ms, plain_ms = (statistics.median(medians[path][clock]) for path in paths)
        result[clock] = {
            "genfw_ms_per_step": round(genfw_ms, 2), "lightning_ms_per_step": round(lightning_ms, 2),
            "minimal_ms_per_step": round(minimal_ms, 2), "plain_ms_per_step": round(plain_ms, 2),
            "overhead_percent": round(100 * (genfw_ms / plain_ms - 1), 1),
            "lightning_overhead_percent": round(100 * (lightning_ms / plain_ms - 1), 1),
            "minimal_overhead_percent": round(100 * (minimal_ms / plain_ms - 1), 1),
            **{f"{path}_each_repeat": [round(m, 2) for m in medians[path][clock]] for path in paths},
        }
    result["compute_matched"] = compute_matched(medians)
    return result


def compute_matched(medians: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """Overheads from each run's *other* time in units of its own compute time.

    A slow spell on a shared machine stretches compute and other alike, so ``r = other / compute`` of one run
    hardly moves while either alone drifts by tens of percent. With ``r`` the median over repeats, a loop's step
    is ``compute * (1 + r)`` and its overhead over the plain loop ``(1 + r) / (1 + r_plain) - 1``; the
    ``*_points`` split that into consecutive legs, in percent of the plain step, and add up to the total.
    """
    ratio = {path: statistics.median(o / c for o, c in zip(m["other"], m["compute"])) for path, m in medians.items()}
    base = 1.0 + ratio["plain"]
    result: dict[str, Any] = {
        **{f"{prefix}overhead_percent": round(matched_overhead_percent(ratio[path], ratio["plain"]), 1)
           for prefix, path in (("", "genfw"), ("lightning_", "lightning"), ("minimal_", "minimal"))},
        # Consecutive legs: Lightning's own loop, the family base's step, genfw's defaults.
        "lightning_loop_points": round(100 * (ratio["minimal"] - ratio["plain"]) / base, 2),
        "family_base_points": round(100 * (ratio["lightning"] - ratio["minimal"]) / base, 2),
        "genfw_defaults_points": round(100 * (ratio["genfw"] - ratio["lightning"]) / base, 2),
    }
    result.update(paired_rounds(medians))
    for path, m in medians.items():
        result[f"{path}_other_over_compute"] = round(ratio[path], 4)
        result[f"{path}_compute_ms"] = round(statistics.median(m["compute"]), 2)
        result[f"{path}_other_ms"] = round(statistics.median(m["other"]), 3)
        result[f"{path}_compute_each_repeat"] = [round(v, 2) for v in m["compute"]]
        result[f"{path}_other_each_repeat"] = [round(v, 3) for v in m["other"]]
    return result


def paired_rounds(medians: dict[str, dict[str, list[float]]]) -> dict[str, Any]:
    """The same shares taken within each round, then the median over rounds: the verdict with many short rounds.

    The four runs of a round follow each other within seconds, so a slow spell that spans a round stretches
    all four alike and cancels in the round's own ratios; the medians over rounds above pair nothing. Each
    ``paired_*`` value is the median over rounds (medians need not add up exactly); ``paired_genfw_share_*``
    adds the quartiles over rounds and a 90% bootstrap interval of the median (seeded, 2000 resamples).
    """
    ratios = {path: [o / c for o, c in zip(m["other"], m["compute"])] for path, m in medians.items()}
    rounds = range(len(ratios["plain"]))
    legs = {
        "lightning_loop": [(ratios["minimal"][i] - ratios["plain"][i]) / (1 + ratios["plain"][i]) for i in rounds],
        "family_base": [(ratios["lightning"][i] - ratios["minimal"][i]) / (1 + ratios["plain"][i]) for i in rounds],
        "genfw_defaults": [(ratios["genfw"][i] - ratios["lightning"][i]) / (1 + ratios["plain"][i]) for i in rounds],
    }
    shares = [100 * ((1 + ratios["genfw"][i]) / (1 + ratios["minimal"][i]) - 1) for i in rounds]
    result: dict[str, Any] = {f"paired_{leg}_points": round(100 * statistics.median(v), 2) for leg, v in legs.items()}
    result["paired_genfw_share_percent"] = round(statistics.median(shares), 2)
    result["paired_genfw_share_each_round"] = [round(v, 2) for v in shares]
    if len(shares) >= 4:
        low, _, high = statistics.quantiles(shares, n=4)
        result["paired_genfw_share_quartiles"] = [round(low, 2), round(high, 2)]
        draw = random.Random(0)
        boot = sorted(statistics.median(draw.choices(shares, k=len(shares))) for _ in range(2000))
        result["paired_genfw_share_ci90"] = [round(boot[100], 2), round(boot[1899], 2)]
    return result


def quality(
    kind: str, budgets: list[float], workdir: Path, seed: int = 0, extra: list[str] | None = None,
    config_steps: bool = False,
) -> list[dict[str, Any]]:
    """Scores at each CPU budget; with ``config_steps`` the run ends at the config's ``max_steps``, scored too."""
    probe = {"class_path": "__main__.QualityProbe",
             "init_args": {"kind": kind, "budgets": budgets, "at_end": config_steps, "shadow_ema": SHADOW_EMA}}
    options = ["--seed_everything", str(seed), *(extra or [])]
    if not config_steps:
        options = ["--trainer.max_steps", "100000", *options]
    cli = genfw_fit(kind, workdir / f"{kind}_quality_{seed}", options, [probe])
    return found(cli, QualityProbe).records


def over_seeds(
    kind: str, budgets: list[float], workdir: Path, seeds: list[int], extra: list[str], config_steps: bool = False
) -> Any:
    """One quality run per seed; with several seeds, ``{"runs": {seed: records}, "median_over_seeds": [...]}``."""
    runs = {}
    for seed in seeds:
        print(f"  [{kind}] seed {seed}{' with ' + ' '.join(extra) if extra else ''}", flush=True)
        runs[str(seed)] = quality(kind, budgets, workdir, seed, extra, config_steps)
    return combine_seeds(runs)


def combine_seeds(runs: dict[str, list[dict[str, Any]]]) -> Any:
    """One seed's records as they are; several as ``{"runs": ..., "median_over_seeds": ...}`` (record by record)."""
    if len(runs) == 1:
        return next(iter(runs.values()))
    medians = []
    for records in zip(*runs.values()):
        medians.append({key: statistics.median(r[key] for r in records) for key in records[0]
                        if isinstance(records[0][key], int | float)})
    return {"runs": runs, "median_over_seeds": medians}


def merge(paths: list[Path], output: Path) -> int:
    """Combine outputs of single-seed runs (one ``dcgan_quality*`` entry each) into one multi-seed entry."""
    documents = [json.loads(path.read_text()) for path in paths]
    first = documents[0]
    key = next(k for k in first["results"] if k.startswith("dcgan_quality"))
    runs = {str(doc["settings"]["seeds"][0]): doc["results"][key] for doc in documents}
    options = None
    if all(isinstance(r, dict) and "options" in r for r in runs.values()):
        options = next(iter(runs.values()))["options"]
        runs = {seed: r["quality"] for seed, r in runs.items()}
    combined = combine_seeds(runs)
    results = {**first["results"], key: combined if options is None else {"options": options, "quality": combined}}
    settings = {**first["settings"], "seeds": [int(seed) for seed in runs]}
    loads = [doc["machine"].get("load_average") for doc in documents]
    path = write_results("dcgan_vae", results, output=output, threads=first["machine"]["threads"],
                         extra={"settings": settings, "merged_from": [str(p) for p in paths],
                                "load_averages_at_end": loads})
    print(json.dumps(results[key], indent=2))
    print(f"written to {path}")
    return 0


def from_logs(paths: list[Path], output: Path, threads: int, note: str = "") -> int:
    """Records printed by runs that were stopped before writing their results (``[dcgan] {...}`` lines)."""
    import ast

    results: dict[str, Any] = {}
    for path in paths:
        entry: dict[str, Any] = {"options": [], "runs": {}}
        seed = None
        for line in path.read_text().splitlines():
            line = line.strip()
            if line.startswith("[dcgan] seed "):
                words = line.split()
                seed = words[2]
                entry["options"] = [w for w in words[4:] if w.startswith("--")]
                entry["runs"][seed] = []
            elif line.startswith("[dcgan] {") and seed is not None:
                entry["runs"][seed].append(ast.literal_eval(line[len("[dcgan] "):]))
            elif line.startswith("digit classifier:"):
                results.setdefault("digit_classifier", line)
        results[path.stem] = entry
    path = write_results("dcgan_vae", results, output=output, threads=threads,
                         extra={"note": note or "records printed by runs stopped before their end",
                                "logs": [str(p) for p in paths]})
    print(f"written to {path}")
    return 0


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
    parser.add_argument("--kinds", nargs="+", choices=["dcgan", "vae"], default=["dcgan", "vae"],
                        help="plugins to measure; the others' entries of an existing --output are kept")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="seed_everything of the quality runs")
    parser.add_argument("--set", nargs="+", default=[], metavar="OPTION=VALUE",
                        help="genfw fit options for the DCGAN quality runs, e.g. model.init_args.lr_g=2e-4")
    parser.add_argument("--image-size", type=int, choices=(28, 32, 64), default=None,
                        help="DCGAN quality: train at this image size (the data's image_size) and judge the samples "
                             "with the digit judge trained at that size (default: the config's 28)")
    parser.add_argument("--classifier", type=Path, default=None,
                        help="folder caching the digit judge (default: gen_framework's feature cache)")
    parser.add_argument("--config-steps", action="store_true",
                        help="DCGAN quality: train for the config's max_steps (the main job) and score at its end too")
    parser.add_argument("--keep-runs", type=Path, default=None,
                        help="write the runs (checkpoints, logs) here instead of a temporary folder")
    parser.add_argument("--shadow-ema", type=float, nargs="+", default=[],
                        help="DCGAN: also score generator EMAs with these decays (warmed up), kept beside the config's")
    parser.add_argument("--truncation", type=float, nargs="+", default=[],
                        help="DCGAN: also score samples drawn with these truncation psi values (same weights)")
    parser.add_argument("--score-steps", type=int, nargs="+", default=[],
                        help="DCGAN: also score when training reaches these generator updates (e.g. the max_steps "
                             "of a previous config of the same recipe)")
    parser.add_argument("--merge", type=Path, nargs="+", default=None, metavar="JSON",
                        help="combine single-seed outputs of this script (same --variant) into --output, then exit")
    parser.add_argument("--from-logs", type=Path, nargs="+", default=None, metavar="LOG",
                        help="write the records printed by runs of this script (stopped before writing their JSON) "
                             "to --output, one entry per log file, then exit")
    parser.add_argument("--note", default="", help="with --from-logs: how the runs were made, stored in the JSON")
    parser.add_argument("--variant", default=None,
                        help="store the DCGAN quality under dcgan_quality_<variant> (with --set: a recipe screen)")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.repeats, args.minutes = 15, 2, [1 / 6]
    if args.merge:
        return merge(args.merge, args.output)
    if args.from_logs:
        return from_logs(args.from_logs, args.output, args.threads, args.note)
    torch.set_num_threads(args.threads)
    os.environ.setdefault("GEN_FRAMEWORK_DEBUG", "1")
    import logging
    import warnings

    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    # Progress bars would interleave with the printed results; everything else stays as genfw fit runs it.
    sys.argv = sys.argv[:1]

    global CLASSIFIER, REAL_DIGITS, SHADOW_EMA, TRUNCATION, SCORE_STEPS
    SHADOW_EMA, TRUNCATION, SCORE_STEPS = args.shadow_ema, args.truncation, args.score_steps
    from gen_framework.data import MNIST
    from gen_framework.metrics.digits import digit_classifier, digit_feature_distance, digit_scores

    began = time.perf_counter()
    # The judge reads the DCGAN's images at their own size (the data's image_size, 28 unless --image-size).
    CLASSIFIER, accuracy = digit_classifier(args.image_size or 28, directory=args.classifier)
    data = MNIST(image_size=args.image_size or 28)
    REAL_DIGITS = validation_images(data)
    real = digit_scores(CLASSIFIER, REAL_DIGITS)
    # FD-digits' floor: as many other real digits (training split) against the same reference.
    train_digits = torch.stack([data.splits.train[i][0] for i in range(EVAL_IMAGES)])
    floor = digit_feature_distance(CLASSIFIER, train_digits, REAL_DIGITS)
    print(f"digit classifier: validation accuracy {accuracy:.3f}; on real digits "
          f"{real.confident_fraction:.3f} read with softmax >= 0.9, {real.classes_covered} classes, "
          f"FD-digits of real against real {floor:.2f}", flush=True)

    results: dict[str, Any] = {"digit_classifier": {
        "val_accuracy": round(accuracy, 4), "real_digits_confident_fraction": round(real.confident_fraction, 3),
        "real_digits_classes_covered": real.classes_covered, "real_digits_min_class_share":
        round(real.min_class_share, 3), "fd_digits_real_vs_real": round(floor, 2),
        "weights_sha256": CLASSIFIER.describe()["weights_sha256"],
    }}
    extra = [f"--{option}" for option in args.set]
    if args.image_size:
        extra += ["--data.init_args.image_size", str(args.image_size)]
    with tempfile.TemporaryDirectory(prefix="genfw_bench_") as tmp:
        workdir = args.keep_runs or Path(tmp)
        for kind in args.kinds:
            if "overhead" in args.parts:
                print(f"{kind}: overhead of genfw fit over a plain loop", flush=True)
                results[f"{kind}_overhead"] = overhead(kind, args.steps, args.repeats, workdir)
            if "quality" in args.parts:
                print(f"{kind}: quality per CPU minute", flush=True)
                budgets = [60 * m for m in args.minutes]
                key = f"{kind}_quality" + (f"_{args.variant}" if kind == "dcgan" and args.variant else "")
                results[key] = over_seeds(kind, budgets, workdir, args.seeds, extra if kind == "dcgan" else [],
                                          config_steps=args.config_steps and kind == "dcgan")
                if kind == "dcgan" and args.set:
                    results[key] = {"options": args.set, "quality": results[key]}

    partial = set(args.parts) != {"overhead", "quality"} or set(args.kinds) != {"dcgan", "vae"}
    if partial and args.output.is_file():
        previous = json.loads(args.output.read_text())
        results = {**previous.get("results", {}), **results}
    settings = {"steps": args.steps, "repeats": args.repeats, "minutes": args.minutes, "seeds": args.seeds,
                "warmup_steps_dropped": WARMUP_STEPS, "eval_images": EVAL_IMAGES, "iwae_k": IWAE_K}
    path = write_results("dcgan_vae", results, output=args.output,
                         extra={"settings": settings, "wall_seconds": round(time.perf_counter() - began, 1)})
    print(json.dumps(results, indent=2))
    print(f"written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
