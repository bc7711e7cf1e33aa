"""Which metrics each family gets, and how the work is shared between processes without changing the values."""

import math

import pytest
import torch
import torch.nn.functional as F
from toys.models import ToyImageGAN, ToyLM

from gen_framework.data import Digits, PyDocs
from gen_framework.errors import ConfigError
from gen_framework.metrics.evaluation import (
    EvaluationData,
    EvaluationSettings,
    Shard,
    evaluate,
    generated_chunks,
    length_option,
    numbered_batches,
)
from gen_framework.metrics.functional import xz_bits_per_char
from gen_framework.metrics.trained_features import FeatureRecipe


def test_numbered_batches_stop_at_the_item_or_batch_limit():
    batches = [(torch.arange(4) + 4 * i, torch.zeros(4)) for i in range(5)]
    got = [(index, first, batch[0].tolist()) for index, first, batch in numbered_batches(batches, max_items=10)]
    assert got == [(0, 0, [0, 1, 2, 3]), (1, 4, [4, 5, 6, 7]), (2, 8, [8, 9])]
    assert [i for i, _, _ in numbered_batches(batches, max_batches=2)] == [0, 1]
    assert len(list(numbered_batches(batches))) == 5


class Seeds(torch.nn.Module):
    """Returns each sample's seed, so the chunks show who drew what."""

    def sample(self, count: int, *, seed: int, **options) -> torch.Tensor:
        return torch.full((count,), seed)


def test_the_chunks_of_all_processes_are_the_chunks_of_one():
    settings = EvaluationSettings(sample_batch_size=4, seed=10)
    alone = torch.cat([s for _, s in generated_chunks(Seeds(), 14, settings, Shard())])
    shared = sorted(
        chunk for rank in range(3) for chunk in generated_chunks(Seeds(), 14, settings, Shard(rank, 3))
    )
    assert torch.equal(torch.cat([s for _, s in shared]), alone)
    assert alone.tolist() == [10] * 4 + [11] * 4 + [12] * 4 + [13] * 2


@pytest.fixture(scope="module")
def pydocs():
    return PyDocs(block_size=32, batch_size=16, val_fraction=0.02)


def test_text_metrics_match_a_direct_computation(pydocs):
    torch.manual_seed(0)
    model = ToyLM()
    model.adopt_data_spec(pydocs.data_spec())
    data = EvaluationData(eval_batches=pydocs.val_dataloader, data_spec=pydocs.data_spec(), split="val")
    records = evaluate(model.eval(), data, EvaluationSettings(max_batches=3), checkpoint="x.ckpt")
    assert set(records) == {"corpus_bits_per_token", "corpus_perplexity", "bits_per_char", "xz_bits_per_char"}

    windows = torch.cat([batch for _, batch in zip(range(3), pydocs.val_dataloader())])
    with torch.no_grad():
        logits = model(windows[:, :-1])
    nats = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), windows[:, 1:].reshape(-1)).item()
    assert records["corpus_bits_per_token"].value == pytest.approx(nats / math.log(2), rel=1e-5)
    assert records["corpus_perplexity"].value == pytest.approx(math.exp(nats), rel=1e-5)
    # one character per token: bits per character are bits per token
    assert records["bits_per_char"].value == pytest.approx(records["corpus_bits_per_token"].value, rel=1e-9)
    # the baseline compresses exactly the predicted text: the consecutive validation windows' targets
    text = pydocs.tokenizer.decode(windows[:, 1:].reshape(-1).tolist())
    assert records["xz_bits_per_char"].value == pytest.approx(xz_bits_per_char(text))
    assert records["xz_bits_per_char"].details["characters"] == len(text) == 3 * 16 * 32
    assert all(r.num_real == 48 and r.checkpoint == "x.ckpt" and r.seed == 0 for r in records.values())


