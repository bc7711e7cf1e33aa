"""The learning check: a plugin's tiny instance learns an easy synthetic task of its family within seconds.

Like scikit-learn's ``check_classifiers_train``, it asks for the one thing every other check can miss: that
training makes the model better at its job. Each family gets a task with a known answer
(:mod:`gen_framework.testing.synthetic`) and a pass mark that the untrained model misses and a model that
cannot learn (a sign error, a generator that ignores its latent, a predictor that ignores its context) never
reaches:

- adversarial: a 2-D mixture of 4 Gaussians drawn into images (``mixture_2d``). After training, most samples
  lie on the plane near a mode and every mode holds a fair share of them.
- variational: 4 prototype images with a little noise (``prototypes``). The held-out negative ELBO falls
  below half its initial value, which needs the latent: the best input-blind model stays near 80%.
- autoregressive: a cycle of 8 distinct tokens from a random phase (``periodic``). The held-out next-token
  loss falls below a fifth of log 8, the loss of the best context-free model. A model of image tokens learns
  the 4 prototype images instead (``prototypes``, through its ``tokens_from_batch``): once the first pixels
  tell which prototype is drawn, every later one is fixed, so its loss falls below a fifth of log P (P the
  number of distinct tokens), which a model that ignores its context cannot reach.

The tiny instance is the plugin's ``test_init_args`` with the family's learning rates of
:data:`FAMILY_LEARNING_ARGS` (the families' defaults suit long runs, not a few hundred steps), overridden by
the kit's ``learning_init_args`` option.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from gen_framework.testing.synthetic import (
    SyntheticData,
    mixture_modes,
    plane_basis,
    project_to_plane,
)

if TYPE_CHECKING:
    from gen_framework.families.base import GenerativeModule
    from gen_framework.testing.kit import KitContext

#: Init args the learning check gives every plugin of a family, before the plugin's own ``learning_init_args``.
FAMILY_LEARNING_ARGS: dict[str, dict[str, Any]] = {
    "adversarial": {"lr_g": 2e-3, "lr_d": 2e-3, "betas_g": (0.5, 0.99), "betas_d": (0.5, 0.99)},
    "variational": {"lr": 3e-3},
    "autoregressive": {"lr": 1e-2, "min_lr": 1e-2, "warmup_steps": 0, "weight_decay": 0.0},
}
#: Training steps and batch size per family: a few seconds of one CPU thread for the plugins' tiny instances.
STEPS = {"adversarial": 500, "variational": 150, "autoregressive": 120}
BATCH_SIZE = {"adversarial": 32, "variational": 32, "autoregressive": 16}

#: GAN pass marks: a sample is *on a mode* when its point is within this distance of a mode's centre (the modes
#: are 0.71 apart, so it is then clearly nearer one mode than any other) and its quadrant means lie this close
#: to the plane (RMS); the share of samples on a mode, and the share of all samples every single mode must hold
#: (an eighth of the fair share 1/K: 16 of 512 samples; a collapsed generator leaves three modes empty).
#: Measured (seed 0): the example plugin conv_gan 38% on a mode after 300 steps and 54% after 500 (its rarest
#: mode 6.2%); DCGAN 54% and the toy GAN 61% after 300.
ON_MODE_DISTANCE = 0.3
OFF_PLANE_RMS = 0.2
MIN_ON_MODE = 0.4
MIN_MODE_SHARE = 0.125 / len(mixture_modes())
#: VAE pass mark: trained negative ELBO / untrained negative ELBO on held-out data.
MAX_ELBO_RATIO = 0.5
#: Autoregressive pass mark: held-out loss as a share of log P, the best context-free model's loss.
MAX_LOSS_SHARE = 0.2


def check_learns_easy_data(ctx: KitContext) -> None:
    """The tiny instance learns its family's easy synthetic task (mode recovery, ELBO, a periodic sequence)."""
    family = ctx.spec.family
    pl.seed_everything(0, verbose=False)
    model = ctx.make_model(**{**FAMILY_LEARNING_ARGS[family], **ctx.learning_init_args})
    task = {"adversarial": "mixture_2d", "variational": "prototypes", "autoregressive": "periodic"}[family]
    if family == "autoregressive" and ctx.data_spec["modality"] == "image":
        task = "prototypes"
    data = ctx.make_data(model, count=512, batch_size=BATCH_SIZE[family], task=task)
    measure = {"adversarial": _mode_recovery, "variational": _negative_elbo, "autoregressive": _next_token_loss}[family]
    data.setup("fit")
    model.adopt_data_spec(data.data_spec())
    before = measure(model, data)
    trainer = pl.Trainer(max_steps=STEPS[family], **ctx.trainer_kwargs())
    trainer.fit(model, data)
    after = measure(model, data)
    {"adversarial": _judge_modes, "variational": _judge_elbo, "autoregressive": _judge_periodic}[family](
        before, after, data
    )


