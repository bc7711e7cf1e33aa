"""Image metrics: FID (torchmetrics with our feature networks), KID, precision/recall and class coverage."""

import pytest
import torch

from gen_framework.data import Digits
from gen_framework.metrics.features import FlattenFeatures
from gen_framework.metrics.functional import frechet_distance, gaussian_statistics
from gen_framework.metrics.image import ClassCoverage, KernelDistance, PrecisionRecall, frechet_distance_metric
from gen_framework.metrics.trained_features import FeatureRecipe, collect_images, trained_feature_network


@pytest.fixture(scope="module")
def digits():
    """Validation digits (1×8×8 in [-1, 1]) and a feature network trained on the training digits."""
    datamodule = Digits(image_size=8, batch_size=256)
    images, labels = collect_images(datamodule.train_dataloader(), 10_000)
    return datamodule.splits.val.images.float() / 127.5 - 1.0, images, labels


@pytest.fixture(scope="module")
def digit_features(digits, tmp_path_factory):
    _, images, labels = digits
    return trained_feature_network(
        images, labels, dataset_key="digits", recipe=FeatureRecipe(steps=150), directory=tmp_path_factory.mktemp("c")
    )


def test_fid_matches_the_closed_form_frechet_distance_of_two_gaussians():
    generator = torch.Generator().manual_seed(0)
    mu1, mu2 = torch.tensor([0.0, 0.0, 1.0, 0.0]), torch.tensor([1.0, -1.0, 1.0, 0.5])
    a1, a2 = torch.randn(4, 4, generator=generator), torch.randn(4, 4, generator=generator)
    x = torch.randn(20_000, 4, generator=generator) @ a1.T + mu1  # N(mu1, a1 a1ᵀ)
    y = torch.randn(20_000, 4, generator=generator) @ a2.T + mu2
    fid = frechet_distance_metric(FlattenFeatures(4))
    for start in range(0, 20_000, 5_000):
        fid.update(x[start : start + 5_000], real=True)
        fid.update(y[start : start + 5_000], real=False)
    value = float(fid.compute())
    population = float(frechet_distance(mu1, a1 @ a1.T, mu2, a2 @ a2.T))
    empirical = float(frechet_distance(*gaussian_statistics(x), *gaussian_statistics(y)))
    assert value == pytest.approx(empirical, rel=1e-4)  # torchmetrics' sums agree with the direct statistics
    assert value == pytest.approx(population, rel=0.05)  # and estimate the distance of the true Gaussians


def test_fid_and_kid_of_a_set_with_itself_are_zero_and_grow_with_noise(digits, digit_features):
    val, _, _ = digits
    extractor = digit_features.module
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(val.shape, generator=generator)
    fids, kids = [], []
    for sigma in (0.0, 0.1, 0.25, 0.5, 1.0):
        fid = frechet_distance_metric(extractor)
        kid = KernelDistance(extractor, subsets=20, subset_size=len(val))
        noisy = (val + sigma * noise).clamp(-1, 1)
        for metric in (fid, kid):
            metric.update(val, real=True)
            metric.update(noisy, real=False)
        fids.append(float(fid.compute()))
        kids.append(float(kid.compute()[0]))
    assert fids[0] == pytest.approx(0.0, abs=1e-6 * fids[1])
    # The unbiased MMD² of a set with itself is not exactly 0 but -2 (mean k(x, x) - mean k(x, y)) / (m - 1),
    # an O(1/m) term; with subsets of the whole set, KID must equal it.
    features = extractor(val).double()
    kernel = (features @ features.T / features.shape[1] + 1.0) ** 3
    m = len(val)
    expected = 2 * ((kernel.sum() - kernel.trace()) / (m * (m - 1)) - kernel.sum() / m**2)
    assert kids[0] == pytest.approx(float(expected), rel=1e-6)
    assert abs(kids[0]) < 0.25 * kids[-1]  # with m = 180 images the O(1/m) term is small but not negligible
    assert fids == sorted(fids) and len(set(fids)) == len(fids), fids
    assert kids == sorted(kids) and len(set(kids)) == len(kids), kids


