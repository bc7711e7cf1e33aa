"""The autoregressive family's data adapter: text sampling unchanged, token-id prompts, and a model of image
tokens that trains, samples and passes the kit's sequence checks (cached generation included) with no
Lightning override."""

import pytest
import pytorch_lightning as pl
import torch
from conftest import trainer_kwargs
from toys.models import ToyLM
from torch.utils.data import DataLoader, TensorDataset

from gen_framework.errors import ConfigError
from gen_framework.registry import PluginSpec
from gen_framework.testing import check_plugin

SIDE = 4


class ImageTokenLM(ToyLM):
    """ToyLM over binarised 1x4x4 images: 16 pixel tokens after a start token."""

    modality = "image"
    output_range = (-1.0, 1.0)

    def __init__(self, vocab_size: int | None = 2, context: int = 1 + SIDE * SIDE, **kwargs) -> None:
        super().__init__(vocab_size=vocab_size, context=context, **kwargs)

    def tokens_from_batch(self, batch):
        pixels = (batch[0] > 0).long().flatten(1)
        return torch.cat([pixels.new_zeros(len(pixels), 1), pixels], dim=1)

    def condition_from_batch(self, batch):
        return None

    def decode_tokens(self, tokens):
        return (tokens[:, 1:].float() * 2 - 1).view(-1, 1, SIDE, SIDE)

    def default_num_new_tokens(self):
        return SIDE * SIDE

    def built_data_spec(self):
        return {"image_size": SIDE, "channels": 1}


def test_text_sampling_keeps_its_default_length_and_takes_token_id_prompts():
    model = ToyLM(vocab_size=10)
    assert model.sample(2, seed=0).shape == (2, 1 + 256)
    tokens = model.sample(2, seed=0, prompt=[3, 4], max_new_tokens=5)
    assert tokens.shape == (2, 7) and tokens[:, :2].tolist() == [[3, 4], [3, 4]]
    with pytest.raises(ConfigError, match=r"prompt token ids must be a non-empty list in \[0, 10\)"):
        model.sample(1, prompt=[10])


def test_an_image_token_model_trains_on_image_batches_and_samples_images():
    images = torch.rand(32, 1, SIDE, SIDE) * 2 - 1
    labels = torch.zeros(32, dtype=torch.long)  # present in the batch, ignored through condition_from_batch
    model = ImageTokenLM()
    trainer = pl.Trainer(max_steps=3, **trainer_kwargs())
    trainer.fit(model, DataLoader(TensorDataset(images, labels), batch_size=8))
    assert trainer.global_step == 3
    samples = model.sample(3, seed=0)
    assert samples.shape == (3, 1, SIDE, SIDE) and set(samples.unique().tolist()) <= {-1.0, 1.0}
    cached, recomputed = model.sample(3, seed=1), model.sample(3, seed=1, use_cache=False)
    assert torch.equal(cached, recomputed)


def test_the_kits_sequence_checks_use_the_models_own_tokens(tmp_path):
    spec = PluginSpec(name="image_token_lm", family="autoregressive", module_class=ImageTokenLM,
                      test_data_spec={"modality": "image", "channels": 1, "image_size": SIDE})
    report = check_plugin(spec, select=["autoregressive_causality", "cached_generation_agrees", "sample_contract"],
                          include_distributed=False, workdir=tmp_path)
    assert {r.name: r.outcome for r in report.results} == {
        "autoregressive_causality": "passed", "cached_generation_agrees": "passed", "sample_contract": "passed"}
