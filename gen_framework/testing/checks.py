"""The conformance checks. Each is a plain function of a :class:`~gen_framework.testing.kit.KitContext` that
raises ``AssertionError`` with a message naming what is wrong; ``CHECKS`` lists them with their families."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytorch_lightning as pl
import torch

from gen_framework.testing.learning import check_learns_easy_data
from gen_framework.testing.outcomes import CheckSkipped
from gen_framework.testing.rank_randomness import check_ddp_ranks_draw_differently

if TYPE_CHECKING:
    from gen_framework.testing.kit import KitContext


@dataclass(frozen=True)
class Check:
    """A named check, the families it applies to (``None``: all), whether it starts processes, and whether it
    trains long enough to assert learning (seconds to a minute; pytest marker ``learning``)."""

    name: str
    function: Callable[[KitContext], None]
    families: tuple[str, ...] | None = None
    distributed: bool = False
    learning: bool = False

    def applies_to(self, family: str) -> bool:
        return self.families is None or family in self.families


# ------------------------------------------------------------------- common


def check_spec_is_valid(ctx: KitContext) -> None:
    """The plugin spec validates and its module class builds from ``test_init_args``."""
    from gen_framework.registry import validate_spec

    problem = validate_spec(ctx.spec)
    assert problem is None, f"invalid plugin spec: {problem[1] if problem else ''}"
    model = ctx.make_model()
    assert model.family == ctx.spec.family, f"{type(model).__name__}.family is {model.family!r}, spec says {ctx.spec.family!r}"


def check_configs_parse(ctx: KitContext) -> None:
    """Every shipped config parses under ``genfw fit --print_config`` (skipped when the kit is given none)."""
    from gen_framework.cli import main

    if not ctx.configs:
        raise CheckSkipped("no configs given (pass configs=[...] to check the plugin's shipped YAML files)")
    for config in ctx.configs:
        code = _run_cli(main, ["fit", "--config", str(Path(config).resolve()), "--print_config"], ctx.workdir)
        assert code == 0, f"config {config} does not parse (exit code {code})"


def check_fit_reaches_every_parameter(ctx: KitContext) -> None:
    """A 2-step fit on tiny data works, every trainable parameter receives a gradient and every optimiser moves."""
    model = ctx.make_model()
    data = ctx.make_data(model)
    reached: set[str] = set()
    handles = []
    for name, param in model.named_parameters():
        if param.requires_grad:
            handles.append(param.register_hook(lambda grad, name=name: reached.add(name) if grad is not None else None))
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    start = _SnapshotAtStart()
    trainer = pl.Trainer(max_steps=2, callbacks=[start], **ctx.trainer_kwargs())
    trainer.fit(model, data)
    for handle in handles:
        handle.remove()
    assert trainer.global_step == 2, f"2 training steps expected, trainer.global_step is {trainer.global_step}"
    # Parameters created while fitting (lazily built networks) are checked through their .grad instead.
    reached |= {n for n, p in model.named_parameters() if p.grad is not None}
    trainable |= {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable, f"{type(model).__name__} has no trainable parameters"
    missing = sorted(trainable - reached)
    assert not missing, f"parameters that never received a gradient: {missing[:8]}"
    still = start.snapshot.unmoved_optimizers(trainer)
    assert not still, f"2 training steps left the parameters of {', '.join(still)} unchanged"


def check_sample_contract(ctx: KitContext) -> None:
    """``sample()`` has the declared shape, dtype and range, and is finite."""
    model = ctx.fitted_model()
    samples = model.sample(3, seed=0, **ctx.sampling_options)
    assert samples.shape[0] == 3, f"sample(3) returned batch size {samples.shape[0]}"
    if model.modality == "image":
        assert samples.dim() == 4 and samples.is_floating_point(), f"images must be float (N, C, H, W), got {samples.dtype} {tuple(samples.shape)}"
        spec = ctx.data_spec
        expected = (3, spec["channels"], spec["image_size"], spec["image_size"])
        assert tuple(samples.shape) == expected, f"images of shape {expected} expected, got {tuple(samples.shape)}"
    elif model.modality == "audio":
        assert samples.dim() == 2 and samples.is_floating_point(), f"audio must be float (N, T), got {samples.dtype} {tuple(samples.shape)}"
    else:
        assert samples.dim() == 2 and samples.dtype == torch.long, f"text must be int64 token ids (N, T), got {samples.dtype}"
        assert samples.min() >= 0 and samples.max() < model.vocab_size, "token ids outside [0, vocab_size)"
    if samples.is_floating_point():
        assert torch.isfinite(samples).all(), "samples contain NaN or Inf"
        low, high = model.output_range or (-1.0, 1.0)
        assert samples.min() >= low - 1e-5 and samples.max() <= high + 1e-5, (
            f"samples outside the declared output_range {model.output_range}: [{samples.min():.3f}, {samples.max():.3f}]"
        )


def check_seeded_sampling(ctx: KitContext) -> None:
    """The same seed gives the same samples; another seed gives other samples."""
    model = ctx.fitted_model()
    first = model.sample(3, seed=11, **ctx.sampling_options)
    again = model.sample(3, seed=11, **ctx.sampling_options)
    assert torch.equal(first, again), "sample() with the same seed gave different samples"
    other = model.sample(3, seed=12, **ctx.sampling_options)
    assert not torch.equal(first, other), "sample() ignores its seed: seeds 11 and 12 gave identical samples"


def check_pretrained_round_trip(ctx: KitContext) -> None:
    """``save_pretrained`` then ``from_pretrained`` gives identical samples."""
    from gen_framework.families.base import GenerativeModule

    model = ctx.fitted_model()
    directory = model.save_pretrained(ctx.workdir / "pretrained")
    restored = GenerativeModule.from_pretrained(directory)
    assert type(restored) is type(model), f"from_pretrained built a {type(restored).__name__}"
    _assert_same_samples(ctx, model, restored, "save_pretrained/from_pretrained")


def check_checkpoint_round_trip(ctx: KitContext) -> None:
    """A Lightning ``.ckpt`` loads back (weights_only) into a model that gives identical samples."""
    from gen_framework.persistence.checkpoint import load_checkpoint

    model = ctx.fitted_model()
    restored = load_checkpoint(ctx.checkpoint_path())
    _assert_same_samples(ctx, model, restored, "the .ckpt round trip")


def check_predict_writes_files(ctx: KitContext) -> None:
    """``genfw predict`` from the checkpoint writes the samples and a manifest."""
    from gen_framework.cli import main

    out = ctx.workdir.resolve() / "predicted"
    checkpoint = Path(ctx.checkpoint_path()).resolve()
    args = ["predict", "--ckpt_path", str(checkpoint), "--num_samples", "3", "--batch_size", "2",
            "--output_dir", str(out), "--trainer.enable_progress_bar", "false"]
    for key, value in ctx.sampling_options.items():
        args += [f"--sampling.{key}", json.dumps(value) if not isinstance(value, str) else value]
    code = _run_cli(main, args, ctx.workdir)
    assert code == 0, f"genfw predict from the checkpoint failed (exit code {code}; its one-line error is above)"
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    files = manifest.get("files", [])
    assert len(files) >= 3, f"genfw predict wrote {len(files)} sample files for --num_samples 3"
    for name in files:
        assert (out / name).is_file(), f"the manifest lists {name}, which was not written"


def check_bf16_mixed_step(ctx: KitContext) -> None:
    """Two steps under ``precision="bf16-mixed"`` keep every loss finite and move every optimiser's parameters."""
    model = ctx.make_model()
    losses, start = _LossRecorder(), _SnapshotAtStart()
    trainer = pl.Trainer(max_steps=2, precision="bf16-mixed", callbacks=[losses, start], **ctx.trainer_kwargs())
    trainer.fit(model, ctx.make_data(model))
    assert losses.steps, "the model's training_step set no step_losses: nothing to check for finiteness"
    bad_losses = [f"{key} = {value} at step {step}" for step, values in enumerate(losses.steps)
                  for key, value in values.items() if not math.isfinite(value)]
    assert not bad_losses, f"non-finite losses under bf16-mixed: {bad_losses[:4]}"
    bad = [n for n, p in model.named_parameters() if not torch.isfinite(p).all()]
    assert not bad, f"non-finite weights after bf16-mixed steps: {bad[:5]}"
    still = start.snapshot.unmoved_optimizers(trainer)
    assert not still, f"under bf16-mixed, 2 steps left the parameters of {', '.join(still)} unchanged"


