"""The conformance kit passes sound toy plugins and catches deliberately broken ones."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from toys.models import ToyImageGAN, ToyLM, ToyVAE

from gen_framework.registry import PluginSpec
from gen_framework.testing import check_plugin, conformance_cases

SOUND = [
    PluginSpec(name="kit_gan", family="adversarial", module_class=ToyImageGAN,
               test_init_args={"ema_decay": 0.9, "r1_gamma": 1.0, "r1_interval": 3}),
    PluginSpec(name="kit_vae", family="variational", module_class=ToyVAE),
    PluginSpec(name="kit_lm", family="autoregressive", module_class=ToyLM, test_init_args={"context": 8}),
]


@pytest.mark.parametrize(
    "case",
    [case for spec in SOUND for case in conformance_cases(spec, include_distributed=spec.name == "kit_vae")],
)
def test_sound_toy_plugins_pass_every_check(case, tmp_path):
    case(tmp_path)


class UnseededSampling(ToyImageGAN):
    """Draws its latents from the global generator instead of the one ``sample`` passes."""

    def generate_samples(self, num_samples, *, generator, truncation_psi: float = 1.0):
        return self.generate(torch.randn(num_samples, self.latent_dim)).clamp(-1, 1)


class DeadParameter(ToyVAE):
    """Has a layer that never takes part in the loss."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.unused = nn.Linear(3, 3)


class ForgetfulOnResume(ToyVAE):
    """Keeps a training-time state (a loss scale that grows each step) that checkpoints do not save."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.scale = 1.0

    def kl_weight(self) -> float:
        self.scale *= 1.5
        return self.scale


class Acausal(ToyLM):
    """Looks one token ahead."""

    def forward(self, tokens, condition=None):
        ahead = torch.cat([tokens[:, 1:], tokens[:, -1:]], dim=1)
        return super().forward(tokens) + self.head(self.tok(ahead))


@pytest.mark.parametrize(
    ("spec", "failing"),
    [
        (PluginSpec(name="bad_seed", family="adversarial", module_class=UnseededSampling), "seeded_sampling"),
        (PluginSpec(name="bad_param", family="variational", module_class=DeadParameter), "fit_reaches_every_parameter"),
        (PluginSpec(name="bad_resume", family="variational", module_class=ForgetfulOnResume), "resume_equivalence"),
        (PluginSpec(name="bad_causal", family="autoregressive", module_class=Acausal, test_init_args={"context": 8}),
         "autoregressive_causality"),
    ],
)
def test_the_kit_reports_real_faults(spec, failing):
    report = check_plugin(spec, raise_on_failure=False, select={failing, "spec_is_valid"})
    outcomes = {r.name: r.outcome for r in report.results}
    assert outcomes[failing] == "failed", str(report)
    assert outcomes["spec_is_valid"] == "passed"


def test_declared_failures_are_xfailed_and_an_unexpected_pass_is_reported():
    spec = PluginSpec(name="bad_seed2", family="adversarial", module_class=UnseededSampling)
    report = check_plugin(spec, raise_on_failure=False, select={"seeded_sampling", "sample_contract"},
                          expected_failures={"seeded_sampling": "draws from the global RNG",
                                             "sample_contract": "claimed broken, but is not"})
    outcomes = {r.name: r.outcome for r in report.results}
    assert outcomes["seeded_sampling"] == "xfailed"
    assert outcomes["sample_contract"] == "xpassed"
    assert [r.name for r in report.failures] == ["sample_contract"]
    with pytest.raises(AssertionError, match="xpassed"):
        check_plugin(spec, expected_failures={"sample_contract": "x"}, select={"sample_contract"})
