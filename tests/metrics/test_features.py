"""Feature networks: InceptionV3 from local weights only (errors name the path), the trained network's shape."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gen_framework.errors import ConfigError
from gen_framework.metrics import features
from gen_framework.metrics.features import (
    INCEPTION_WEIGHTS_FILE,
    ConvFeatureNet,
    FlattenFeatures,
    InceptionFeatures,
    choose_feature_network,
    state_sha256,
    to_uint8_rgb,
)


@pytest.fixture
def hub(tmp_path, monkeypatch):
    """An empty torch hub folder, so no cached InceptionV3 weights are found."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub"


def test_trained_is_chosen_without_touching_inception():
    assert choose_feature_network("trained", None) == ("trained", None)


def test_auto_falls_back_to_the_trained_network_without_weights(hub):
    assert choose_feature_network("auto", None) == ("trained", None)


def test_auto_falls_back_without_torch_fidelity_even_with_cached_weights(hub, monkeypatch):
    (hub / "checkpoints").mkdir(parents=True)
    (hub / "checkpoints" / INCEPTION_WEIGHTS_FILE).write_bytes(b"weights")
    monkeypatch.setattr(features, "torch_fidelity_available", lambda: False)
    assert choose_feature_network("auto", None) == ("trained", None)
    monkeypatch.setattr(features, "torch_fidelity_available", lambda: True)
    assert choose_feature_network("auto", None) == ("inception", hub / "checkpoints" / INCEPTION_WEIGHTS_FILE)


def test_missing_local_weights_are_named_in_the_error(tmp_path):
    missing = tmp_path / "nowhere" / INCEPTION_WEIGHTS_FILE
    for kind in ("auto", "inception"):
        with pytest.raises(ConfigError, match=str(missing)):
            choose_feature_network(kind, str(missing))
    with pytest.raises(ConfigError, match=str(missing)):
        InceptionFeatures(missing)


def test_inception_without_weights_names_the_hub_path_and_never_downloads(hub, monkeypatch):
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda *a, **k: pytest.fail("tried to download"))
    with pytest.raises(ConfigError, match=str(hub / "checkpoints" / INCEPTION_WEIGHTS_FILE)):
        choose_feature_network("inception", None)


def test_local_weights_without_torch_fidelity_say_what_to_install(tmp_path, monkeypatch):
    weights = tmp_path / INCEPTION_WEIGHTS_FILE
    weights.write_bytes(b"not really weights")
    monkeypatch.setattr(features, "torch_fidelity_available", lambda: False)
    with pytest.raises(ConfigError, match="torch-fidelity"):
        choose_feature_network("inception", str(weights))
    with pytest.raises(ConfigError, match="torch-fidelity"):
        InceptionFeatures(weights)


def test_unknown_kind_is_refused():
    with pytest.raises(ConfigError, match="'auto', 'inception' or 'trained'"):
        choose_feature_network("vgg", None)  # type: ignore[arg-type]


def test_importing_the_metrics_package_imports_neither_torch_fidelity_nor_torchmetrics(tmp_path):
    # A stand-in torch_fidelity on the path: it would be imported if anything imported it eagerly.
    (tmp_path / "torch_fidelity").mkdir()
    (tmp_path / "torch_fidelity" / "__init__.py").write_text("")
    code = "import sys, gen_framework.metrics; print('torch_fidelity' in sys.modules, 'torchmetrics' in sys.modules)"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "False"]


def test_images_become_8_bit_rgb_for_inception():
    grey = torch.tensor([-1.0, 0.0, 1.0, 2.0]).view(1, 1, 2, 2)
    rgb = to_uint8_rgb(grey)
    assert rgb.dtype == torch.uint8 and rgb.shape == (1, 3, 2, 2)
    assert rgb[0, :, 0, 0].tolist() == [0, 0, 0] and rgb[0, 1].flatten().tolist() == [0, 128, 255, 255]
    with pytest.raises(ConfigError, match="C 1 or 3"):
        to_uint8_rgb(torch.zeros(1, 2, 4, 4))


@pytest.mark.parametrize("size", [8, 28, 64])
def test_conv_feature_net_shapes(size):
    net = ConvFeatureNet(channels=3, image_size=size, num_classes=7, num_features=32)
    images = torch.rand(5, 3, size, size) * 2 - 1
    assert net(images).shape == (5, 32) and (net(images) >= 0).all()
    assert net.logits(images).shape == (5, 7)
    assert net.num_features == 32 and FlattenFeatures(32).num_features == 32


def test_state_hash_identifies_the_weights():
    torch.manual_seed(0)
    a = ConvFeatureNet(1, 8, 10)
    b = ConvFeatureNet(1, 8, 10)
    assert state_sha256(a) != state_sha256(b)
    b.load_state_dict(a.state_dict())
    assert state_sha256(a) == state_sha256(b) and len(state_sha256(a)) == 64


def test_weights_path_may_use_a_home_relative_path(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / INCEPTION_WEIGHTS_FILE).write_bytes(b"x")
    monkeypatch.setattr(features, "torch_fidelity_available", lambda: True)
    assert choose_feature_network("inception", f"~/{INCEPTION_WEIGHTS_FILE}") == (
        "inception", Path(tmp_path / INCEPTION_WEIGHTS_FILE))


def test_standardise_centres_and_scales_the_features_and_keeps_the_logits():
    torch.manual_seed(0)
    net = ConvFeatureNet(1, 8, 10).eval()
    images = torch.rand(600, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        logits = net.logits(images)
        net.standardise(images)
        features = net(images)
        assert float(features.var(dim=0).mean()) == pytest.approx(1.0, rel=1e-4)
        assert float(features.mean(dim=0).abs().max()) < 1e-4
        assert torch.allclose(net.logits(images), logits, atol=1e-4)
        net.standardise(images)  # a second time changes nothing
        assert torch.allclose(net(images), features, atol=1e-4)
