"""Test a VAE (digits), a language model (Python docs) and an audio model (melodies) with the Evaluation callback.

Usage: python ddp_evaluation.py OUT_DIR [--devices 2] [--strategy ddp]
Each model's metrics.json lands in OUT_DIR/<name>/. Run as a script (not under pytest) because Lightning's DDP
launcher re-executes the command for rank 1. The test compares the values with those of one process.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import Tensor

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from toys.models import ToyLM, ToyVAE  # noqa: E402

from gen_framework.callbacks import Evaluation  # noqa: E402
from gen_framework.data import Digits, Melodies, PyDocs, mu_law_decode  # noqa: E402


class ToyAudioLM(ToyLM):
    """ToyLM over mu-law codes whose samples are waveforms, as an audio plugin's are."""

    modality = "audio"

    def decode_tokens(self, tokens: Tensor) -> Tensor:
        return mu_law_decode(tokens, self.vocab_size)


def cases() -> dict[str, tuple]:
    """name → (model factory, datamodule, Evaluation keyword arguments); small enough for seconds per case."""
    return {
        "vae": (
            lambda: ToyVAE(),
            Digits(image_size=8, batch_size=32),
            dict(num_samples=100, sample_batch_size=25, iwae_samples=8, feature_steps=40, kid_subset_size=50),
        ),
        "text": (
            lambda: ToyLM(),
            PyDocs(block_size=32, batch_size=16, val_fraction=0.02),
            dict(max_batches=7),
        ),
        "audio": (
            lambda: ToyAudioLM(),
            Melodies(num_clips=4, clip_seconds=1.0, segment_length=256, batch_size=4, val_fraction=0.25),
            dict(num_audio_samples=3, sample_batch_size=1, audio_seconds=0.025),
        ),
    }


def run(out: Path, devices: int = 1, strategy: str = "auto") -> None:
    """Test every case on ``devices`` CPU processes; metrics.json files go to ``out/<case>/``."""
    for name, (factory, datamodule, options) in cases().items():
        pl.seed_everything(0)
        model = factory()
        trainer = pl.Trainer(
            accelerator="cpu",
            devices=devices,
            strategy=strategy,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
            default_root_dir=str(out / name),
            callbacks=[Evaluation(**options)],
        )
        trainer.test(model, datamodule=datamodule, verbose=False)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out", type=Path)
    parser.add_argument("--devices", type=int, default=2)
    parser.add_argument("--strategy", default="ddp")
    args = parser.parse_args()
    torch.set_num_threads(1)
    run(args.out, args.devices, args.strategy)


if __name__ == "__main__":
    main()
