"""Lightning callbacks, one per module: sample logging during training and sample writing at predict time."""

from __future__ import annotations

from gen_framework.callbacks.evaluation import Evaluation
from gen_framework.callbacks.sample_logger import SampleLogger
from gen_framework.callbacks.sample_writer import SampleWriter

__all__ = ["Evaluation", "SampleLogger", "SampleWriter"]