def test_audio_metrics_compare_generated_and_real_clips(ddp_cases):
    datamodule = ddp_cases.Melodies(num_clips=4, clip_seconds=1.0, segment_length=256, batch_size=4, val_fraction=0.25)
    torch.manual_seed(0)
    model = ddp_cases.ToyAudioLM()
    model.adopt_data_spec(datamodule.data_spec())
    data = EvaluationData(eval_batches=datamodule.val_dataloader, data_spec=datamodule.data_spec(), split="test")
    settings = EvaluationSettings(num_audio_samples=3, sample_batch_size=2, audio_seconds=0.02)
    records = evaluate(model.eval(), data, settings)
    assert set(records) == {"bits_per_sample", "mel_frechet_distance"}
    windows = torch.cat(list(datamodule.val_dataloader()))
    with torch.no_grad():
        logits = model(windows[:, :-1])
    nats = F.cross_entropy(logits.reshape(-1, 256), windows[:, 1:].reshape(-1)).item()
    assert records["bits_per_sample"].value == pytest.approx(nats / math.log(2), rel=1e-5)
    mel = records["mel_frechet_distance"]
    assert mel.value > 0 and mel.num_generated == 3 and mel.num_real == len(windows)
    assert mel.details["length_option"] == {"max_new_tokens": 320} and mel.details["sample_rate"] == 16000


def test_clip_length_is_asked_for_in_the_models_own_terms():
    class InSeconds(ToyLM):
        def generate_samples(self, num_samples, *, generator, seconds: float = 1.0):
            raise NotImplementedError

    class Unsized(ToyLM):
        def generate_samples(self, num_samples, *, generator):
            raise NotImplementedError

    assert length_option(InSeconds(vocab_size=4), 0.25, 16000) == {"seconds": 0.25}
    assert length_option(ToyLM(vocab_size=4), 0.25, 16000) == {"max_new_tokens": 4000}
    assert length_option(Unsized(vocab_size=4), 0.25, 16000) == {}


def test_image_samples_must_match_the_data_spec():
    datamodule = Digits(image_size=16, batch_size=64)  # the toy GAN makes 8×8 images
    data = EvaluationData(eval_batches=datamodule.val_dataloader, data_spec=datamodule.data_spec(), split="val",
                          train_batches=datamodule.train_dataloader, dataset_key="digits16")
    settings = EvaluationSettings(num_samples=20, feature_recipe=FeatureRecipe(steps=5))
    with pytest.raises(ConfigError, match=r"shape \(20, 1, 8, 8\).*image_size=16"):
        evaluate(ToyImageGAN().eval(), data, settings)


def test_unlabelled_images_get_no_classifier_metrics():
    generator = torch.Generator().manual_seed(0)
    images = torch.rand(96, 1, 8, 8, generator=generator) * 2 - 1
    unlabelled = [(images[i : i + 32], torch.full((32,), -1)) for i in range(0, 96, 32)]
    data = EvaluationData(eval_batches=lambda: unlabelled, data_spec={"modality": "image", "channels": 1,
                          "image_size": 8}, split="val", train_batches=lambda: unlabelled, dataset_key="noise")
    settings = EvaluationSettings(num_samples=64, sample_batch_size=32, kid_subsets=5,
                                  feature_recipe=FeatureRecipe(steps=5))
    records = evaluate(ToyImageGAN().eval(), data, settings)
    assert set(records) == {"fid", "kid", "kid_std", "precision", "recall"}
    assert records["fid"].feature_network["name"] == "trained-rotation"
    assert records["fid"].num_real == 64 and records["fid"].num_generated == 64
    assert records["kid"].details["subset_size"] == 64


def test_the_trained_network_needs_training_images():
    data = EvaluationData(eval_batches=list, data_spec={"modality": "image"}, split="val")
    with pytest.raises(ConfigError, match="train_dataloader"):
        evaluate(ToyImageGAN(), data, EvaluationSettings(feature_network="trained"))


def test_a_modality_without_metrics_is_refused():
    with pytest.raises(ConfigError, match="modality 'video'"):
        evaluate(ToyImageGAN(), EvaluationData(eval_batches=list, data_spec={"modality": "video"}, split="val"))
