"""The pretrained-directory format: ``model.safetensors`` (weights) and ``config.json`` (what builds the model).

``config.json`` holds the model's provenance (plugin, versions, class path, family), its ``init_args`` and the
data spec that decodes its samples. Loading builds the class through :mod:`.model_class`'s rule (the file never
chooses code to import), calls it with ``init_args`` and loads the weights with safetensors, which holds only
tensors. ``GenerativeModule.save_pretrained`` and ``from_pretrained`` call these functions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from gen_framework.errors import CheckpointError, ConfigError
from gen_framework.persistence.atomic import atomic_path
from gen_framework.persistence.model_class import resolve_module_class, substitute_hint

if TYPE_CHECKING:
    from gen_framework.families.base import GenerativeModule

PRETRAINED_CONFIG = "config.json"
PRETRAINED_WEIGHTS = "model.safetensors"

Model = TypeVar("Model", bound="GenerativeModule")


def save_pretrained(model: GenerativeModule, directory: str | os.PathLike[str]) -> Path:
    """Write ``model``'s weights and ``config.json`` to ``directory`` (created if needed); returns it.

    Each file is written to a temporary name and renamed, so an interrupted save never leaves a torn file.
    """
    from safetensors.torch import save_model

    directory = Path(directory)
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create the output directory {directory}: {err.strerror}") from err
    config = {**model._provenance(), "init_args": _jsonable(dict(model.hparams))}
    with atomic_path(directory / PRETRAINED_WEIGHTS) as tmp:
        save_model(model, str(tmp), metadata={"format": "pt"})
    with atomic_path(directory / PRETRAINED_CONFIG) as tmp:
        tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return directory


def load_pretrained(cls: type[Model], directory: str | os.PathLike[str], *, map_location: str = "cpu") -> Model:
    """The model saved in ``directory`` by :func:`save_pretrained`, which must be a ``cls``.

    ``cls`` counts as chosen by the caller: a user's subclass of a plugin class loads as that subclass when
    called on it (``SmallGAN.from_pretrained(d)``).
    """
    from safetensors.torch import load_model

    directory = Path(directory)
    config_path = directory / PRETRAINED_CONFIG
    weights_path = directory / PRETRAINED_WEIGHTS
    for path in (config_path, weights_path):
        if not path.is_file():
            raise CheckpointError(f"{directory} is not a pretrained directory: {path.name} is missing")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CheckpointError(f"{config_path} is not valid JSON: {err}") from err
    if not isinstance(config, dict) or not isinstance(config.get("init_args", {}), dict):
        raise CheckpointError(
            f"{config_path} must be a JSON object with an `init_args` object, as save_pretrained writes"
        )
    target = resolve_module_class(config.get("plugin"), config.get("class_path"), source=str(directory), chosen=cls)
    if not issubclass(target, cls):
        raise CheckpointError(
            f"{directory} holds a {target.__name__} (plugin {config.get('plugin')!r}), not a {cls.__name__}"
        )
    try:
        model = target(**config.get("init_args", {}))
    except (TypeError, ValueError) as err:  # arguments the class does not take, or values it refuses
        hint = substitute_hint(config.get("class_path"), target)
        raise CheckpointError(f"{config_path}: its init_args do not build a {target.__name__}: {err}{hint}") from err
    if config.get("data_spec") is not None:
        model.adopt_loaded_data_spec(config["data_spec"])
    model._build_ema()
    try:
        missing, unexpected = load_model(model, str(weights_path), strict=False, device=map_location)
    except Exception as err:  # safetensors raises several types for torn or foreign files
        raise CheckpointError(f"cannot read weights from {weights_path}: {err}") from err
    if missing or unexpected:
        raise CheckpointError(
            f"{weights_path} does not match {target.__name__}: missing {sorted(missing)[:5]}, "
            f"unexpected {sorted(unexpected)[:5]}"
        )
    return model


def _jsonable(value: Any) -> Any:
    """Hyperparameters as JSON: tuples become lists, anything else unusual becomes its string."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)
