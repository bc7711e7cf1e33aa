"""Compute the metrics that fit a model's family and modality, with the protocol of each value.

:func:`evaluate` is what :class:`~gen_framework.callbacks.Evaluation` runs; it needs no Trainer, only the model,
where its data comes from (:class:`EvaluationData`) and which share of the work this process does
(:class:`Shard`). What is computed:

- images (any family): FID, KID, precision/recall on samples; classifier confidence and class coverage when
  the feature network classifies the data's labels;
- VAEs in addition: PSNR and SSIM of reconstructions, importance-weighted NLL in nats and bits/dim;
- text: bits per token, perplexity and bits per character on the split, and the bits per character of ``xz -9e``
  on the same text;
- audio: bits per sample on the split, and the log-mel Fréchet distance between generated and real clips.

Work is split so that the values do not depend on the number of processes: batch ``i`` of the data is handled
by process ``i mod world_size``, and generated chunk ``j`` (``sample_batch_size`` samples) is drawn with seed
``seed + j`` by process ``j mod world_size``; torchmetrics then reduces the states across processes.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gen_framework.errors import ConfigError
from gen_framework.metrics.audio import MelFrechetDistance
from gen_framework.metrics.features import (
    FeatureNetwork,
    FeatureNetworkKind,
    FlattenFeatures,
    choose_feature_network,
    inception_network,
)
from gen_framework.metrics.functional import bits_per_dim, xz_compressed_bytes
from gen_framework.metrics.likelihood import NegativeLogLikelihood
from gen_framework.metrics.report import MetricRecord
from gen_framework.metrics.trained_features import (
    FeatureRecipe,
    collect_images,
    network_from_payload,
    network_payload,
    trained_feature_network,
)


@dataclass(frozen=True)
class EvaluationSettings:
    """What to compute and how much of it (see :class:`~gen_framework.callbacks.Evaluation` for each field)."""

    num_samples: int = 1000
    sample_batch_size: int = 250
    iwae_samples: int = 64
    seed: int = 0
    feature_network: FeatureNetworkKind = "auto"
    inception_weights: str | None = None
    feature_recipe: FeatureRecipe = FeatureRecipe()
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_neighbours: int = 3
    max_batches: int | None = None
    num_audio_samples: int = 8
    audio_seconds: float = 0.5
    sampling_options: dict[str, Any] = field(default_factory=dict)


@dataclass
class EvaluationData:
    """Where the evaluation reads its data.

    Attributes:
        eval_batches: returns a fresh iterable over the evaluated split (e.g. ``datamodule.test_dataloader``);
            image batches ``(x (B, C, S, S) in [-1, 1], y)``, token batches ``(B, T + 1)`` or ``(tokens, label)``.
        data_spec: the datamodule's ``data_spec()``.
        split: name of the split, recorded (``"val"``, ``"test"``).
        train_batches: returns the training batches the trained feature network learns from, or ``None``.
        dataset_key: readable name of the data for the feature network's cache file.
    """

    eval_batches: Callable[[], Iterable[Any]]
    data_spec: dict[str, Any]
    split: str
    train_batches: Callable[[], Iterable[Any]] | None = None
    dataset_key: str = "data"


def _same(obj: Any) -> Any:
    return obj


@dataclass
class Shard:
    """This process's share: ``rank`` of ``world_size``; ``broadcast`` returns rank 0's object on every rank."""

    rank: int = 0
    world_size: int = 1
    broadcast: Callable[[Any], Any] = _same

    def owns(self, index: int) -> bool:
        """Whether this process handles batch or chunk number ``index``."""
        return index % self.world_size == self.rank


def evaluate(
    module: nn.Module,
    data: EvaluationData,
    settings: EvaluationSettings = EvaluationSettings(),
    shard: Shard = Shard(),
    *,
    checkpoint: str | None = None,
) -> dict[str, MetricRecord]:
    """The family's metrics of ``module`` (a :class:`~gen_framework.families.GenerativeModule`), by name.

    Must be called on every process of a distributed run (the metrics synchronise). Run it in eval mode
    without gradients; it draws samples with fixed seeds and seeds its own random estimates.

    Raises:
        ConfigError: for a modality without metrics, or samples whose shape contradicts the data spec.
    """
    modality = data.data_spec.get("modality", getattr(module, "modality", None))
    if modality == "image":
        records = image_sample_metrics(module, data, settings, shard)
        if getattr(module, "family", None) == "variational":
            records.update(reconstruction_metrics(module, data, settings, shard))
    elif modality in ("text", "audio"):
        records = sequence_metrics(module, data, settings, shard, modality)
    else:
        raise ConfigError(f"no metrics for modality {modality!r}; expected image, text or audio")
    for record in records.values():
        record.seed, record.checkpoint = settings.seed, checkpoint
        record.details.setdefault("split", data.split)
    return records


# ------------------------------------------------------------------------- data


def numbered_batches(
    batches: Iterable[Any], *, max_items: int | None = None, max_batches: int | None = None
) -> Iterator[tuple[int, int, Any]]:
    """``(batch index, index of its first item, batch)`` over ``batches``, cut after ``max_items`` / ``max_batches``."""
    seen = 0
    for index, batch in enumerate(batches):
        if max_batches is not None and index >= max_batches:
            return
        size = len(_first(batch))
        if max_items is not None and seen + size > max_items:
            batch, size = _truncate(batch, max_items - seen), max_items - seen
        if size == 0:
            return
        yield index, seen, batch
        seen += size


def _first(batch: Any) -> Tensor:
    return batch[0] if isinstance(batch, (tuple, list)) else batch


def _truncate(batch: Any, size: int) -> Any:
    if isinstance(batch, (tuple, list)):
        return type(batch)(part[:size] if isinstance(part, Tensor) else part for part in batch)
    return batch[:size]


def generated_chunks(
    module: nn.Module, total: int, settings: EvaluationSettings, shard: Shard, **options: Any
) -> Iterator[tuple[int, Tensor]]:
    """``(index of the first sample, samples)`` of this process's chunks; chunk j is drawn with seed ``seed + j``.

    After its first chunk, rank 0 prints how long drawing the rest will take when that is more than
    :data:`ESTIMATE_AFTER_SECONDS` (a slow sampler with a large ``num_samples`` should not run silently).
    """
    started = time.perf_counter()
    for chunk, start in enumerate(range(0, total, settings.sample_batch_size)):
        if shard.owns(chunk):
            count = min(settings.sample_batch_size, total - start)
            yield start, module.sample(count, seed=settings.seed + chunk, **{**settings.sampling_options, **options})
            if chunk == shard.rank and shard.rank == 0:
                _print_estimate(time.perf_counter() - started, count, total, shard.world_size)


#: Drawing samples for an evaluation prints an estimate of its duration when it will take longer than this.
ESTIMATE_AFTER_SECONDS = 30.0


def _print_estimate(seconds: float, done: int, total: int, world_size: int) -> None:
    remaining = seconds * (total - done * world_size) / max(1, done * world_size)
    if remaining > ESTIMATE_AFTER_SECONDS:
        print(
            f"genfw: evaluation draws {total} samples; the first {done} took {seconds:.0f} s, about "
            f"{remaining / 60:.1f} min more (--evaluation.num_samples sets the count)",
            flush=True,
        )


@contextlib.contextmanager
def seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Within the block the global generators are seeded with ``seed``; their previous states come back after."""
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def quantise(images: Tensor) -> Tensor:
    """Images in [-1, 1] rounded to the 256 levels they have once written as 8-bit files."""
    return ((images.float().clamp(-1.0, 1.0) + 1.0) * 127.5).round() / 127.5 - 1.0


