"""Lightning callbacks, one per module: sample logging and writing, evaluation, pre-emption, the progress bar."""

from __future__ import annotations

from gen_framework.callbacks.evaluation import Evaluation
from gen_framework.callbacks.last_step_logging import LastStepLogging
from gen_framework.callbacks.model_summary import ModelSummary
from gen_framework.callbacks.progress import ProgressBar
from gen_framework.callbacks.sample_logger import SampleLogger
from gen_framework.callbacks.sample_writer import SampleWriter

__all__ = ["Evaluation", "LastStepLogging", "ModelSummary", "ProgressBar", "SampleLogger", "SampleWriter"]
