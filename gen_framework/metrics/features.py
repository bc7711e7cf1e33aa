"""Feature networks for the image metrics: InceptionV3 when it is available, else a small net trained on the data.

Every feature network maps images ``(B, C, H, W)`` in [-1, 1] to features ``(B, D)`` and carries
``num_features`` (D), the attribute torchmetrics reads from a custom ``feature`` module. A
:class:`FeatureNetwork` wraps one with what ``metrics.json`` must record about it: its name, the SHA-256 of
its weights and how images are resized for it.

InceptionV3 needs the optional ``torch-fidelity`` package and its weights file. Nothing is ever downloaded
here: the weights come from ``inception_weights`` (a local path, for clusters without internet) or from
torch-fidelity's own download cache, and are refused with an error naming the path otherwise.
"""

from __future__ import annotations

import hashlib
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from torch import Tensor, nn

from gen_framework.errors import ConfigError

FeatureNetworkKind = Literal["auto", "inception", "trained"]

#: The file torch-fidelity downloads its InceptionV3 weights to (inside ``torch.hub.get_dir()/checkpoints``).
INCEPTION_WEIGHTS_FILE = "weights-inception-2015-12-05-6726825d.pth"


class FlattenFeatures(nn.Module):
    """The identity on features: lets torchmetrics' FID/KID accept features computed once and shared.

    Args:
        num_features: D, the width of the features ``(B, D)`` passed in.
    """

    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, features: Tensor) -> Tensor:
        return features.flatten(1)


