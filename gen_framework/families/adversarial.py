"""`AdversarialModule`: the GAN family base, which owns the alternating generator/discriminator updates.

A plugin builds ``self.generator`` (latent ``(B, Z)`` or whatever :meth:`sample_latent` returns → images
``(B, C, H, W)`` in [-1, 1]) and ``self.discriminator`` (images → logits ``(B,)`` or ``(B, 1)``), sets
``self.latent_dim``, and overrides a hook only where it differs. The base owns manual optimisation, step
counting, losses, penalties, gradient clipping, EMA and gradient synchronisation under DDP.

Why the base synchronises gradients itself: Lightning wraps the whole module in one
``DistributedDataParallel``, whose reducer expects every parameter to receive a gradient in each backward.
A discriminator update leaves the generator without gradients (and vice versa), which plain ``ddp`` rejects.
So each backward runs with DDP's reducer switched off, and the base all-reduces the gradients of the player
being updated — one bucket per player — before that player's optimiser steps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any, ClassVar, Literal, final

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

from gen_framework.errors import ConfigError
from gen_framework.families.base import GenerativeModule, images_of
from gen_framework.metrics.collapse import discriminator_accuracy, sample_diversity

#: The adversarial losses the family implements (the ``loss`` option); import it to declare ``loss`` in a plugin.
AdversarialLoss = Literal["non_saturating", "hinge", "wasserstein", "least_squares"]

__all__ = ["AdversarialLoss", "AdversarialModule", "images_of"]


class AdversarialModule(GenerativeModule):
    """Base of GANs: per training step, ``d_steps`` discriminator updates, then one generator update.

    ``--trainer.max_steps N`` means N training steps, i.e. N generator updates, and
    ``trainer.global_step == N`` afterwards.

    Besides the losses, logging steps record collapse indicators: ``train/d_acc_real`` and
    ``train/d_acc_fake`` (discriminator accuracy; not for ``wasserstein``) and ``train/sample_diversity``
    (see :mod:`gen_framework.metrics.collapse`).

    Args:
        lr_g: Generator learning rate.
        lr_d: Discriminator learning rate (a different value gives TTUR).
        betas_g: Adam betas of the generator.
        betas_d: Adam betas of the discriminator.
        d_steps: Discriminator updates per training step, each on a fresh latent batch; on the same real batch,
            or on its own share of it with ``fresh_real_per_d_step``.
        fresh_real_per_d_step: Split each training batch into ``d_steps`` equal parts, one per discriminator
            update, so every critic update sees real images no other update of the step saw (WGAN-GP's
            n_critic loop, which draws a batch per critic iteration). Set the data's ``batch_size`` to
            ``d_steps`` times the batch of one update; the generator update draws that many latents. The data
            are read by Lightning's loader as usual, so shuffling, DDP sharding and exact mid-epoch resume
            are unchanged, and an epoch shows every real image to the critic once.
        loss: Adversarial loss: ``non_saturating`` (logistic), ``hinge``, ``wasserstein`` (with gradient
            penalty ``gp_weight``) or ``least_squares``.
        gp_weight: Weight of the WGAN-GP gradient penalty (used with ``loss="wasserstein"``).
        r1_gamma: Weight γ of the R1 penalty γ/2·E‖∇D(x)‖² on real images; 0 disables it.
        r1_interval: Apply R1 every this many discriminator updates, scaled by the interval (lazy R1; Adam is
            corrected for it, see :meth:`configure_optimizers`).
        grad_clip_g: Clip the generator's gradient norm to this value; ``None`` disables clipping.
        grad_clip_d: Clip the discriminator's gradient norm to this value; ``None`` disables clipping.
        ema_decay: Decay of the generator EMA used for sampling; ``None`` disables it.
    """

    family: ClassVar[Literal["adversarial"]] = "adversarial"
    modality: ClassVar[Literal["image"]] = "image"
    generator: nn.Module
    discriminator: nn.Module
    latent_dim: int

    def __init__(
        self,
        lr_g: float = 2e-4,
        lr_d: float = 2e-4,
        betas_g: tuple[float, float] = (0.5, 0.999),
        betas_d: tuple[float, float] = (0.5, 0.999),
        d_steps: int = 1,
        fresh_real_per_d_step: bool = False,
        loss: AdversarialLoss = "non_saturating",
        gp_weight: float = 10.0,
        r1_gamma: float = 0.0,
        r1_interval: int = 1,
        grad_clip_g: float | None = None,
        grad_clip_d: float | None = None,
        ema_decay: float | None = None,
    ) -> None:
        super().__init__(ema_decay=ema_decay)
        for name, value in (("lr_g", lr_g), ("lr_d", lr_d)):
            if value <= 0:
                raise ConfigError(f"{type(self).__name__}: {name} must be > 0, got {value}")
        if d_steps < 1:
            raise ConfigError(f"{type(self).__name__}: d_steps must be >= 1, got {d_steps}")
        if r1_gamma < 0 or r1_interval < 1:
            raise ConfigError(
                f"{type(self).__name__}: r1_gamma must be >= 0 and r1_interval >= 1, got {r1_gamma} and {r1_interval}"
            )
        if loss not in ("non_saturating", "hinge", "wasserstein", "least_squares"):
            raise ConfigError(
                f"{type(self).__name__}: loss must be one of non_saturating, hinge, wasserstein, least_squares; "
                f"got {loss!r}"
            )
        self.automatic_optimization = False
        self.lr_g, self.lr_d = lr_g, lr_d
        self.betas_g, self.betas_d = tuple(betas_g), tuple(betas_d)
        self.d_steps = d_steps
        self.fresh_real_per_d_step = fresh_real_per_d_step
        self.loss_type = loss
        self.gp_weight = gp_weight
        self.r1_gamma, self.r1_interval = r1_gamma, r1_interval
        self.grad_clip_g, self.grad_clip_d = grad_clip_g, grad_clip_d
        self._d_updates = 0

    # ------------------------------------------------------------------ hooks

    def sample_latent(self, num: int, *, generator: torch.Generator | None = None) -> Tensor:
        """Called for every generator input: ``num`` latents ``(num, latent_dim)`` from N(0, I)."""
        return torch.randn(num, self.latent_dim, device=self.device, generator=generator)

    def generate(
        self, latent: Tensor, *, truncation_psi: float = 1.0, generator: torch.Generator | None = None
    ) -> Tensor:
        """Called wherever images are generated: latents → images ``(B, C, H, W)`` in [-1, 1].

        The default applies :meth:`truncate` then ``self.generator``; StyleGAN-like models override it to
        truncate in their intermediate latent space.

        Args:
            latent: What :meth:`sample_latent` returned, e.g. ``(B, Z)``.
            truncation_psi: Truncation ψ (1: none).
            generator: Source of any randomness the network draws besides the latent (noise inputs): seeded
                sampling passes its own, so samples depend only on the seed. ``None`` uses the global RNG.
        """
        return self.generator(self.truncate(latent, truncation_psi))

    def truncate(self, latent: Tensor, psi: float) -> Tensor:
        """Called when sampling with ``truncation_psi``: pull latents toward their mean (identity when psi=1)."""
        return latent if psi == 1.0 else latent * psi

    def discriminator_loss(self, real_logits: Tensor, fake_logits: Tensor) -> Tensor:
        """Called in each discriminator update with logits ``(B,)`` on real and generated images."""
        if self.loss_type == "non_saturating":
            return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()
        if self.loss_type == "hinge":
            return F.relu(1.0 - real_logits).mean() + F.relu(1.0 + fake_logits).mean()
        if self.loss_type == "wasserstein":
            return fake_logits.mean() - real_logits.mean()
        return 0.5 * ((real_logits - 1.0) ** 2).mean() + 0.5 * (fake_logits**2).mean()

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        """Called in each generator update with the discriminator's logits ``(B,)`` on generated images."""
        if self.loss_type == "non_saturating":
            return F.softplus(-fake_logits).mean()
        if self.loss_type in ("hinge", "wasserstein"):
            return -fake_logits.mean()
        return 0.5 * ((fake_logits - 1.0) ** 2).mean()

    def discriminator_regularizer(self, real: Tensor, fake: Tensor) -> Tensor | None:
        """Called in each discriminator update after the main loss; returns a penalty to add, or ``None``.

        The default gives the WGAN-GP penalty for ``loss="wasserstein"`` and the lazy R1 penalty when
        ``r1_gamma > 0`` (on every ``r1_interval``-th update, multiplied by the interval).
        """
        penalty: Tensor | None = None
        if self.loss_type == "wasserstein" and self.gp_weight > 0:
            penalty = self.gp_weight * self._gradient_penalty(real, fake)
        if self.r1_gamma > 0 and self._d_updates % self.r1_interval == 0:
            r1 = self._r1_penalty(real) * (0.5 * self.r1_gamma * self.r1_interval)
            if self.is_logging_step:
                self.log("train/r1", r1.detach(), prog_bar=False)
            penalty = r1 if penalty is None else penalty + r1
        return penalty

    def generator_regularizer(self, latent: Tensor, fake: Tensor) -> Tensor | None:
        """Called in each generator update; returns a penalty to add (e.g. path length), or ``None``."""
        return None

    # ------------------------------------------------------------- the loop

    def lazy_regularization_intervals(self) -> tuple[int, int]:
        """Called when the optimisers are built: how often (generator, discriminator) regularisers apply.

        1 means every update or none. The default gives the discriminator's ``r1_interval`` when R1 is on; a
        plugin with a lazy generator regulariser (path length) returns its interval for the generator.
        """
        return 1, (self.r1_interval if self.r1_gamma > 0 else 1)

    def configure_optimizers(self) -> Any:
        """Adam per player. A player regularised lazily every k updates gets its learning rate multiplied by
        c = k / (k + 1) and its betas raised to the power c (StyleGAN2, Karras et al. 2020, appendix B), so its
        optimiser behaves as if the regulariser had its own updates."""
        interval_g, interval_d = self.lazy_regularization_intervals()
        opt_g = torch.optim.Adam(self.generator.parameters(), **_lazy_adam(self.lr_g, self.betas_g, interval_g))
        opt_d = torch.optim.Adam(self.discriminator.parameters(), **_lazy_adam(self.lr_d, self.betas_d, interval_d))
        return [opt_g, opt_d]

    @final
    def training_step(self, batch: Any, batch_idx: int) -> None:
        real = images_of(batch)
        opt_g, opt_d = self.optimizers()
        reals = self.real_batches_per_update(real)
        # Latents and any noise the networks draw come from this rank's stream for this step.
        with self.training_randomness():
            for part in reals:
                metrics = self._discriminator_update(part, opt_d)
            metrics["train/loss_g"] = self._generator_update(reals[-1].shape[0], opt_g)
        self.step_losses = {"train/loss_d": metrics["train/loss_d"], "train/loss_g": metrics["train/loss_g"]}
        self._average_buffers()
        self.update_ema()
        self.log_train_metrics(metrics)

    @final
    def real_batches_per_update(self, real: Tensor) -> list[Tensor]:
        """The real images ``(B_k, C, H, W)`` of each of the ``d_steps`` discriminator updates of a step.

        Without ``fresh_real_per_d_step`` every update gets the whole batch; with it, update k gets the k-th of
        ``d_steps`` consecutive parts (sizes differ by at most one when B is not a multiple of ``d_steps``).
        """
        if not self.fresh_real_per_d_step or self.d_steps == 1:
            return [real] * self.d_steps
        if real.shape[0] < self.d_steps:
            raise ConfigError(
                f"{type(self).__name__}: fresh_real_per_d_step splits each batch into d_steps={self.d_steps} parts, "
                f"but a batch holds {real.shape[0]} images; set the data's batch_size to d_steps times the batch "
                f"of one discriminator update (e.g. {self.d_steps * max(1, real.shape[0])})"
            )
        return list(real.tensor_split(self.d_steps))

    def _discriminator_update(self, real: Tensor, opt_d: Any) -> dict[str, Tensor]:
        # The generator runs under no_grad here, so nothing needs freezing: cheaper than toggle_optimizer,
        # which walks every parameter of every optimiser twice per update.
        with torch.no_grad():
            fake = self.generate(self.sample_latent(real.shape[0]))
        real_logits = _flat(self.discriminator(real))
        fake_logits = _flat(self.discriminator(fake))
        loss = self.discriminator_loss(real_logits, fake_logits)
        penalty = self.discriminator_regularizer(real, fake)
        total = loss if penalty is None else loss + penalty
        opt_d.zero_grad(set_to_none=True)
        with self._reducer_off():
            self.manual_backward(total)
        self._finish_gradients(self.discriminator, self.grad_clip_d)
        # The discriminator's step bypasses Lightning's step counter so that global_step counts training
        # steps (generator updates), not optimiser steps; the precision plugin still sees the step.
        self.trainer.strategy.optimizer_step(opt_d.optimizer, closure=_no_closure, model=self)
        self._d_updates += 1
        metrics = {"train/loss_d": loss.detach()}
        if self.is_logging_step:
            # Logit means and collapse indicators from tensors this update already has, only on steps that
            # reach a logger.
            metrics["train/d_real"] = real_logits.detach().mean()
            metrics["train/d_fake"] = fake_logits.detach().mean()
            metrics.update(self._collapse_indicators(real, fake, real_logits.detach(), fake_logits.detach()))
        return metrics

    def _collapse_indicators(
        self, real: Tensor, fake: Tensor, real_logits: Tensor, fake_logits: Tensor
    ) -> dict[str, Tensor]:
        indicators = {"train/sample_diversity": sample_diversity(fake, real)}
        # A Wasserstein critic's scores have no decision boundary, so no accuracy.
        if self.loss_type != "wasserstein":
            threshold = 0.5 if self.loss_type == "least_squares" else 0.0
            acc_real, acc_fake = discriminator_accuracy(real_logits, fake_logits, threshold)
            indicators["train/d_acc_real"], indicators["train/d_acc_fake"] = acc_real, acc_fake
        return indicators

    def _generator_update(self, batch_size: int, opt_g: Any) -> Tensor:
        with _frozen(self.discriminator, keep=opt_g.optimizer):
            latent = self.sample_latent(batch_size)
            fake = self.generate(latent)
            loss = self.generator_loss(_flat(self.discriminator(fake)))
            penalty = self.generator_regularizer(latent, fake)
            total = loss if penalty is None else loss + penalty
            opt_g.zero_grad(set_to_none=True)
            with self._reducer_off():
                self.manual_backward(total)
        self._finish_gradients(self.generator, self.grad_clip_g)
        opt_g.step()
        return loss.detach()

    # ------------------------------------------------------- checkpoints

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_save_checkpoint(checkpoint)
        # The lazy-regulariser schedule counts discriminator updates; a resumed run must continue the count.
        checkpoint["gen_framework"]["discriminator_updates"] = self._d_updates

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        super().on_load_checkpoint(checkpoint)
        self._d_updates = int((checkpoint.get("gen_framework") or {}).get("discriminator_updates", 0))

    # ---------------------------------------------------------- penalties

    def _r1_penalty(self, real: Tensor) -> Tensor:
        real = real.detach().requires_grad_(True)
        logits = _flat(self.discriminator(real))
        (grad,) = torch.autograd.grad(logits.sum(), real, create_graph=True)
        return grad.pow(2).flatten(1).sum(1).mean()

    def _gradient_penalty(self, real: Tensor, fake: Tensor) -> Tensor:
        alpha = torch.rand(real.shape[0], *([1] * (real.dim() - 1)), device=real.device, dtype=real.dtype)
        mixed = (alpha * real.detach() + (1 - alpha) * fake.detach()).requires_grad_(True)
        logits = _flat(self.discriminator(mixed))
        (grad,) = torch.autograd.grad(logits.sum(), mixed, create_graph=True)
        return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()

    # ------------------------------------------------- distributed plumbing

    @contextlib.contextmanager
    def _reducer_off(self) -> Iterator[None]:
        wrapped = self._trainer.strategy.model if self._trainer is not None else None
        if isinstance(wrapped, DistributedDataParallel):
            with wrapped.no_sync():
                yield
        else:
            yield

    def _finish_gradients(self, player: nn.Module, clip: float | None) -> None:
        distributed = _distributed()
        if not distributed and clip is None:
            return
        params = [p for p in player.parameters() if p.requires_grad]
        if distributed:
            for p in params:
                if p.grad is None:
                    p.grad = torch.zeros_like(p)
            flat = torch._utils._flatten_dense_tensors([p.grad for p in params])
            dist.all_reduce(flat)
            flat /= dist.get_world_size()
            for p, synced in zip(params, torch._utils._unflatten_dense_tensors(flat, [p.grad for p in params])):
                p.grad.copy_(synced)
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(params, clip)

    def _average_buffers(self) -> None:
        """Average floating-point buffers (BatchNorm statistics) so every rank holds the same model."""
        if not _distributed():
            return
        buffers = [b for m in (self.generator, self.discriminator) for b in m.buffers() if b.is_floating_point()]
        if not buffers:
            return
        flat = torch._utils._flatten_dense_tensors(buffers)
        dist.all_reduce(flat)
        flat /= dist.get_world_size()
        for b, synced in zip(buffers, torch._utils._unflatten_dense_tensors(flat, buffers)):
            b.copy_(synced)

    # --------------------------------------------------------------- sampling

    def generate_samples(
        self, num_samples: int, *, generator: torch.Generator, truncation_psi: float = 1.0
    ) -> Tensor:
        """Images ``(N, C, H, W)`` in [-1, 1] from latents drawn with ``generator``.

        Args:
            truncation_psi: Truncation ψ; 1 samples the full distribution, smaller trades variety for fidelity.
        """
        latent = self.sample_latent(num_samples, generator=generator)
        return self.generate(latent, truncation_psi=truncation_psi, generator=generator).clamp(-1.0, 1.0)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: Any, batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def _evaluate(self, batch: Any, stage: str) -> None:
        real = images_of(batch)
        fake = self.generate(self.sample_latent(real.shape[0]))
        real_logits = _flat(self.discriminator(real))
        fake_logits = _flat(self.discriminator(fake))
        self.log_dict(
            {
                f"{stage}/loss_d": self.discriminator_loss(real_logits, fake_logits),
                f"{stage}/loss_g": self.generator_loss(fake_logits),
            },
            sync_dist=True,
        )

    def ema_module_names(self) -> list[str]:
        return ["generator"]


