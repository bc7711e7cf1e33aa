"""`ModelSummary`: Lightning's Rich model summary without a FLOPs column that would only read 0."""

from __future__ import annotations

from typing import Any

from pytorch_lightning.callbacks import RichModelSummary


class ModelSummary(RichModelSummary):
    """The layer table and parameter counts; the FLOPs column and total appear only when they were measured.

    Lightning counts FLOPs only for a model with an ``example_input_array``; otherwise every row and the total read
    0, which says nothing true about the model.
    """

    @staticmethod
    def summarize(
        summary_data: list[tuple[str, list[str]]],
        total_parameters: int,
        trainable_parameters: int,
        model_size: float,
        total_training_modes: dict[str, int],
        total_flops: int = 0,
        **summarize_kwargs: Any,
    ) -> None:
        if total_flops:
            RichModelSummary.summarize(
                summary_data, total_parameters, trainable_parameters, model_size, total_training_modes, total_flops,
                **summarize_kwargs,
            )
            return
        from rich import get_console
        from rich.table import Table
        from pytorch_lightning.utilities.model_summary.model_summary import (
            get_formatted_model_size,
            get_human_readable_count,
        )

        console = get_console()
        table = Table(header_style=summarize_kwargs.get("header_style", "bold magenta"))
        data = [(name, values) for name, values in summary_data if name != "FLOPs"]
        for name, _ in data:
            table.add_column(name, justify="right" if name == "Params" else "left", no_wrap=name == "Name")
        for row in zip(*(values for _, values in data)):
            table.add_row(*row)
        console.print(table)
        trainable = get_human_readable_count(int(trainable_parameters))
        total = get_human_readable_count(int(total_parameters))
        console.print(f"[bold]Params[/]: {trainable} trainable, {total} total, {get_formatted_model_size(model_size)} MB")
        console.print(f"[bold]Modules[/]: {total_training_modes['train']} in train mode, {total_training_modes['eval']} in eval")


__all__ = ["ModelSummary"]
