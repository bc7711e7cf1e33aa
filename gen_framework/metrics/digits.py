"""The digit judge: one classifier of handwritten digits, trained on the embedded MNIST digits, and its scores.

Benchmarks, learning tests and plugins judge generated digits with this one network. A generator of digits is
good when a classifier that reads real digits well reads its samples confidently, when every class shows up
among them in a fair share (no mode collapse), and when the classifier's features of samples are distributed
like those of real digits (a pixel statistic cannot tell a diverse generator from one that draws the mean
digit; these features can).

The network is :class:`~gen_framework.metrics.features.ConvFeatureNet` trained by
:func:`~gen_framework.metrics.trained_features.trained_feature_network` (the network and recipe the image
metrics train on any labelled data) on the training split of :class:`gen_framework.data.MNIST` (the 5,000
embedded digits, split with ``seed``) at the samples' image size. It is trained once per size and seed (a few
CPU seconds) and cached as safetensors under ``$GEN_FRAMEWORK_CACHE/features``: the cache key covers the recipe
and the training images, and the SHA-256 of the weights is checked when it is loaded.

What it measures, on images ``(N, 1, S, S)`` in [-1, 1]:

- :func:`digit_scores`: share read with softmax >= :data:`CONFIDENT` (confident fraction), classes among those
  (classes covered), mean top probability, per-class counts and the smallest class share;
- :func:`digit_feature_distance`: FD-digits, the Fréchet distance between Gaussians fitted to its 128-d
  features of samples and of real digits (lower is better; biased upward for small N, so compare at equal N
  and against the real-vs-real floor);
- :class:`DigitJudge`: all of it against fixed reference digits, FD also as a multiple of the real-vs-real
  floor, and class coverage relative to the real digits' class shares.

Values are comparable between runs that use the same weights (:meth:`DigitClassifier.describe` records their
SHA-256), never with classifiers or feature networks of other projects.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import DataLoader

from gen_framework.data import MNIST
from gen_framework.metrics.features import FeatureNetwork
from gen_framework.metrics.functional import class_coverage, frechet_distance, gaussian_statistics
from gen_framework.metrics.trained_features import FeatureRecipe, collect_images, trained_feature_network

#: Top softmax probability from which a sample counts as read confidently as its class.
CONFIDENT = 0.9
NUM_CLASSES = 10


class DigitClassifier(nn.Module):
    """The trained digit network: images ``(B, 1, S, S)`` in [-1, 1] → logits ``(B, 10)``.

    Args:
        network: a trained classifier of the ten digit classes (from :func:`digit_classifier`).
    """

    def __init__(self, network: FeatureNetwork) -> None:
        super().__init__()
        if network.classifier is None:
            raise ValueError(f"{network.name} was not trained to classify digits (it has no classifier head)")
        self.body = network.module
        self.head = network.classifier
        self.record = network.describe()

    @property
    def num_features(self) -> int:
        return int(self.body.num_features)

    def features(self, images: Tensor) -> Tensor:
        """The penultimate activations ``(B, D)``, standardised on the training digits: FD-digits' space."""
        return self.body(images)

    def forward(self, images: Tensor) -> Tensor:
        return self.head(self.body(images))

    def describe(self) -> dict[str, Any]:
        """The JSON-able identity of the weights (name, SHA-256, training task and recipe, cache file)."""
        return dict(self.record)


def digit_classifier(
    image_size: int = 28,
    *,
    seed: int = 0,
    recipe: FeatureRecipe | None = None,
    directory: Path | None = None,
) -> tuple[DigitClassifier, float]:
    """The digit judge for ``image_size`` pixels: loaded from the cache, or trained and cached first.

    Args:
        image_size: side S of the images it will read (the embedded 28-pixel digits are resized to it).
        seed: seed of the MNIST train/validation split it trains on.
        recipe: the training recipe (part of the cache key); default :class:`FeatureRecipe`'s defaults.
        directory: cache folder; default :func:`~gen_framework.metrics.trained_features.cache_dir`.

    Returns:
        The classifier in eval mode, and its accuracy in [0, 1] on the MNIST validation digits (never trained on).
    """
    recipe = recipe or FeatureRecipe()
    data = MNIST(image_size=image_size, channels=1, seed=seed)
    # read in order, so the cache key depends only on the digits
    images, labels = collect_images(
        DataLoader(data.splits.train, batch_size=256, shuffle=False), max_images=recipe.max_images
    )
    assert labels is not None
    network = trained_feature_network(
        images, labels, dataset_key=f"mnist-{image_size}px-1ch", recipe=recipe, directory=directory
    )
    classifier = DigitClassifier(network).eval()
    correct = total = 0
    with torch.no_grad():
        for x, y in DataLoader(data.splits.val, batch_size=500):
            correct += int((classifier(x).argmax(1) == y).sum())
            total += len(y)
    return classifier, correct / max(1, total)