@contextlib.contextmanager
def _frozen(module: nn.Module, keep: torch.optim.Optimizer) -> Iterator[None]:
    """Turn off gradients of ``module``'s trainable parameters, except those ``keep`` updates; restore on exit.

    Parameters a user froze stay frozen, and a parameter shared with the player being updated keeps its
    gradient (what ``LightningModule.toggle_optimizer`` guarantees, for one module instead of all of them).
    """
    kept = {id(p) for group in keep.param_groups for p in group["params"]}
    frozen = [p for p in module.parameters() if p.requires_grad and id(p) not in kept]
    for p in frozen:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in frozen:
            p.requires_grad_(True)


def _flat(logits: Tensor) -> Tensor:
    return logits.reshape(logits.shape[0], -1).mean(dim=1) if logits.dim() > 1 else logits


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def _lazy_adam(lr: float, betas: tuple[float, float], interval: int) -> dict[str, Any]:
    """Adam's ``lr`` and ``betas`` corrected for a regulariser applied every ``interval`` updates."""
    if interval <= 1:
        return {"lr": lr, "betas": tuple(betas)}
    ratio = interval / (interval + 1)
    return {"lr": lr * ratio, "betas": (betas[0] ** ratio, betas[1] ** ratio)}


def _no_closure() -> None:
    return None
