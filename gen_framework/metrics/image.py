"""Image metrics as torchmetrics ``Metric`` classes: KID with a canonical order, precision/recall, class coverage.

FID is torchmetrics' own :class:`~torchmetrics.image.fid.FrechetInceptionDistance` with ``feature=`` one of
our feature networks (:func:`frechet_distance_metric`); its states are sums, so DDP reduces them exactly.
KID and precision/recall keep per-sample features in list states. Before each synchronisation an empty
``(0, D)`` tensor is appended to every such list, so that a process that saw no sample still sends a tensor
of the right rank to the all-gather (torchmetrics would otherwise send a 1-D placeholder and fail).
"""

from __future__ import annotations

import warnings
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torchmetrics import Metric
from torchmetrics.utilities.data import dim_zero_cat
from torchmetrics.image.fid import FrechetInceptionDistance
from torchmetrics.image.kid import KernelInceptionDistance, poly_mmd

from gen_framework.metrics.functional import class_coverage, precision_recall


def _num_features(feature: nn.Module, owner: str) -> int:
    num = getattr(feature, "num_features", None)
    if isinstance(num, Tensor):
        num = int(num.item())
    if not isinstance(num, int) or num < 1:
        raise TypeError(f"{owner}: the feature module must have an int attribute `num_features`, got {num!r}")
    return num


def _add_placeholders(metric: Metric, shapes: dict[str, tuple[tuple[int, ...], torch.dtype]]) -> None:
    """Append an empty tensor of the state's trailing shape to each named list state (see the module docstring)."""
    for name, (shape, dtype) in shapes.items():
        state = getattr(metric, name)
        if isinstance(state, list):
            state.append(torch.zeros(0, *shape, dtype=dtype, device=metric.device))


def frechet_distance_metric(feature: nn.Module) -> FrechetInceptionDistance:
    """torchmetrics' FID over the features of ``feature`` (images or features in, ``(B, D)`` out)."""
    return FrechetInceptionDistance(feature=feature, reset_real_features=True, normalize=False)