def check_ddp_two_processes(ctx: KitContext) -> None:
    """Two steps under plain ``ddp`` with 2 CPU processes leave identical weights on both ranks."""
    out = ctx.workdir / "ddp"
    out.mkdir(parents=True, exist_ok=True)
    request = {"plugin": ctx.spec.name, "module_class": f"{ctx.spec.module_class.__module__}.{ctx.spec.module_class.__qualname__}",
               "init_args": ctx.init_args, "data_spec": ctx.data_spec, "length": ctx.length, "out": str(out)}
    # The workers must import what this process can (a plugin class defined in a test module, for one).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    try:
        result = subprocess.run(
            [sys.executable, "-m", "gen_framework.testing._ddp_worker", json.dumps(request)],
            capture_output=True, text=True, timeout=240, env=env,
        )
    except subprocess.TimeoutExpired as err:
        raise AssertionError(f"2-process DDP fit did not finish in {err.timeout} s") from err
    assert result.returncode == 0, f"2-process DDP fit failed:\n{result.stderr[-2500:]}"
    rank0 = torch.load(out / "rank0.pt", weights_only=True)
    rank1 = torch.load(out / "rank1.pt", weights_only=True)
    differing = [k for k in rank0 if not torch.equal(rank0[k], rank1[k])]
    assert not differing, f"weights differ between DDP ranks after 2 steps: {differing[:5]}"