def test_kid_does_not_depend_on_arrival_order_or_batching():
    generator = torch.Generator().manual_seed(1)
    real, fake = torch.randn(120, 6, generator=generator), torch.randn(90, 6, generator=generator) + 0.5
    whole = KernelDistance(FlattenFeatures(6), subsets=10, subset_size=50, seed=3)
    whole.update(real, real=True, index=torch.arange(120))
    whole.update(fake, real=False, index=torch.arange(90))
    # the same samples as two processes would see them: interleaved batches, out of order
    split = KernelDistance(FlattenFeatures(6), subsets=10, subset_size=50, seed=3)
    for start in (80, 0, 40):
        split.update(real[start : start + 40], real=True, index=torch.arange(start, start + 40))
    for start in (60, 30, 0):
        split.update(fake[start : start + 30], real=False, index=torch.arange(start, start + 30))
    assert [float(v) for v in split.compute()] == pytest.approx([float(v) for v in whole.compute()], rel=1e-9)
    other_seed = KernelDistance(FlattenFeatures(6), subsets=10, subset_size=50, seed=4)
    other_seed.update(real, real=True)
    other_seed.update(fake, real=False)
    assert float(other_seed.compute()[0]) != float(whole.compute()[0])


def test_metrics_refuse_a_feature_module_without_num_features():
    with pytest.raises(TypeError, match="num_features"):
        KernelDistance(torch.nn.Identity())
    with pytest.raises(TypeError, match="num_features"):
        PrecisionRecall(torch.nn.Flatten())


def test_precision_recall_metric_accumulates_batches_like_the_function():
    generator = torch.Generator().manual_seed(2)
    real = torch.randn(200, 5, generator=generator)
    fake = torch.randn(150, 5, generator=generator) * 1.5 + 0.3
    metric = PrecisionRecall(FlattenFeatures(5), k=3)
    for start in range(0, 200, 64):
        metric.update(real[start : start + 64], real=True)
    for start in range(0, 150, 64):
        metric.update(fake[start : start + 64], real=False)
    values = metric.compute()
    from gen_framework.metrics.functional import precision_recall

    expected = precision_recall(real, fake, k=3)
    assert float(values["precision"]) == pytest.approx(float(expected[0]))
    assert float(values["recall"]) == pytest.approx(float(expected[1]))
    assert 0.2 < float(values["precision"]) < 1.0 and 0.2 < float(values["recall"]) < 1.0


def test_class_coverage_reveals_mode_collapse():
    # the "classifier" sees one-hot logits, so predictions are exactly the given classes
    classifier = torch.nn.Identity()
    real = 10.0 * torch.eye(10).repeat(20, 1)  # 200 samples, 20 per class
    diverse = ClassCoverage(classifier, num_classes=10)
    collapsed = ClassCoverage(classifier, num_classes=10)
    for metric in (diverse, collapsed):
        metric.update(real, real=True)
    diverse.update(10.0 * torch.eye(10).repeat(30, 1), real=False)
    collapsed.update(10.0 * torch.eye(10)[[0, 1, 2]].repeat(100, 1), real=False)
    assert float(diverse.compute()["coverage"]) == 1.0
    assert float(collapsed.compute()["coverage"]) == pytest.approx(0.3)
    unsure = ClassCoverage(classifier, num_classes=10)
    unsure.update(real, real=True)
    unsure.update(torch.zeros(50, 10), real=False)  # uniform probabilities
    assert float(unsure.compute()["confidence"]) == pytest.approx(0.1)
    assert float(unsure.compute()["real_confidence"]) > 0.99


def test_trained_digit_classifier_separates_real_digits_from_noise(digits, digit_features):
    val, _, _ = digits
    assert digit_features.name == "trained-classifier"
    assert digit_features.details["heldout_accuracy"] > 0.8
    coverage = ClassCoverage(digit_features.classifier, num_classes=10)
    features = digit_features.module(val)
    coverage.update(features, real=True)
    coverage.update(digit_features.module(torch.rand(200, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1),
                    real=False)
    scores = coverage.compute()
    assert float(scores["real_confidence"]) > float(scores["confidence"])
    assert float(scores["coverage"]) < 1.0