class KernelDistance(KernelInceptionDistance):
    """KID (Bińkowski et al., 2018) whose value does not depend on how samples were split across processes.

    torchmetrics' KID draws its subsets with the global random generator from features in arrival order, so
    the same samples seen by 1 or 2 processes give different values. Here each sample carries its global
    index; :meth:`compute` sorts by it and draws the subsets from a generator seeded with ``seed``.

    Args:
        feature: images ``(B, ...)`` → features ``(B, D)``; must have ``num_features``.
        subsets: number of random subsets the unbiased MMD² is averaged over.
        subset_size: samples per subset; clamped to the smaller set when that has fewer samples.
        degree, gamma, coef: the polynomial kernel ``(gamma x·y + coef)^degree``; gamma defaults to 1/D.
        seed: seed of the subset draws.
    """

    higher_is_better: ClassVar[bool] = False
    is_differentiable: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False

    def __init__(
        self,
        feature: nn.Module,
        subsets: int = 100,
        subset_size: int = 1000,
        degree: int = 3,
        gamma: float | None = None,
        coef: float = 1.0,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*will save all extracted features in buffer.*")
            super().__init__(
                feature=feature, subsets=subsets, subset_size=subset_size, degree=degree, gamma=gamma, coef=coef,
                **kwargs,
            )
        num = _num_features(feature, type(self).__name__)
        self.seed = seed
        self._shapes: dict[str, tuple[tuple[int, ...], torch.dtype]] = {}
        for which in ("real", "fake"):
            self.add_state(f"{which}_features", [], dist_reduce_fx="cat")
            self.add_state(f"{which}_index", [], dist_reduce_fx="cat")
            self._shapes[f"{which}_features"] = ((num,), torch.float32)
            self._shapes[f"{which}_index"] = ((), torch.long)

    def update(self, imgs: Tensor, real: bool, index: Tensor | None = None) -> None:  # type: ignore[override]
        """Add a batch ``(B, ...)``; ``index`` ``(B,)`` gives each sample's global number (default: arrival order)."""
        features = self.inception(imgs).float()
        which = "real" if real else "fake"
        if index is None:
            seen = sum(len(part) for part in getattr(self, f"{which}_index"))
            index = torch.arange(len(features), device=features.device) + seen
        getattr(self, f"{which}_features").append(features)
        getattr(self, f"{which}_index").append(index.to(features.device, torch.long))

    def sync(self, *args: Any, **kwargs: Any) -> None:
        _add_placeholders(self, self._shapes)
        super().sync(*args, **kwargs)

    def compute(self) -> tuple[Tensor, Tensor]:
        """Mean and standard deviation of the unbiased MMD² over the subsets (float scalars)."""
        real = dim_zero_cat(self.real_features)[dim_zero_cat(self.real_index).argsort()].double()
        fake = dim_zero_cat(self.fake_features)[dim_zero_cat(self.fake_index).argsort()].double()
        size = min(self.subset_size, len(real), len(fake))
        if size < 2:
            raise ValueError(f"KID needs at least 2 real and 2 generated samples, got {len(real)} and {len(fake)}")
        generator = torch.Generator().manual_seed(self.seed)
        scores = []
        for _ in range(self.subsets):
            pick_real = torch.randperm(len(real), generator=generator)[:size].to(real.device)
            pick_fake = torch.randperm(len(fake), generator=generator)[:size].to(fake.device)
            scores.append(poly_mmd(real[pick_real], fake[pick_fake], self.degree, self.gamma, self.coef))
        stacked = torch.stack(scores)
        return stacked.mean(), stacked.std(unbiased=False)


class PrecisionRecall(Metric):
    """Improved precision and recall (Kynkäänniemi et al., 2019) in the feature space of ``feature``.

    Precision: share of generated samples inside the real manifold (union of k-NN balls of real features);
    recall: share of real samples inside the generated manifold. Both in [0, 1], higher is better.

    Args:
        feature: images ``(B, ...)`` → features ``(B, D)``; must have ``num_features``.
        k: neighbourhood size of the manifold balls (3 in the paper).
    """

    higher_is_better: ClassVar[bool] = True
    is_differentiable: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False
    plot_lower_bound: ClassVar[float] = 0.0
    plot_upper_bound: ClassVar[float] = 1.0

    real_features: list[Tensor] | Tensor
    fake_features: list[Tensor] | Tensor

    def __init__(self, feature: nn.Module, k: int = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if k < 1:
            raise ValueError(f"PrecisionRecall: k must be >= 1, got {k}")
        self.feature = feature
        self.k = k
        num = _num_features(feature, type(self).__name__)
        self.add_state("real_features", [], dist_reduce_fx="cat")
        self.add_state("fake_features", [], dist_reduce_fx="cat")
        self._shapes = {name: ((num,), torch.float32) for name in ("real_features", "fake_features")}

    def update(self, imgs: Tensor, real: bool) -> None:
        """Add a batch of real (``real=True``) or generated images ``(B, ...)``."""
        features = self.feature(imgs).float()
        (self.real_features if real else self.fake_features).append(features)  # type: ignore[union-attr]

    def sync(self, *args: Any, **kwargs: Any) -> None:
        _add_placeholders(self, self._shapes)
        super().sync(*args, **kwargs)

    def compute(self) -> dict[str, Tensor]:
        """``{"precision": ..., "recall": ...}``, float scalars in [0, 1]."""
        precision, recall = precision_recall(dim_zero_cat(self.real_features), dim_zero_cat(self.fake_features), self.k)
        return {"precision": precision, "recall": recall}


class ClassCoverage(Metric):
    """How confidently a classifier of the real data recognises generated samples, and how many classes they cover.

    ``confidence``: mean maximum softmax probability over generated samples (blurry or garbled samples lower
    it). ``coverage``: share of the classes the classifier finds in real data that generated samples cover,
    a class being covered when it receives at least ``min_share`` of its real share (mode collapse lowers it).
    ``real_confidence``: the same confidence on real data, the reference a good generator approaches.

    Args:
        classifier: inputs ``(B, ...)`` → logits ``(B, K)``.
        num_classes: K.
        min_share: see :func:`~gen_framework.metrics.functional.class_coverage`.
    """

    higher_is_better: ClassVar[bool] = True
    is_differentiable: ClassVar[bool] = False
    full_state_update: ClassVar[bool] = False

    def __init__(self, classifier: nn.Module, num_classes: int, min_share: float = 0.5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if num_classes < 2 or not 0 < min_share <= 1:
            raise ValueError(
                f"ClassCoverage: need num_classes >= 2 and 0 < min_share <= 1, got {num_classes}, {min_share}"
            )
        self.classifier = classifier
        self.min_share = min_share
        for which in ("real", "fake"):
            self.add_state(f"{which}_counts", torch.zeros(num_classes, dtype=torch.float64), dist_reduce_fx="sum")
            self.add_state(f"{which}_confidence", torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, inputs: Tensor, real: bool) -> None:
        """Classify a batch of real or generated inputs ``(B, ...)``."""
        probabilities = self.classifier(inputs).float().softmax(dim=1)
        confidence, predicted = probabilities.max(dim=1)
        which = "real" if real else "fake"
        counts: Tensor = getattr(self, f"{which}_counts")
        counts += torch.bincount(predicted, minlength=counts.numel()).to(counts)
        setattr(self, f"{which}_confidence", getattr(self, f"{which}_confidence") + confidence.double().sum())

    def compute(self) -> dict[str, Tensor]:
        """``{"confidence", "coverage", "real_confidence"}``, float scalars in [0, 1]."""
        return {
            "confidence": self.fake_confidence / self.fake_counts.sum().clamp(min=1),
            "coverage": class_coverage(self.fake_counts, self.real_counts, self.min_share),
            "real_confidence": self.real_confidence / self.real_counts.sum().clamp(min=1),
        }