# ----------------------------------------------------------------------- images


def resolve_feature_network(
    data: EvaluationData, settings: EvaluationSettings, shard: Shard, device: torch.device | str = "cpu"
) -> FeatureNetwork:
    """InceptionV3 or the trained network (rank 0 loads or trains it on ``device``, then sends it to the others)."""
    kind, weights = choose_feature_network(settings.feature_network, settings.inception_weights)
    if kind == "inception":
        assert weights is not None
        return inception_network(weights)
    if data.train_batches is None:
        raise ConfigError(
            "the trained feature network needs the datamodule's training images (train_dataloader), "
            "or set inception_weights"
        )
    network = None
    if shard.rank == 0:
        images, labels = collect_images(data.train_batches(), settings.feature_recipe.max_images)
        network = trained_feature_network(
            images, labels, dataset_key=data.dataset_key, recipe=settings.feature_recipe, device=device
        )
    if shard.world_size == 1:
        assert network is not None
        return network
    payload = shard.broadcast(network_payload(network) if network is not None else None)
    return network if network is not None else network_from_payload(payload)


def image_sample_metrics(
    module: nn.Module, data: EvaluationData, settings: EvaluationSettings, shard: Shard
) -> dict[str, MetricRecord]:
    """FID, KID, precision/recall (and classifier confidence, class coverage) of ``num_samples`` samples."""
    # torchmetrics' FID/KID modules import torch-fidelity when it is installed: only when images are evaluated.
    from gen_framework.metrics.image import ClassCoverage, KernelDistance, PrecisionRecall, frechet_distance_metric

    device = _device(module)
    network = resolve_feature_network(data, settings, shard, device)
    extractor = network.module.to(device).eval()
    shared = FlattenFeatures(network.num_features)  # features are computed once and fed to every metric
    fid = frechet_distance_metric(shared).to(device)
    kid = KernelDistance(shared, subsets=settings.kid_subsets, subset_size=settings.kid_subset_size, seed=settings.seed)
    kid = kid.to(device)
    pr = PrecisionRecall(shared, k=settings.pr_neighbours).to(device)
    num_classes = network.details.get("num_classes")
    coverage = ClassCoverage(network.classifier, num_classes).to(device) if network.classifier is not None else None

    def add(images: Tensor, first: int, real: bool) -> None:
        features = extractor(quantise(images.to(device)))
        index = torch.arange(first, first + len(features), device=device)
        fid.update(features, real=real)
        kid.update(features, real=real, index=index)
        pr.update(features, real=real)
        if coverage is not None:
            coverage.update(features, real=real)

    num_real = 0
    for index, first, batch in numbered_batches(data.eval_batches(), max_items=settings.num_samples):
        num_real = first + len(_first(batch))
        if shard.owns(index):
            add(_first(batch), first, real=True)
    channels, size = data.data_spec.get("channels"), data.data_spec.get("image_size")
    for first, samples in generated_chunks(module, settings.num_samples, settings, shard):
        known = channels is not None and size is not None
        if samples.dim() != 4 or (known and tuple(samples.shape[1:]) != (channels, size, size)):
            raise ConfigError(
                f"{type(module).__name__}.sample returned shape {tuple(samples.shape)}, but the data spec has "
                f"channels={channels}, image_size={size}"
            )
        add(samples, first, real=False)
    kid_mean, kid_std = kid.compute()
    precision_recall = pr.compute()
    common = {
        "feature_network": network.describe(), "num_real": num_real, "num_generated": settings.num_samples,
        "resize": network.resize,
    }
    kid_details = {"subsets": settings.kid_subsets, "subset_size": min(settings.kid_subset_size, num_real,
                   settings.num_samples), "kernel": "(x.y / D + 1)^3"}
    records = {
        "fid": MetricRecord(
            float(fid.compute()), False, "Fréchet distance of Gaussians fitted to features (torchmetrics FID)",
            **common,
        ),
        "kid": MetricRecord(float(kid_mean), False, "mean unbiased MMD² over random subsets (KID)", **common,
                            details=dict(kid_details)),
        "kid_std": MetricRecord(float(kid_std), None, "standard deviation of the subset MMD² (KID)", **common,
                                details=dict(kid_details)),
        "precision": MetricRecord(float(precision_recall["precision"]), True,
                                  "share of samples inside the real k-NN manifold (Kynkäänniemi et al. 2019)",
                                  **common, details={"k": settings.pr_neighbours}),
        "recall": MetricRecord(float(precision_recall["recall"]), True,
                               "share of real images inside the samples' k-NN manifold (Kynkäänniemi et al. 2019)",
                               **common, details={"k": settings.pr_neighbours}),
    }
    if coverage is not None:
        scores = coverage.compute()
        details = {"num_classes": num_classes, "min_share": coverage.min_share,
                   "real_confidence": float(scores["real_confidence"])}
        records["classifier_confidence"] = MetricRecord(
            float(scores["confidence"]), True, "mean max softmax probability of the data's classifier on samples",
            **common, details=dict(details))
        records["class_coverage"] = MetricRecord(
            float(scores["coverage"]), True,
            "share of real classes receiving at least min_share of their real share of samples", **common,
            details=dict(details))
    return records


