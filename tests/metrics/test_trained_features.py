"""The feature network trained on the data: cached by data and recipe, checked by hash, rebuilt when broken."""

import re
import warnings

import pytest
import torch

from gen_framework.data import Digits
from gen_framework.metrics import trained_features
from gen_framework.metrics.features import state_sha256
from gen_framework.metrics.trained_features import (
    CACHE_ENV,
    FeatureRecipe,
    cache_dir,
    collect_images,
    network_from_payload,
    network_payload,
    trained_feature_network,
)

RECIPE = FeatureRecipe(steps=60, batch_size=64)


@pytest.fixture(scope="module")
def digits():
    images, labels = collect_images(Digits(image_size=8, batch_size=500).train_dataloader(), 10_000)
    return images, labels


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "cache"))
    assert cache_dir() == tmp_path / "cache" / "features"
    monkeypatch.delenv(CACHE_ENV)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_dir() == tmp_path / ".cache" / "gen_framework" / "features"


def test_collect_images_keeps_labels_only_when_every_image_has_one():
    x = torch.rand(6, 1, 4, 4) * 2 - 1
    images, labels = collect_images([(x[:4], torch.tensor([0, 1, 2, 1])), (x[4:], torch.tensor([0, 2]))], 5)
    assert images.dtype == torch.uint8 and images.shape == (5, 1, 4, 4) and labels.tolist() == [0, 1, 2, 1, 0]
    assert collect_images([(x, torch.tensor([0, 1, -1, 1, 0, 0]))], 100)[1] is None  # unknown labels
    assert collect_images([(x, torch.zeros(6, dtype=torch.long))], 100)[1] is None  # a single class
    assert collect_images([x], 100)[1] is None


def test_network_is_trained_once_then_loaded(digits, monkeypatch, tmp_path):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    first = trained_feature_network(*digits, dataset_key="Digits-8px-1ch", recipe=RECIPE)
    files = list((tmp_path / "features").iterdir())
    assert [f.name for f in files] == [first.details["cache_file"].rsplit("/", 1)[-1]]
    assert re.fullmatch(r"digits-8px-1ch-[0-9a-f]{16}\.safetensors", files[0].name)
    assert first.name == "trained-classifier" and first.classifier is not None
    assert first.details["num_classes"] == 10 and first.details["training_images"] == len(digits[0])
    assert first.weights_sha256 == state_sha256(first.module)

    monkeypatch.setattr(trained_features, "train_network", lambda *a, **k: pytest.fail("trained again"))
    second = trained_feature_network(*digits, dataset_key="Digits-8px-1ch", recipe=RECIPE)
    assert second.weights_sha256 == first.weights_sha256 == state_sha256(second.module)
    x = digits[0][:16].float() / 127.5 - 1
    assert torch.equal(second.module(x), first.module(x))
    assert second.describe()["weights_sha256"] == first.weights_sha256


def test_other_data_or_recipe_get_their_own_network(digits, tmp_path):
    images, labels = digits
    base = trained_feature_network(images, labels, dataset_key="d", recipe=RECIPE, directory=tmp_path)
    fewer = trained_feature_network(images[:-10], labels[:-10], dataset_key="d", recipe=RECIPE, directory=tmp_path)
    longer = trained_feature_network(images, labels, dataset_key="d", recipe=FeatureRecipe(steps=61, batch_size=64),
                                     directory=tmp_path)
    unshifted = trained_feature_network(images, labels, dataset_key="d", recipe=FeatureRecipe(steps=60, batch_size=64, max_shift_fraction=0),
                                        directory=tmp_path)
    paths = {n.details["cache_file"] for n in (base, fewer, longer, unshifted)}
    assert len(paths) == 4 and len(list(tmp_path.iterdir())) == 4


def test_shifts_translate_each_image_by_its_own_offset_and_repeat_the_edges():
    images = torch.arange(64 * 2 * 6 * 6).reshape(64, 2, 6, 6).to(torch.uint8)
    assert trained_features._shifted(images, 0, torch.Generator()) is images
    shifted = trained_features._shifted(images, 2, torch.Generator().manual_seed(0))
    assert shifted.shape == images.shape and shifted.dtype == images.dtype
    padded = torch.nn.functional.pad(images.float(), (2, 2, 2, 2), mode="replicate").to(torch.uint8)
    offsets = set()
    for image, original in zip(shifted, padded):
        found = [(dy, dx) for dy in range(5) for dx in range(5) if torch.equal(image, original[:, dy:dy + 6, dx:dx + 6])]
        assert len(found) == 1  # both channels moved together, by at most 2 pixels each way
        offsets.add(found[0])
    assert len(offsets) > 10  # not one shift for the whole batch


def test_training_is_deterministic(digits, tmp_path):
    a = trained_feature_network(*digits, dataset_key="d", recipe=RECIPE, directory=tmp_path / "a")
    b = trained_feature_network(*digits, dataset_key="d", recipe=RECIPE, directory=tmp_path / "b")
    assert a.weights_sha256 == b.weights_sha256


def test_a_corrupt_or_tampered_cache_file_is_replaced(digits, tmp_path):
    from safetensors.torch import load_file, save_file

    good = trained_feature_network(*digits, dataset_key="d", recipe=RECIPE, directory=tmp_path)
    path = tmp_path / good.details["cache_file"].rsplit("/", 1)[-1]
    path.write_bytes(b"torn")
    with pytest.warns(UserWarning, match="ignoring the cached feature network"):
        again = trained_feature_network(*digits, dataset_key="d", recipe=RECIPE, directory=tmp_path)
    assert again.weights_sha256 == good.weights_sha256

    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        metadata = handle.metadata()
    state = load_file(str(path))
    state["classifier.bias"] = state["classifier.bias"] + 1.0
    save_file(state, str(path), metadata=metadata)
    with pytest.warns(UserWarning, match="do not match their hash"):
        repaired = trained_feature_network(*digits, dataset_key="d", recipe=RECIPE, directory=tmp_path)
    assert repaired.weights_sha256 == good.weights_sha256
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trained_feature_network(*digits, dataset_key="d", recipe=RECIPE, directory=tmp_path)


def test_the_classifier_learns_digits_and_unlabelled_images_learn_rotations(digits, tmp_path):
    images, labels = digits
    classifier = trained_feature_network(images, labels, dataset_key="d", recipe=FeatureRecipe(steps=200),
                                         directory=tmp_path)
    assert classifier.details["heldout_accuracy"] > 0.85
    rotation = trained_feature_network(images, None, dataset_key="d", recipe=FeatureRecipe(steps=200),
                                       directory=tmp_path)
    assert rotation.name == "trained-rotation" and rotation.classifier is None
    assert rotation.details["task"] == "rotation" and rotation.details["num_classes"] == 4
    assert rotation.details["heldout_accuracy"] > 0.5  # chance is 0.25


def test_payload_rebuilds_the_same_network(digits, tmp_path):
    network = trained_feature_network(*digits, dataset_key="d", recipe=RECIPE, directory=tmp_path)
    copy = network_from_payload(network_payload(network))
    x = digits[0][:8].float() / 127.5 - 1
    assert torch.equal(copy.module(x), network.module(x))
    assert state_sha256(copy.module) == network.weights_sha256 and copy.describe() == network.describe()
    assert copy.classifier is not None