def check_resume_equivalence(ctx: KitContext) -> None:
    """A run stopped after 2 steps (mid-epoch) and resumed to 4 ends with the weights of 4 uninterrupted steps.

    The data has 3 batches per epoch, so the resumed run continues mid-epoch and crosses an epoch boundary.
    """
    from pytorch_lightning.callbacks import ModelCheckpoint

    pl.seed_everything(0, verbose=False)
    straight = ctx.make_model()
    start = _SnapshotAtStart()
    pl.Trainer(max_steps=4, callbacks=[start], **ctx.trainer_kwargs()).fit(straight, ctx.make_data(straight, count=12))
    assert start.snapshot.moved(straight, list(start.snapshot.values)), "4 training steps moved no parameter: nothing to compare"

    pl.seed_everything(0, verbose=False)
    first = ctx.make_model()
    saver = ModelCheckpoint(dirpath=ctx.workdir / "resume", every_n_train_steps=1, save_top_k=-1, filename="{step}")
    kwargs = {**ctx.trainer_kwargs(), "enable_checkpointing": True}
    pl.Trainer(max_steps=2, callbacks=[saver], **kwargs).fit(first, ctx.make_data(first, count=12))

    pl.seed_everything(1234, verbose=False)  # a resumed run must not depend on the seed it is started with
    resumed = ctx.make_model()
    trainer = pl.Trainer(max_steps=4, **ctx.trainer_kwargs())
    trainer.fit(resumed, ctx.make_data(resumed, count=12), ckpt_path=ctx.workdir / "resume" / "step=2.ckpt",
                weights_only=True)
    expected, actual = straight.state_dict(), resumed.state_dict()
    differing = [k for k in expected if k not in actual or not torch.equal(expected[k], actual[k])]
    assert not differing, f"a resumed run differs from an uninterrupted one in: {differing[:6]}"


# ----------------------------------------------------------------- families


