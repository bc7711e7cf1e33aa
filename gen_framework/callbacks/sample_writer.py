"""Writes the samples a ``trainer.predict`` run generates as files, with a grid and a manifest."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
from PIL import Image
from pytorch_lightning.callbacks import BasePredictionWriter

from gen_framework.data.writers import save_image_grid, write_manifest, write_samples
from gen_framework.errors import DataError

GRID_IMAGES = 64  # the grid shows the first this many samples: enough to judge, small enough to open quickly


def sample_numbers(count: int, batch_indices: Sequence[int] | None) -> list[int] | None:
    """Global numbers of ``count`` samples from their batch's dataset indices; ``None`` when they cannot be known.

    A batch of ``B`` items may yield ``k * B`` samples; item ``i`` then owns numbers ``i * k`` to ``i * k + k - 1``.
    """
    if not batch_indices or count % len(batch_indices):
        return None
    per_item = count // len(batch_indices)
    return [int(index) * per_item + j for index in batch_indices for j in range(per_item)]


def _gather(values: list[str]) -> list[str]:
    """Concatenates every rank's list on every rank (a no-op outside distributed runs)."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return values
    gathered: list[Any] = [None] * torch.distributed.get_world_size()
    torch.distributed.all_gather_object(gathered, values)
    return [value for part in gathered for value in part]


class SampleWriter(BasePredictionWriter):
    """Writes each predict batch's samples to ``output_dir`` as PNG / WAV / TXT files, then a grid and a manifest.

    The model's ``predict_step`` returns a Tensor of samples (see :func:`write_samples` for shapes per
    modality). A sample's number is derived from the dataset index of its batch item, so numbering continues
    across batches and DDP ranks never collide; when indices are unavailable, each rank numbers its own samples
    and rank ``r > 0`` writes ``{prefix}_rank{r}_*`` files. After the run, rank 0 writes ``grid.png`` (images
    only, first 64 samples) and ``manifest.json`` with: ``checkpoint`` (``trainer.ckpt_path``), ``seed`` (the
    module's ``sample_seed`` if it has one), ``sampling_options`` (its ``sampling_options`` dict if any),
    ``modality``, ``data_spec``, ``count``, ``files`` (names relative to ``output_dir``), ``grid`` and
    ``complete`` (false when the run was stopped early; the manifest then lists the files written until then). On
    several nodes ``output_dir`` must be on a shared file system.

    Args:
        output_dir: folder to write into (created if missing); existing files of the same names are replaced.
        data_spec_from_module: take the data spec from the module's ``data_spec`` attribute (``True``) or from
            the trainer's datamodule's ``data_spec()`` (``False``).
        grid: write ``grid.png`` for image samples.
        prefix: file name prefix of the samples.
    """

    def __init__(
        self, output_dir: str, data_spec_from_module: bool = True, grid: bool = True, prefix: str = "sample"
    ) -> None:
        super().__init__(write_interval="batch")
        self.output_dir = Path(output_dir)
        self.data_spec_from_module = data_spec_from_module
        self.grid = grid
        self.prefix = prefix
        self._files: list[str] = []
        self._written = 0

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Called when a stage starts; a predict stage starts a fresh file list."""
        super().setup(trainer, pl_module, stage)
        if stage == "predict":
            self._files, self._written = [], 0

    def data_spec(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> dict[str, Any]:
        """The spec the samples are decoded with, from the module or the datamodule."""
        if self.data_spec_from_module:
            spec = getattr(pl_module, "data_spec", None)
            where = f"{type(pl_module).__name__}.data_spec"
        else:
            datamodule = getattr(trainer, "datamodule", None)
            spec = datamodule.data_spec() if datamodule is not None and hasattr(datamodule, "data_spec") else None
            where = "the trainer's datamodule data_spec()"
        if not isinstance(spec, dict) or "modality" not in spec:
            raise DataError(f"SampleWriter needs a data spec dict with a 'modality' from {where}, got {spec!r}")
        return spec

    def write_on_batch_end(
        self,
        trainer: pl.Trainer,
        pl_module: pl.LightningModule,
        prediction: Any,
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        """Called after each predict batch: writes the samples ``prediction`` (a Tensor, first dim = samples)."""
        if not isinstance(prediction, torch.Tensor):
            raise DataError(
                f"SampleWriter: {type(pl_module).__name__}.predict_step must return a Tensor of samples, "
                f"got {type(prediction).__name__}"
            )
        spec = self.data_spec(trainer, pl_module)
        prefix = self.prefix if dataloader_idx == 0 else f"{self.prefix}_dl{dataloader_idx}"
        numbers = sample_numbers(prediction.shape[0], batch_indices)
        if numbers is None:
            if trainer.global_rank > 0:
                prefix = f"{prefix}_rank{trainer.global_rank}"
            numbers = list(range(self._written, self._written + prediction.shape[0]))
        self._written += prediction.shape[0]
        if not numbers:
            return
        if numbers == list(range(numbers[0], numbers[0] + len(numbers))):
            paths = write_samples(prediction, spec, self.output_dir, prefix=prefix, start_index=numbers[0])
        else:
            paths = []
            for i, number in enumerate(numbers):
                paths += write_samples(prediction[i : i + 1], spec, self.output_dir, prefix=prefix, start_index=number)
        self._files.extend(path.name for path in paths)

    def on_exception(self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException) -> None:
        """Called when predicting stops early (a signal, an error): the manifest lists the files written so far."""
        if trainer.state.fn != "predict" or not trainer.is_global_zero:
            return
        # No gathering (other ranks may have stopped already). A stop can land between a file's rename and its
        # entry in the list, so the folder is read too: it held no samples when the run began (genfw predict
        # refuses a folder with files), so every complete sample file in it is this run's.
        written = {p.name for p in self.output_dir.glob(f"{self.prefix}_*") if p.suffix in (".png", ".wav", ".txt")}
        files = sorted(set(self._files) | written)
        try:
            self._finish(trainer, pl_module, files, complete=False)
        except Exception:  # noqa: BLE001 - the original error is the one to report
            return
        exception.add_note(f"{len(files)} sample(s) written to {self.output_dir}, listed in manifest.json")

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        """Called once after predicting: rank 0 writes the grid and the manifest for all ranks' files."""
        files = sorted(set(_gather(self._files)))
        if trainer.is_global_zero:
            self._finish(trainer, pl_module, files, complete=True)

    def _finish(self, trainer: pl.Trainer, pl_module: pl.LightningModule, files: list[str], *, complete: bool) -> None:
        spec = self.data_spec(trainer, pl_module)
        grid_name = None
        if self.grid and spec["modality"] == "image" and files:
            images = []
            for name in files[:GRID_IMAGES]:
                with Image.open(self.output_dir / name) as image:
                    images.append(np.asarray(image))
            stacked = np.stack([im[..., None] if im.ndim == 2 else im for im in images]).transpose(0, 3, 1, 2)
            save_image_grid(stacked.astype(np.float32) / 127.5 - 1.0, self.output_dir / "grid.png")
            grid_name = "grid.png"
        options = getattr(pl_module, "sampling_options", None)
        write_manifest(
            self.output_dir,
            checkpoint=trainer.ckpt_path,
            seed=getattr(pl_module, "sample_seed", None),
            sampling_options=dict(options) if options is not None else None,
            modality=spec["modality"],
            data_spec=spec,
            count=len(files),
            files=files,
            grid=grid_name,
            complete=complete,
        )
