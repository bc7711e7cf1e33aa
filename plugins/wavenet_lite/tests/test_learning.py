"""WaveNet-lite learns the melodies: bits per sample far below 8, generated audio with its energy on the notes."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_lightning as pl

from gen_framework.data import Melodies
from gen_framework.data.melody_synth import SCALE_HZ
from gen_framework_wavenet_lite import WaveNetLite
from gen_framework_wavenet_lite.spectrum import energy_near

STEPS = 300


@pytest.mark.learning
def test_learns_melodies_and_generates_audio_on_their_notes():
    pl.seed_everything(0)
    data = Melodies(num_clips=64, clip_seconds=1.0, segment_length=1024, batch_size=8, seed=0)
    model = WaveNetLite(
        residual_channels=32, dilation_channels=32, skip_channels=64, layers_per_stack=10,
        lr=3e-3, min_lr=3e-4, weight_decay=0.0, warmup_steps=20, lr_decay_steps=STEPS,
    )
    trainer = pl.Trainer(
        max_steps=STEPS, logger=False, enable_checkpointing=False, enable_progress_bar=False,
        enable_model_summary=False, num_sanity_val_steps=0, limit_val_batches=0,
    )
    trainer.fit(model, data)
    trainer.limit_val_batches = 1.0
    bits = trainer.validate(model, data, verbose=False)[0]["val/bits_per_token"]
    # 8 bits per sample is the uniform code; a model that has not learned sits near it
    assert bits < 4.5

    audio = model.sample(2, seed=0, seconds=1.0, temperature=0.9).numpy()
    assert audio.shape == (2, 16000)
    assert np.sqrt((audio**2).mean(axis=1)).min() > 0.05  # sound, not silence
    # white noise puts ~4% of its energy within half a semitone of the ten notes, the melodies ~95%
    scores = [energy_near(wave, 16000, SCALE_HZ) for wave in audio]
    noise = energy_near(np.random.default_rng(0).standard_normal(16000), 16000, SCALE_HZ)
    assert noise < 0.06
    assert min(scores) > 0.25, scores