# ------------------------------------------------------------------- GANs


def _mode_recovery(model: GenerativeModule, data: SyntheticData) -> dict[str, Any]:
    # The basis is constant on each quadrant, so the quadrant means (N, C, 2, 2) carry the whole projection;
    # judging the plane on them leaves out texture within a quadrant, which a conv generator needs long to lose.
    images = F.adaptive_avg_pool2d(model.sample(512, seed=0).float(), 2)
    points, off_plane = project_to_plane(images, plane_basis(data.spec["channels"], 2))
    distance, nearest = torch.cdist(points, mixture_modes()).min(dim=1)
    on_mode = (distance <= ON_MODE_DISTANCE) & (off_plane <= OFF_PLANE_RMS)
    shares = torch.bincount(nearest[on_mode], minlength=len(mixture_modes())).float() / len(images)
    return {"on_mode": on_mode.float().mean().item(), "shares": shares.tolist(),
            "off_plane": off_plane.median().item()}


def _judge_modes(before: dict[str, Any], after: dict[str, Any], data: SyntheticData) -> None:
    def passes(result: dict[str, Any]) -> bool:
        return result["on_mode"] >= MIN_ON_MODE and min(result["shares"]) >= MIN_MODE_SHARE

    def text(result: dict[str, Any]) -> str:
        shares = ", ".join(f"{share:.0%}" for share in result["shares"])
        return (f"{result['on_mode']:.0%} of samples on a mode (per mode: {shares}), median off-plane RMS of the "
                f"quadrant means {result['off_plane']:.2f}")

    assert not passes(before), f"the untrained model already recovers the modes ({text(before)}): nothing was checked"
    assert passes(after), (
        f"after {STEPS['adversarial']} steps on a 2-D mixture of {len(after['shares'])} modes: {text(after)}; "
        f"needed >= {MIN_ON_MODE:.0%} on a mode and >= {MIN_MODE_SHARE:.1%} on every mode"
    )


# ------------------------------------------------------------------- VAEs


@contextlib.contextmanager
def _in_eval_mode(model: GenerativeModule) -> Iterator[None]:
    """Evaluation mode for the block, the model's own mode restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@torch.no_grad()
def _negative_elbo(model: GenerativeModule, data: SyntheticData) -> float:
    """Mean negative ELBO (nats per image) on the validation set, with the reparameterisation noise seeded."""
    with _in_eval_mode(model), torch.random.fork_rng():
        torch.manual_seed(0)
        terms = model.elbo_terms(data.val_set.tensors[0])
    return float((terms["recon"] + terms["kl"]).mean())


def _judge_elbo(before: float, after: float, data: SyntheticData) -> None:
    assert math.isfinite(after), f"the negative ELBO is {after} after training"
    assert after <= MAX_ELBO_RATIO * before, (
        f"held-out negative ELBO {before:.1f} -> {after:.1f} nats after {STEPS['variational']} steps on 4 prototype "
        f"images ({after / before:.0%} of the untrained value; needed <= {MAX_ELBO_RATIO:.0%})"
    )


# ------------------------------------------------------- autoregressive


def _tokens(model: GenerativeModule, dataset: Any) -> torch.Tensor:
    """Every item of ``dataset`` as token sequences ``(N, L)``, through the model's ``tokens_from_batch``."""
    batch = dataset.tensors[0] if len(dataset.tensors) == 1 else tuple(dataset.tensors)
    return model.tokens_from_batch(batch)


@torch.no_grad()
def _next_token_loss(model: GenerativeModule, data: SyntheticData) -> dict[str, float]:
    """Held-out next-token loss, and the number P of distinct tokens in the data (log P: context-free loss)."""
    windows = _tokens(model, data.val_set)
    with _in_eval_mode(model):
        logits = model(windows[:, :-1])
    loss = float(F.cross_entropy(logits.flatten(0, 1).float(), windows[:, 1:].flatten()))
    return {"loss": loss, "distinct": len(torch.unique(_tokens(model, data.train_set)))}


def _judge_periodic(before_: dict[str, float], after_: dict[str, float], data: SyntheticData) -> None:
    before, after, distinct = before_["loss"], after_["loss"], after_["distinct"]
    context_free = math.log(distinct)
    assert before > MAX_LOSS_SHARE * context_free, (
        f"the untrained model's loss {before:.3f} is already below {MAX_LOSS_SHARE:.0%} of log P: nothing was checked"
    )
    assert after <= MAX_LOSS_SHARE * context_free, (
        f"held-out next-token loss {before:.3f} -> {after:.3f} nats after {STEPS['autoregressive']} steps on "
        f"{'a cycle of' if data.task == 'periodic' else 'prototype images of'} {distinct} "
        f"tokens; needed <= {MAX_LOSS_SHARE * context_free:.3f} "
        f"({MAX_LOSS_SHARE:.0%} of log P = {context_free:.3f}, the best context-free model)"
    )
