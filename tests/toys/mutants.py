"""Plugins with one defect each, to show that every conformance check can fail (see tests/testing/test_kit.py).

Each class names, in its docstring, the check that must catch it. They derive from the sound toys of
:mod:`toys.models`, so everything but the defect is known to pass the kit.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from toys.models import ToyImageGAN, ToyLM, ToyVAE

# ------------------------------------------------------------------ plumbing


class DeadParameter(ToyVAE):
    """fit_reaches_every_parameter: has a layer that never takes part in the loss."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.unused = nn.Linear(3, 3)


class OptimiserThatNeverMoves(ToyVAE):
    """fit_reaches_every_parameter: gradients reach every parameter, but the optimiser's learning rate is 0."""

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.0)


class OutOfRangeSamples(ToyImageGAN):
    """sample_contract: forgets the clamp and doubles its images, leaving the declared output range [-1, 1]."""

    def generate_samples(self, num_samples, *, generator, truncation_psi: float = 1.0):
        return 2.0 * self.generate(self.sample_latent(num_samples, generator=generator))


class UnseededSampling(ToyImageGAN):
    """seeded_sampling: draws its latents from the global generator instead of the one ``sample`` passes."""

    def generate_samples(self, num_samples, *, generator, truncation_psi: float = 1.0):
        return self.generate(torch.randn(num_samples, self.latent_dim)).clamp(-1, 1)


class UnsavedSamplingState(ToyImageGAN):
    """pretrained_round_trip (and the .ckpt one): samples depend on a random offset that is never saved."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.register_buffer("offset", torch.randn(self.latent_dim), persistent=False)

    def sample_latent(self, num, *, generator=None):
        return super().sample_latent(num, generator=generator) + self.offset


class EditsWeightsOnLoad(ToyImageGAN):
    """checkpoint_round_trip: a checkpoint hook that re-initialises the generator's output bias when loading."""

    def on_load_checkpoint(self, checkpoint):
        super().on_load_checkpoint(checkpoint)
        state = checkpoint["state_dict"]
        state["generator.3.bias"] = torch.zeros_like(state["generator.3.bias"])


class ForgetsFrameworkMetadata(ToyImageGAN):
    """predict_writes_files: overrides ``on_save_checkpoint`` without calling ``super()``, so the checkpoint
    lacks what ``genfw predict`` needs to find the plugin and its data spec."""

    def on_save_checkpoint(self, checkpoint):
        checkpoint["my_extra"] = 1


class NonFiniteUnderBf16(ToyVAE):
    """bf16_mixed_step: divides by an epsilon below bf16's resolution (1 + 1e-3 rounds to 1 in bf16)."""

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = super().encode(x)
        epsilon = (mean.new_ones(()) + 1e-3) - 1.0  # 1e-3 in fp32, 0 in bf16
        return mean, log_var * (1e-3 / epsilon)


class SkipsStepUnderMixedPrecision(ToyLM):
    """bf16_mixed_step: a hand-written ``optimizer_step`` that forgets to step under mixed precision."""

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        if str(self.trainer.precision).endswith("mixed"):
            optimizer_closure()  # computes the loss and gradients, and then nothing moves
            return
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)


class RankLocalStatistic(ToyVAE):
    """ddp_two_processes: a non-trainable parameter set from each rank's own batch, never synchronised."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.data_mean = nn.Parameter(torch.zeros(()), requires_grad=False)

    def on_train_batch_start(self, batch, batch_idx):
        images = batch[0] if isinstance(batch, (list, tuple)) else batch
        self.data_mean.data.copy_(images.mean())


class ForgetfulOnResume(ToyVAE):
    """resume_equivalence: keeps a training-time state (a loss scale that grows each step) checkpoints lose."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scale = 1.0

    def kl_weight(self) -> float:
        self.scale *= 1.5
        return self.scale


class GeneratorNeverSteps(ToyImageGAN):
    """adversarial_players_both_change: the generator's optimiser has learning rate 0, so it never moves —
    yet its BatchNorm statistics change in every forward pass (what a state-dict comparison mistook for an
    update)."""

    def configure_optimizers(self):
        opt_g, opt_d = super().configure_optimizers()
        for group in opt_g.param_groups:
            group["lr"] = 0.0
        return [opt_g, opt_d]


class MisshapenLogVariance(ToyVAE):
    """variational_terms: returns one log-variance per example instead of one per latent unit (it broadcasts,
    so training runs)."""

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        mean, log_var = super().encode(x)
        return mean, log_var[:, :1]


class Acausal(ToyLM):
    """autoregressive_causality: looks one token ahead."""

    def forward(self, tokens, condition=None):
        ahead = torch.cat([tokens[:, 1:], tokens[:, -1:]], dim=1)
        return super().forward(tokens) + self.head(self.tok(ahead))


class ForgetfulCache(ToyLM):
    """cached_generation_agrees: the cache forgets the previous token, so cached steps see no history."""

    def forward_cached(self, tokens: Tensor, cache: dict) -> Tensor:
        return self.forward(tokens)


# ------------------------------------------------------------------ learning


class GeneratorSignError(ToyImageGAN):
    """learns_easy_data: the generator minimises the discriminator's belief in its samples (sign error)."""

    def generator_loss(self, fake_logits: Tensor) -> Tensor:
        return -super().generator_loss(fake_logits)


class LatentBlindGAN(ToyImageGAN):
    """learns_easy_data: every latent gives the same image, so at most one mode can be covered."""

    def generate(self, latent: Tensor, *, truncation_psi: float = 1.0, generator=None) -> Tensor:
        return super().generate(torch.zeros_like(latent), truncation_psi=truncation_psi)


class GradientAscentVAE(ToyVAE):
    """learns_easy_data: its optimiser climbs the loss instead of descending it (a sign error)."""

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr, maximize=True)


class InputBlindVAE(ToyVAE):
    """learns_easy_data: the encoder never sees the input, so the latent carries nothing about it."""

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return super().encode(torch.zeros_like(x))


class ContextBlindLM(ToyLM):
    """learns_easy_data: predicts from the position's token embedding of a constant, i.e. ignores the context
    (and so is as good as the best unigram model at most)."""

    def forward(self, tokens, condition=None):
        return super().forward(torch.zeros_like(tokens))


# ------------------------------------------------------------------ distributed


class RankSharedLatents(ToyImageGAN):
    """ddp_ranks_draw_differently: draws training latents from its own generator seeded with a constant, the
    same on every rank."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.shared_stream = torch.Generator().manual_seed(1234)

    def sample_latent(self, num: int, *, generator: torch.Generator | None = None) -> Tensor:
        stream = generator if generator is not None else self.shared_stream
        return torch.randn(num, self.latent_dim, generator=stream).to(self.device)