def check_adversarial_players_both_change(ctx: KitContext) -> None:
    """One training step moves the trainable parameters of both the generator and the discriminator.

    Parameters, not the state dict: BatchNorm statistics and running averages (StyleGAN's ``w_avg``) change in
    any forward pass, with or without an optimiser step.
    """
    model = ctx.make_model()
    snapshot = _SnapshotAtStart()
    trainer = pl.Trainer(max_steps=1, callbacks=[snapshot], **ctx.trainer_kwargs())
    trainer.fit(model, ctx.make_data(model))
    start = snapshot.snapshot
    for player in ("generator", "discriminator"):
        names = [n for n in start.values if n.startswith(player + ".")]
        assert names, f"the {player} has no trainable parameters"
        assert start.moved(model, names), f"no trainable parameter of the {player} moved in one training step"
    still = start.unmoved_optimizers(trainer)
    assert not still, f"one training step left the parameters of {', '.join(still)} unchanged"


def check_variational_terms(ctx: KitContext) -> None:
    """encode gives matching (B, Z) mean and log-variance, decode fits the likelihood, and KL >= 0."""
    model = ctx.make_model()
    model.adopt_data_spec(ctx.data_spec)
    x = ctx.make_data(model).train_set.tensors[0][:3]
    mean, log_var = model.encode(x)
    assert mean.shape == log_var.shape and mean.shape[0] == 3, f"encode gave {tuple(mean.shape)} and {tuple(log_var.shape)}"
    params = model.decode(mean)
    expected = (3, model.likelihood_channels(x.shape[1]), *x.shape[2:])
    assert tuple(params.shape) == expected, f"decode gave {tuple(params.shape)}, the likelihood needs {expected}"
    terms = model.elbo_terms(x)
    assert (terms["kl"] >= -1e-5).all(), f"negative KL: {terms['kl'].tolist()}"
    assert torch.isfinite(terms["recon"]).all(), "non-finite reconstruction term"


def check_autoregressive_causality(ctx: KitContext) -> None:
    """Changing token t leaves the logits at positions < t unchanged.

    The tokens are the plugin's own: a batch of the kit's data for its data spec, through ``tokens_from_batch``.
    """
    model = ctx.make_model()
    model.adopt_data_spec(ctx.data_spec)
    model.eval()
    tokens = model_tokens(ctx, model)[:2, :-1].clone()
    t = tokens.shape[1] // 2
    changed = tokens.clone()
    changed[:, t] = (changed[:, t] + 1) % model.vocab_size
    with torch.no_grad():
        a, b = model(tokens), model(changed)
    assert torch.allclose(a[:, :t], b[:, :t], atol=1e-5), f"logits before position {t} depend on token {t}"
    assert not torch.allclose(a[:, t:], b[:, t:]), f"logits from position {t} on ignore token {t}"


def check_cached_generation_agrees(ctx: KitContext) -> None:
    """Cached and recomputed generation give the same tokens for the same seed (skipped without a cache)."""
    model = ctx.make_model()
    model.adopt_data_spec(ctx.data_spec)
    model.eval()
    if model.init_cache(1) is None:
        raise CheckSkipped(f"{type(model).__name__}.init_cache returns None: the model has no incremental decoding")
    tokens = model_tokens(ctx, model)
    prompt = tokens[:2, :3]
    steps = 2 * model.context_size + 3
    if model.modality == "image":  # fixed-size data: generation cannot run past one sample
        steps = min(steps, tokens.shape[1] - prompt.shape[1])
    cached = model.generate(prompt, steps, use_cache=True, seed=3, temperature=1.0, top_k=None)
    recomputed = model.generate(prompt, steps, use_cache=False, seed=3, temperature=1.0, top_k=None)
    assert torch.equal(cached, recomputed), "cached and recomputed generation disagree"


def model_tokens(ctx: KitContext, model: torch.nn.Module) -> torch.Tensor:
    """Token sequences ``(B, L)`` of the first batch of the kit's data, through the model's ``tokens_from_batch``."""
    batch = next(iter(ctx.make_data(model).train_dataloader()))
    tokens = model.tokens_from_batch(batch)
    assert tokens.dim() == 2 and tokens.dtype == torch.long, (
        f"{type(model).__name__}.tokens_from_batch must return int64 token ids (B, L), got {tokens.dtype} "
        f"{tuple(tokens.shape)}"
    )
    assert 0 <= int(tokens.min()) and int(tokens.max()) < model.vocab_size, (
        f"{type(model).__name__}.tokens_from_batch gave ids outside [0, vocab_size={model.vocab_size})"
    )
    return tokens


