"""The kit on an autoregressive model of image tokens (the example PixelCNN): its checks build their inputs
through the model's own data adapter, so a sound model passes and each defect is caught."""

from __future__ import annotations

import pytest
import torch
from gen_framework_pixelcnn import PLUGIN, GatedPixelCNN

from gen_framework.registry import PluginSpec
from gen_framework.testing import check_plugin


class SeesTheCurrentPixel(GatedPixelCNN):
    """Defect: the first layer's horizontal window includes the pixel it predicts."""

    def build_network(self, vocab_size: int) -> None:
        super().build_network(vocab_size)
        for layer in self.stack:
            layer.first = False


class IgnoresItsContext(GatedPixelCNN):
    """Defect: the logits do not depend on the tokens (a per-position model at best)."""

    def forward(self, tokens, condition=None):
        return super().forward(torch.zeros_like(tokens))


class FloatTokens(GatedPixelCNN):
    """Defect: the adapter hands the family pixel values instead of token ids."""

    def tokens_from_batch(self, batch):
        return super().tokens_from_batch(batch).float()


def mutant(cls: type, name: str) -> PluginSpec:
    return PluginSpec(name=name, family="autoregressive", module_class=cls, test_init_args=PLUGIN.test_init_args,
                      test_data_spec=PLUGIN.test_data_spec)


def outcomes(spec: PluginSpec, checks: list[str], tmp_path) -> dict[str, str]:
    report = check_plugin(spec, select=checks, include_distributed=False, raise_on_failure=False, workdir=tmp_path)
    return {r.name: f"{r.outcome}: {r.message}" for r in report.results}


def test_the_causality_and_sample_checks_pass_on_image_tokens(tmp_path):
    result = outcomes(PLUGIN, ["autoregressive_causality", "sample_contract", "cached_generation_agrees"], tmp_path)
    assert result["autoregressive_causality"].startswith("passed")
    assert result["sample_contract"].startswith("passed")
    assert result["cached_generation_agrees"].startswith("skipped")  # no cache: said so, never a pass


def test_causality_catches_a_model_that_sees_the_pixel_it_predicts(tmp_path):
    result = outcomes(mutant(SeesTheCurrentPixel, "px_leak"), ["autoregressive_causality"], tmp_path)
    assert result["autoregressive_causality"].startswith("failed: logits before position")


def test_a_bad_adapter_is_named(tmp_path):
    result = outcomes(mutant(FloatTokens, "px_float"), ["autoregressive_causality"], tmp_path)
    assert "tokens_from_batch must return int64 token ids" in result["autoregressive_causality"]


@pytest.mark.learning
def test_the_learning_check_passes_on_image_tokens_and_fails_without_context(tmp_path):
    assert outcomes(PLUGIN, ["learns_easy_data"], tmp_path / "a")["learns_easy_data"].startswith("passed")
    result = outcomes(mutant(IgnoresItsContext, "px_blind"), ["learns_easy_data"], tmp_path / "b")
    assert result["learns_easy_data"].startswith("failed: held-out next-token loss")