def reconstruction_metrics(
    module: nn.Module, data: EvaluationData, settings: EvaluationSettings, shard: Shard
) -> dict[str, MetricRecord]:
    """PSNR and SSIM of a VAE's reconstructions, and its importance-weighted NLL, on up to ``num_samples`` images."""
    from torchmetrics.image import PeakSignalNoiseRatio, StructuralSimilarityIndexMeasure

    device = _device(module)
    psnr = PeakSignalNoiseRatio(data_range=1.0).to(device)
    ssim = StructuralSimilarityIndexMeasure(data_range=1.0).to(device)
    nll = NegativeLogLikelihood().to(device)
    num_real, dims = 0, 0
    for index, first, batch in numbered_batches(data.eval_batches(), max_items=settings.num_samples):
        x = _first(batch)
        num_real, dims = first + len(x), x[0].numel()
        if not shard.owns(index):
            continue
        x = x.to(device)
        reconstruction = module.reconstruct(x)
        psnr.update((reconstruction + 1) / 2, (x + 1) / 2)
        if min(x.shape[-2:]) >= 6:  # SSIM's 11-tap Gaussian window reflects 5 pixels
            ssim.update((reconstruction + 1) / 2, (x + 1) / 2)
        if settings.iwae_samples > 0:
            with seeded(settings.seed + index, device):
                nll.update(module.iwae_nll(x, settings.iwae_samples), units=x.numel())
    common = {"num_real": num_real, "num_generated": None}
    records = {
        "psnr": MetricRecord(float(psnr.compute()), True,
                             "PSNR in dB of posterior-mean reconstructions, MSE pooled over the split, range [0, 1]",
                             **common),
    }
    if data.data_spec.get("image_size", 6) >= 6:
        records["ssim"] = MetricRecord(float(ssim.compute()), True,
                                       "mean SSIM of reconstructions (Gaussian window σ=1.5, range [0, 1])", **common)
    if settings.iwae_samples > 0:
        values = nll.compute()
        likelihood = getattr(module, "likelihood", None)
        details = {"k": settings.iwae_samples, "likelihood": likelihood, "dims": dims}
        if likelihood == "gaussian":
            details["note"] = ("a density on data scaled to [-1, 1]; add log2(127.5) ≈ 6.99 bits/dim to compare "
                               "with likelihoods of 8-bit data")
        records["iwae_nll"] = MetricRecord(float(values["nats_per_item"]), False,
                                           f"importance-weighted bound on -log p(x), k={settings.iwae_samples}, nats "
                                           "per image", **common, details=dict(details))
        records["iwae_bits_per_dim"] = MetricRecord(
            float(bits_per_dim(values["nats_per_item"], dims)) if dims else None, False,
            "iwae_nll / (C·H·W · ln 2)", **common, details=dict(details))
    return records


