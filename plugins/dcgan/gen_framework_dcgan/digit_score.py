"""Judging generated MNIST digits with a small classifier trained on real ones.

A generator of digits is good when a classifier that reads real digits well reads its samples confidently,
and when every digit class shows up among them in a fair share (no mode collapse). :func:`train_digit_classifier`
trains a small CNN on the 5,000 real MNIST digits bundled with gen-framework (offline, about 30 s on one CPU
thread), :func:`digit_scores` measures both properties for a batch of samples, and
:func:`digit_feature_distance` gives FD-digits: the Fréchet distance between Gaussians fitted to the
classifier's 64-d penultimate features of samples and of real digits (lower is better; it sees both quality
and variety).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class DigitClassifier(nn.Module):
    """Images ``(B, 1, 28, 28)`` in [-1, 1] → logits ``(B, 10)``; two conv blocks and an MLP head."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 16, 14, 14)
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),  # (B, 32, 7, 7)
            nn.Flatten(), nn.Linear(32 * 7 * 7, 64), nn.ReLU(), nn.Linear(64, 10),
        )

    def features(self, images: Tensor) -> Tensor:
        """The penultimate activations ``(B, 64)``, the input of the last linear layer."""
        return self.net[:-1](images)

    def forward(self, images: Tensor) -> Tensor:
        return self.net(images)


def train_digit_classifier(*, epochs: int = 10, seed: int = 0) -> tuple[DigitClassifier, float]:
    """Train :class:`DigitClassifier` on the bundled MNIST digits' training split.

    Args:
        epochs: Passes over the ~4,500 training digits.
        seed: Seed of the initialisation, the split and the shuffling.

    Returns:
        The classifier in eval mode, and its accuracy in [0, 1] on the held-out validation digits.
    """
    from gen_framework.data import MNIST

    data = MNIST(image_size=28, channels=1, batch_size=64, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = DigitClassifier()
    optimiser = torch.optim.Adam(model.parameters(), lr=2e-3)
    loader = data.train_dataloader()
    model.train()
    for _ in range(epochs):
        for images, labels in loader:
            # A pixel shift of up to 2 in each direction: generated digits are not all centred like MNIST's.
            dx, dy = torch.randint(-2, 3, (2,), generator=generator).tolist()
            images = torch.roll(images, shifts=(dy, dx), dims=(2, 3))
            loss = F.cross_entropy(model(images), labels)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for images, labels in data.val_dataloader():
            correct += int((model(images).argmax(1) == labels).sum())
            total += len(labels)
    return model, correct / total


@dataclass(frozen=True)
class DigitScores:
    """How a classifier reads a batch of generated digits.

    Attributes:
        confident_fraction: Share of samples whose top softmax probability is at least the threshold.
        classes_covered: Number of the 10 classes that are the top class of at least one confident sample.
        mean_confidence: Mean top softmax probability.
        class_counts: Confident samples per class, classes 0-9.
        min_class_share: Smallest share of all samples whose top class is a given class (0.1 when balanced).
    """

    confident_fraction: float
    classes_covered: int
    mean_confidence: float
    class_counts: list[int]
    min_class_share: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@torch.no_grad()
def digit_scores(classifier: nn.Module, images: Tensor, *, threshold: float = 0.9) -> DigitScores:
    """Score generated digits ``(N, 1, 28, 28)`` in [-1, 1] with a trained classifier.

    Args:
        classifier: Maps images to logits ``(N, 10)``, e.g. from :func:`train_digit_classifier`.
        images: The samples, e.g. ``DCGAN.sample(N, seed=0)``.
        threshold: Top softmax probability in (0, 1) from which a sample counts as confidently read.
    """
    probabilities = F.softmax(classifier(images), dim=1)
    top, label = probabilities.max(dim=1)
    confident = top >= threshold
    counts = torch.bincount(label[confident], minlength=10)
    shares = torch.bincount(label, minlength=10).float() / len(label)
    return DigitScores(
        confident_fraction=float(confident.float().mean()),
        classes_covered=int((counts > 0).sum()),
        mean_confidence=float(top.mean()),
        class_counts=[int(c) for c in counts],
        min_class_share=float(shares.min()),
    )


@torch.no_grad()
def digit_feature_distance(classifier: DigitClassifier, images: Tensor, real: Tensor) -> float:
    """FD-digits: Fréchet distance of the classifier's features of ``images`` and ``real``, both ``(N, 1, 28, 28)``.

    Comparable only between runs with the same classifier and the same numbers of images (the estimate is
    biased upwards for small N): real digits against other real digits give its floor.
    """
    from gen_framework.metrics.functional import frechet_distance, gaussian_statistics

    return float(frechet_distance(*gaussian_statistics(classifier.features(images)),
                                  *gaussian_statistics(classifier.features(real))))


__all__ = ["DigitClassifier", "DigitScores", "digit_feature_distance", "digit_scores", "train_digit_classifier"]