@dataclass(frozen=True)
class DigitScores:
    """How the digit judge reads a set of images.

    Attributes:
        confident_fraction: share of images whose top softmax probability is at least the threshold.
        classes_covered: number of the 10 classes that are the top class of at least one confident image.
        mean_confidence: mean top softmax probability.
        class_counts: confident images per class, classes 0-9.
        min_class_share: smallest share of all images whose top class is a given class (0.1 when balanced).
        coverage: (:class:`DigitJudge` only) share of the classes whose share among the images is at least
            half their share among the reference digits.
        fd: (:class:`DigitJudge` only) FD-digits to the reference digits.
        fd_ratio: (:class:`DigitJudge` only) ``fd`` over the real-vs-real floor (1: as good as real digits).
    """

    confident_fraction: float
    classes_covered: int
    mean_confidence: float
    class_counts: list[int]
    min_class_share: float
    coverage: float | None = None
    fd: float | None = None
    fd_ratio: float | None = None

    @property
    def classes_confident(self) -> int:
        """Same as :attr:`classes_covered`: classes among the confidently read images."""
        return self.classes_covered

    def as_dict(self) -> dict[str, Any]:
        """A rounded JSON record (FD as ``fd_digits``, the benchmarks' name); the judge's fields only when measured."""
        record: dict[str, Any] = {
            "confident_fraction": round(self.confident_fraction, 3), "classes_covered": self.classes_covered,
            "mean_confidence": round(self.mean_confidence, 3), "min_class_share": round(self.min_class_share, 3),
            "class_counts": list(self.class_counts),
        }
        if self.coverage is not None:
            record["coverage"] = round(self.coverage, 2)
        if self.fd is not None and self.fd_ratio is not None:
            record.update(fd_digits=round(self.fd, 2), fd_ratio=round(self.fd_ratio, 2))
        return record


def _read(logits: Tensor, threshold: float) -> DigitScores:
    """Scores of logits ``(N, 10)``."""
    probabilities = F.softmax(logits, dim=1)
    top, label = probabilities.max(dim=1)
    confident = top >= threshold
    counts = torch.bincount(label[confident], minlength=NUM_CLASSES)
    shares = torch.bincount(label, minlength=NUM_CLASSES).float() / len(label)
    return DigitScores(
        confident_fraction=float(confident.float().mean()),
        classes_covered=int((counts > 0).sum()),
        mean_confidence=float(top.mean()),
        class_counts=[int(c) for c in counts],
        min_class_share=float(shares.min()),
    )


@torch.no_grad()
def digit_scores(classifier: nn.Module, images: Tensor, *, threshold: float = CONFIDENT) -> DigitScores:
    """How a digit classifier reads images ``(N, 1, S, S)`` in [-1, 1].

    Args:
        classifier: maps images to logits ``(N, 10)``, e.g. from :func:`digit_classifier`.
        images: the samples, e.g. ``model.sample(N, seed=0)``.
        threshold: top softmax probability in (0, 1) from which an image counts as confidently read.
    """
    return _read(classifier(images), threshold)


@torch.no_grad()
def digit_feature_distance(classifier: DigitClassifier, images: Tensor, real: Tensor) -> float:
    """FD-digits: Fréchet distance of the classifier's features of ``images`` and ``real``, both ``(N, 1, S, S)``.

    Comparable only between runs with the same classifier and the same numbers of images (the estimate is biased
    upward for small N): real digits against other real digits give its floor.
    """
    return float(frechet_distance(*gaussian_statistics(classifier.features(images).double()),
                                  *gaussian_statistics(classifier.features(real).double())))


class DigitJudge:
    """The digit judge against fixed reference digits: confident reading, class coverage, FD and its floor.

    Args:
        reference: real digits ``(N, 1, S, S)`` in [-1, 1] that samples are compared with (validation digits).
        floor_images: other real digits ``(M, 1, S, S)`` (training digits, M = N) that give the real-vs-real floor.
        classifier: the digit classifier; default :func:`digit_classifier` at the reference's image size.
        threshold: top softmax probability from which an image counts as confidently read.
    """

    def __init__(
        self,
        reference: Tensor,
        floor_images: Tensor,
        classifier: DigitClassifier | None = None,
        *,
        threshold: float = CONFIDENT,
    ) -> None:
        self.classifier = classifier if classifier is not None else digit_classifier(int(reference.shape[-1]))[0]
        self.threshold = threshold
        with torch.no_grad():
            features = self.classifier.features(reference)
            self.reference_stats = gaussian_statistics(features.double())
            self.real_counts = torch.bincount(self.classifier.head(features).argmax(1), minlength=NUM_CLASSES)
        self.floor = 1.0
        self.floor = self(floor_images).fd  # type: ignore[assignment]

    @torch.no_grad()
    def __call__(self, images: Tensor) -> DigitScores:
        """Scores of images ``(N, 1, S, S)`` in [-1, 1] (N of a few hundred; FD is biased upward for small N)."""
        features = self.classifier.features(images.clamp(-1, 1))
        logits = self.classifier.head(features)
        scores = _read(logits, self.threshold)
        fd = float(frechet_distance(*gaussian_statistics(features.double()), *self.reference_stats))
        counts = torch.bincount(logits.argmax(1), minlength=NUM_CLASSES)
        return DigitScores(
            **{**asdict(scores), "coverage": float(class_coverage(counts, self.real_counts)), "fd": fd,
               "fd_ratio": fd / self.floor},
        )


__all__ = [
    "CONFIDENT",
    "DigitClassifier",
    "DigitJudge",
    "DigitScores",
    "digit_classifier",
    "digit_feature_distance",
    "digit_scores",
]