# ------------------------------------------------------------------ text, audio


def sequence_metrics(
    module: nn.Module, data: EvaluationData, settings: EvaluationSettings, shard: Shard, modality: str
) -> dict[str, MetricRecord]:
    """Next-token likelihood of an autoregressive model on the split, plus the xz (text) or mel (audio) metric."""
    from gen_framework.families.autoregressive import split_batch

    device = _device(module)
    nll = NegativeLogLikelihood().to(device)
    tokenizer = _tokenizer(data.data_spec) if modality == "text" else None
    mel = MelFrechetDistance(int(data.data_spec.get("sample_rate", 16000))).to(device) if modality == "audio" else None
    levels = int((data.data_spec.get("quantization") or {}).get("levels", 256))
    texts: list[str] = []
    num_windows = 0
    for index, first, batch in numbered_batches(data.eval_batches(), max_batches=settings.max_batches):
        tokens, condition = split_batch(batch)
        num_windows = first + len(tokens)
        pieces = [tokenizer.decode(row) for row in tokens[:, 1:].tolist()] if tokenizer is not None else []
        texts.extend(pieces)
        if not shard.owns(index):
            continue
        tokens = tokens.to(device)
        inputs, targets = tokens[:, :-1], tokens[:, 1:]
        logits = module(inputs) if condition is None else module(inputs, condition=condition.to(device))
        losses = F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1), reduction="none")
        nll.update(losses.view(len(tokens), -1).sum(dim=1), units=targets.numel(),
                   characters=sum(len(piece) for piece in pieces))
        if mel is not None:
            mel.update(_waveforms(tokens, levels), real=True)
    values = nll.compute()
    common = {"num_real": num_windows, "num_generated": None}
    unit = "token" if modality == "text" else "sample"
    records: dict[str, MetricRecord] = {}
    if modality == "text":
        records["corpus_bits_per_token"] = MetricRecord(
            float(values["bits_per_unit"]), False, "total next-token NLL over the split / (tokens · ln 2)", **common)
        records["corpus_perplexity"] = MetricRecord(
            float(values["perplexity"]), False, "exp(total next-token NLL over the split / tokens)", **common)
    else:
        records["bits_per_sample"] = MetricRecord(
            float(values["bits_per_unit"]), False, "total next-sample NLL over the split / (samples · ln 2), mu-law "
            f"{levels} levels", **common)
    if tokenizer is not None:
        text = "".join(texts)
        compressed = xz_compressed_bytes(text.encode("utf-8")) if text else 0
        records["bits_per_char"] = MetricRecord(
            float(values["bits_per_char"]), False,
            "total next-token NLL in bits / characters of the decoded target text", **common)
        records["xz_bits_per_char"] = MetricRecord(
            8.0 * compressed / len(text) if text else None, False,
            "8 · size of the same text compressed by xz -9e (lzma preset 9 | PRESET_EXTREME) / characters",
            **common, details={"characters": len(text), "compressed_bytes": compressed})
    if mel is not None:
        records.update(_mel_record(module, mel, settings, shard, levels, num_windows))
    for record in records.values():
        record.details.setdefault("unit", unit)
    return records


