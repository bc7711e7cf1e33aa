"""A DataLoader that resumes mid-epoch: a restarted run skips the batches it already trained on.

Lightning saves the ``state_dict()`` of a stateful training loader in each checkpoint and hands it back
through ``load_state_dict()`` when fitting resumes, but it restarts a plain loader from the first batch of
the epoch, so a run resumed mid-epoch would see some batches twice and others never. This loader records
the epoch and the number of batches the trainer has processed in it, and on resume skips that many batches
of the same epoch. With an order that depends only on ``(seed, epoch)`` (see :class:`EpochShuffle`) a
resumed run then sees exactly the batches an uninterrupted run would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from torch.utils.data import DataLoader

#: Returns ``(epoch, batches processed in that epoch)`` of the running fit, or ``None`` outside one.
ProgressFn = Callable[[], "tuple[int, int] | None"]


class ResumableDataLoader(DataLoader):
    """A ``DataLoader`` whose position in the epoch survives a checkpoint.

    Args:
        *args: As for ``DataLoader``.
        progress: Returns ``(epoch, batches processed)`` of the running fit; the datamodule passes one
            reading its trainer (:func:`trainer_progress`).
        **kwargs: As for ``DataLoader``.
    """

    def __init__(self, *args: Any, progress: ProgressFn | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.progress = progress
        self._pending_skip: tuple[int, int] | None = None

    def state_dict(self) -> dict[str, int]:
        position = self.progress() if self.progress is not None else None
        if position is None:
            return {}
        epoch, batches = position
        return {"epoch": int(epoch), "batches": int(batches)}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state:
            self._pending_skip = (state["epoch"], state["batches"])

    def __iter__(self) -> Iterator[Any]:
        iterator = super().__iter__()
        pending, self._pending_skip = self._pending_skip, None
        position = self.progress() if self.progress is not None else None
        if pending is not None and position is not None and position[0] == pending[0]:
            # Drawing the skipped batches (rather than slicing the sampler) keeps every rank's share of a
            # distributed sampler and every per-item random draw exactly as in the uninterrupted run.
            for _ in range(min(pending[1], len(self))):
                next(iterator)
        return iterator


def trainer_progress(owner: Any) -> tuple[int, int] | None:
    """``(epoch, batches processed in it)`` of the fit that ``owner`` (a datamodule) is attached to."""
    trainer = getattr(owner, "trainer", None)
    if trainer is None:
        return None
    epoch_loop = trainer.fit_loop.epoch_loop
    return trainer.current_epoch, epoch_loop.batch_progress.current.processed