class ConvFeatureNet(nn.Module):
    """A small convolutional network trained by the framework; its penultimate layer gives the features.

    Stride-2 3×3 convolutions halve the image until it is at most 4×4 (widths ``width``, ``2 width``,
    ``4 width``, ...), one more 3×3 convolution, 2×2 average pooling (keeps coarse layout), then a ReLU layer
    of ``num_features`` units — the features — and a linear classifier on them. After training, the features
    are centred and scaled (buffers ``feature_shift``, ``feature_scale``) to zero mean and unit mean variance
    on the training images, so FID/KID values do not depend on the offset and scale training happened to
    give them (KID's polynomial kernel is sensitive to both).

    Args:
        channels: C of the images.
        image_size: side S of the square images.
        num_classes: K, outputs of the classifier head (data labels, or 4 rotations when self-supervised).
        width: channels of the first convolution.
        num_features: D.
    """

    def __init__(
        self, channels: int, image_size: int, num_classes: int, width: int = 16, num_features: int = 128
    ) -> None:
        super().__init__()
        self.num_features = num_features
        #: What rebuilds this network around a saved state.
        self.init_args = {"channels": channels, "image_size": image_size, "num_classes": num_classes,
                          "width": width, "num_features": num_features}
        layers: list[nn.Module] = []
        in_ch, out_ch, size = channels, width, image_size
        while True:
            layers += [nn.Conv2d(in_ch, out_ch, 3, stride=2, padding=1), nn.ReLU()]
            in_ch, size = out_ch, (size + 1) // 2
            out_ch = min(2 * out_ch, 4 * width)
            if size <= 4:
                break
        layers += [
            nn.Conv2d(in_ch, in_ch, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(),
            nn.Linear(4 * in_ch, num_features), nn.ReLU(),
        ]
        self.body = nn.Sequential(*layers)
        self.classifier = nn.Linear(num_features, num_classes)
        self.register_buffer("feature_shift", torch.zeros(num_features))
        self.register_buffer("feature_scale", torch.ones(()))

    def forward(self, images: Tensor) -> Tensor:
        """Images ``(B, C, S, S)`` in [-1, 1] → features ``(B, D)``."""
        return (self.body(images) - self.feature_shift) * self.feature_scale

    def logits(self, images: Tensor) -> Tensor:
        """Images ``(B, C, S, S)`` in [-1, 1] → class logits ``(B, K)``."""
        return self.classifier(self.forward(images))

    @torch.no_grad()
    def standardise(self, images: Tensor) -> None:
        """Centre and scale the features of ``images`` to zero mean and unit mean variance; logits do not change."""
        total = torch.zeros(self.num_features, dtype=torch.float64, device=images.device)
        squares = torch.zeros_like(total)
        for start in range(0, len(images), 256):
            features = self.forward(images[start : start + 256]).double()
            total += features.sum(dim=0)
            squares += features.square().sum(dim=0)
        n = len(images)
        mean = total / n
        variance = (squares - n * mean.square()) / max(1, n - 1)
        scale = variance.mean().clamp(min=1e-12).rsqrt()
        # logits = W f + b for the old features f; with f' = (f - mean) s they are (W / s) f' + (W mean + b)
        weight = self.classifier.weight.double()
        self.classifier.bias.add_((weight @ mean).to(self.classifier.bias.dtype))
        self.classifier.weight.copy_((weight / scale).to(self.classifier.weight.dtype))
        self.feature_shift.add_((mean / self.feature_scale.double()).to(self.feature_shift.dtype))
        self.feature_scale.mul_(scale.to(self.feature_scale.dtype))


class InceptionFeatures(nn.Module):
    """InceptionV3 pool features (2048) of torch-fidelity, the network of published FID/KID numbers.

    Images in [-1, 1] are quantised to 8 bits, grey images repeated to RGB, and resized to 299×299 by the
    TensorFlow-1-compatible bilinear interpolation of the reference implementation.

    Args:
        weights_path: InceptionV3 weights in torch-fidelity's format (``weights-inception-2015-12-05-*.pth``).

    Raises:
        ConfigError: when the weights file is missing or torch-fidelity is not installed.
    """

    num_features = 2048

    def __init__(self, weights_path: str | Path) -> None:
        super().__init__()
        path = Path(weights_path).expanduser()
        if not path.is_file():
            raise ConfigError(f"InceptionV3 weights not found at {path}; give the path of {INCEPTION_WEIGHTS_FILE}")
        if not torch_fidelity_available():
            raise ConfigError(
                "feature_network='inception' needs torch-fidelity: pip install 'gen-framework[fidelity]' "
                "(or use feature_network='trained')"
            )
        from torchmetrics.image.fid import NoTrainInceptionV3

        self.weights_path = path
        self.inception = NoTrainInceptionV3(
            name="inception-v3-compat", features_list=["2048"], feature_extractor_weights_path=str(path),
            antialias=False,
        )

    def forward(self, images: Tensor) -> Tensor:
        """Images ``(B, C, H, W)`` in [-1, 1], C 1 or 3 → features ``(B, 2048)``."""
        return self.inception(to_uint8_rgb(images))


def to_uint8_rgb(images: Tensor) -> Tensor:
    """Images ``(B, C, H, W)`` in [-1, 1], C 1 or 3 → uint8 ``(B, 3, H, W)`` in [0, 255] (grey repeated)."""
    if images.dim() != 4 or images.shape[1] not in (1, 3):
        raise ConfigError(f"images must have shape (B, C, H, W) with C 1 or 3, got {tuple(images.shape)}")
    quantised = ((images.clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return quantised.expand(-1, 3, -1, -1) if quantised.shape[1] == 1 else quantised


def torch_fidelity_available() -> bool:
    """Whether torch-fidelity can be imported (checked without importing it)."""
    return importlib.util.find_spec("torch_fidelity") is not None


def cached_inception_weights() -> Path | None:
    """torch-fidelity's cached InceptionV3 weights file if a previous run downloaded it, else ``None``."""
    path = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    return path if path.is_file() else None


def choose_feature_network(kind: FeatureNetworkKind, inception_weights: str | None) -> tuple[str, Path | None]:
    """Decide between InceptionV3 and a trained network → ``("inception", weights path)`` or ``("trained", None)``.

    ``auto`` takes InceptionV3 when torch-fidelity is installed and weights are given or cached, and the
    trained network otherwise; ``inception`` insists (errors name what is missing); ``trained`` never uses it.

    Raises:
        ConfigError: for an unknown ``kind``, a missing ``inception_weights`` file, or ``inception`` without
            weights or torch-fidelity.
    """
    if kind not in ("auto", "inception", "trained"):
        raise ConfigError(f"feature_network must be 'auto', 'inception' or 'trained', got {kind!r}")
    if kind == "trained":
        return "trained", None
    if inception_weights is not None:
        path = Path(inception_weights).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"inception_weights: no file at {path}; give the path of {INCEPTION_WEIGHTS_FILE} "
                "(torch-fidelity's InceptionV3 weights)"
            )
        if not torch_fidelity_available():
            raise ConfigError(
                "inception_weights is set but torch-fidelity is not installed: pip install 'gen-framework[fidelity]'"
            )
        return "inception", path
    cached = cached_inception_weights()
    if kind == "auto":
        return ("inception", cached) if cached is not None and torch_fidelity_available() else ("trained", None)
    if cached is None:
        expected = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
        raise ConfigError(
            f"feature_network='inception' but no InceptionV3 weights at {expected} and nothing may be downloaded; "
            "set inception_weights to a local copy of the file"
        )
    if not torch_fidelity_available():
        raise ConfigError("feature_network='inception' needs torch-fidelity: pip install 'gen-framework[fidelity]'")
    return "inception", cached


def state_sha256(module: nn.Module) -> str:
    """SHA-256 of a module's state (names, dtypes, shapes and bytes, in name order): its weights' identity."""
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        data = tensor.detach().cpu().contiguous()
        digest.update(f"{name}:{data.dtype}:{tuple(data.shape)};".encode())
        digest.update(data.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class FeatureNetwork:
    """A feature network and what the protocol records about it.

    Attributes:
        module: images ``(B, C, H, W)`` in [-1, 1] → features ``(B, D)``; has ``num_features``.
        name: ``"inception-v3"``, ``"trained-classifier"`` or ``"trained-rotation"``.
        weights_sha256: SHA-256 of the weights (the file for InceptionV3, the state for trained networks).
        resize: how images are brought to the network's input size.
        classifier: features ``(B, D)`` → logits ``(B, K)`` over the data's classes, when the network was
            trained to classify them (enables classifier confidence and class coverage).
        details: anything else worth recording (training task, held-out accuracy, cache file).
    """

    module: nn.Module
    name: str
    weights_sha256: str
    resize: str
    classifier: nn.Module | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def num_features(self) -> int:
        return int(self.module.num_features)

    def describe(self) -> dict[str, Any]:
        """The JSON-able record written beside every image metric."""
        return {"name": self.name, "weights_sha256": self.weights_sha256, "num_features": self.num_features,
                **self.details}


def inception_network(weights_path: Path) -> FeatureNetwork:
    """:class:`FeatureNetwork` of InceptionV3 loaded from ``weights_path`` (see :class:`InceptionFeatures`)."""
    module = InceptionFeatures(weights_path)
    return FeatureNetwork(
        module=module,
        name="inception-v3",
        weights_sha256=file_sha256(weights_path),
        resize="8-bit RGB, bilinear to 299x299 (TensorFlow-1 compatible, torch-fidelity)",
        details={"weights_path": str(weights_path), "layer": "pool3 (2048)"},
    )