def _mel_record(
    module: nn.Module, mel: MelFrechetDistance, settings: EvaluationSettings, shard: Shard, levels: int, num_real: int
) -> dict[str, MetricRecord]:
    length = length_option(module, settings.audio_seconds, mel.sample_rate)
    for _, clips in generated_chunks(module, settings.num_audio_samples, settings, shard, **length):
        mel.update(clips.float() if clips.is_floating_point() else _waveforms(clips, levels), real=False)
    return {
        "mel_frechet_distance": MetricRecord(
            float(mel.compute()), False, "Fréchet distance of Gaussians fitted to log-mel frames of real and "
            "generated audio", num_real=num_real, num_generated=settings.num_audio_samples,
            details={"n_mels": mel.n_mels, "n_fft": mel.n_fft, "win_length": mel.win_length,
                     "hop_length": mel.hop_length, "sample_rate": mel.sample_rate,
                     "generated_seconds": settings.audio_seconds, "length_option": length,
                     "filterbank": "HTK mel, triangular, peak 1",
                     "log": "natural log of mel power + 1e-5"},
        )
    }


def length_option(module: nn.Module, seconds: float, sample_rate: int) -> dict[str, Any]:
    """The keyword that makes ``sample`` produce ``seconds`` of audio: ``seconds`` or ``max_new_tokens``, if any."""
    parameters = inspect.signature(module.generate_samples).parameters  # type: ignore[operator]
    if "seconds" in parameters:
        return {"seconds": seconds}
    if "max_new_tokens" in parameters:
        return {"max_new_tokens": max(1, round(seconds * sample_rate))}
    return {}


def _waveforms(codes: Tensor, levels: int) -> Tensor:
    from gen_framework.data.mu_law import mu_law_decode

    return mu_law_decode(codes, levels).to(codes.device)


def _tokenizer(spec: dict[str, Any]) -> Any | None:
    if spec.get("tokenizer") is None:
        return None
    from gen_framework.data.tokenizers import tokenizer_from_dict

    return tokenizer_from_dict(spec["tokenizer"])


def _device(module: nn.Module) -> torch.device:
    device = getattr(module, "device", None)
    if isinstance(device, torch.device):
        return device
    parameter = next(module.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")