# ------------------------------------------------------------------- helpers


class _ParameterSnapshot:
    """The trainable parameters of a model at one moment, to tell which of them an optimiser moved."""

    def __init__(self, model: torch.nn.Module) -> None:
        self.values = {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}
        self._names = {id(p): n for n, p in model.named_parameters()}

    def moved(self, model: torch.nn.Module, names: list[str]) -> bool:
        now = dict(model.named_parameters())
        return any(not torch.equal(self.values[n], now[n].detach()) for n in names if n in now)

    def unmoved_optimizers(self, trainer: pl.Trainer) -> list[str]:
        """Descriptions of the trainer's optimisers none of whose (pre-existing) parameters changed."""
        model = trainer.lightning_module
        unmoved = []
        for index, optimizer in enumerate(trainer.optimizers):
            names = [self._names[id(p)] for group in optimizer.param_groups for p in group["params"]
                     if id(p) in self._names and self._names[id(p)] in self.values]
            if names and not self.moved(model, names):
                unmoved.append(f"optimiser {index} ({type(optimizer).__name__} over {names[0]}, ...)")
        return unmoved


class _SnapshotAtStart(pl.Callback):
    """Takes a :class:`_ParameterSnapshot` when training starts: after ``setup`` has built any lazy layers."""

    snapshot: _ParameterSnapshot

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.snapshot = _ParameterSnapshot(pl_module)


class _LossRecorder(pl.Callback):
    """Keeps ``pl_module.step_losses`` (set by the family bases) after every training batch, as floats."""

    def __init__(self) -> None:
        self.steps: list[dict[str, float]] = []

    def on_train_batch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: object, batch: object,
                           batch_idx: int) -> None:
        losses = getattr(pl_module, "step_losses", {}) or {}
        self.steps.append({key: float(value) for key, value in losses.items()})


def _assert_same_samples(ctx: KitContext, a: torch.nn.Module, b: torch.nn.Module, what: str) -> None:
    first = a.sample(3, seed=5, **ctx.sampling_options)
    second = b.sample(3, seed=5, **ctx.sampling_options)
    assert torch.equal(first, second), f"samples differ after {what}"


def _run_cli(main: Callable[[list[str]], int], args: list[str], cwd: Path) -> int:
    # genfw writes run folders relative to the working directory: run it in the kit's work directory so that a
    # plugin's checkout (or wherever its tests are started) gains no files
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        return main(args)
    except SystemExit as exit_:  # --print_config exits
        return exit_.code if isinstance(exit_.code, int) else 0
    finally:
        os.chdir(previous)


CHECKS: tuple[Check, ...] = (
    Check("spec_is_valid", check_spec_is_valid),
    Check("configs_parse", check_configs_parse),
    Check("fit_reaches_every_parameter", check_fit_reaches_every_parameter),
    Check("sample_contract", check_sample_contract),
    Check("seeded_sampling", check_seeded_sampling),
    Check("pretrained_round_trip", check_pretrained_round_trip),
    Check("checkpoint_round_trip", check_checkpoint_round_trip),
    Check("predict_writes_files", check_predict_writes_files),
    Check("bf16_mixed_step", check_bf16_mixed_step),
    Check("ddp_two_processes", check_ddp_two_processes, distributed=True),
    Check("ddp_ranks_draw_differently", check_ddp_ranks_draw_differently, distributed=True),
    Check("resume_equivalence", check_resume_equivalence),
    Check("adversarial_players_both_change", check_adversarial_players_both_change, ("adversarial",)),
    Check("variational_terms", check_variational_terms, ("variational",)),
    Check("autoregressive_causality", check_autoregressive_causality, ("autoregressive",)),
    Check("cached_generation_agrees", check_cached_generation_agrees, ("autoregressive",)),
    Check("learns_easy_data", check_learns_easy_data, learning=True),
)
