"""The data's shape reaches the model: ``genfw fit --model dcgan --data digits --data.image_size 32`` builds a
32-pixel DCGAN, and an RGB ``image_folder`` a 3-channel one.

A model and its datamodule that both take one of :data:`LINKED_ARGS` (``image_size``, ``channels``,
``block_size``) get one value for it, decided before either is built:

- given for neither, or only for the data: the model takes the data's value (for data that infers it from its
  files, such as ``npz``, the data's ``data_spec()``);
- given only for the model: the data takes the model's value;
- given for both (command line or config file): they must agree, else a :class:`ConfigError` names both values.

"Given" means written on the command line or in a config file, as opposed to a class default. The vocabulary
and sample rate need no link: autoregressive models take the vocabulary from the data's tokenizer when
``vocab_size`` is not set, and audio models read the sample rate from the data spec.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any, Literal

from gen_framework.errors import ConfigError

Relation = Literal["equal", "at_least"]

#: Init args shared by models and datamodules, and how the model's value must relate to the data's when both
#: are given. ``at_least``: a model's context (``block_size``) may rightly exceed the data's windows; the model's
#: own ``adopt_data_spec`` refuses one that is shorter.
LINKED_ARGS: dict[str, Relation] = {"image_size": "equal", "channels": "equal", "block_size": "at_least"}


def link_data_to_model(config: Any, given: set[str]) -> list[str]:
    """Make the model's and the data's linked init args agree, in place; returns what was changed (for logs).

    Args:
        config: One subcommand's parsed config (jsonargparse namespace with ``model`` and ``data`` sections
            in subclass form, ``class_path`` and ``init_args``).
        given: The dotted keys the user gave (``"model.init_args.image_size"``), from the command line or a
            config file.

    Raises:
        ConfigError: both sides were given different values, naming both.
    """
    model, data = config.get("model"), config.get("data")
    if not _is_subclass_config(model) or not _is_subclass_config(data):
        return []
    model_params = _init_parameters(model.class_path)
    data_params = _init_parameters(data.class_path)
    changes = []
    data_spec: dict[str, Any] | None = None
    for key, relation in LINKED_ARGS.items():
        if key not in model_params or key not in data_params:
            continue
        model_value, data_value = model.init_args.get(key), data.init_args.get(key)
        model_given = f"model.init_args.{key}" in given
        data_given = f"data.init_args.{key}" in given
        if model_given and data_given:
            if relation == "equal" and model_value != data_value:
                raise ConfigError(
                    f"--model.init_args.{key} {model_value} contradicts --data.init_args.{key} {data_value}: "
                    f"{_name(model.class_path)} and {_name(data.class_path)} must use the same {key}; give it "
                    "once (the other side follows)"
                )
            continue
        if model_given:
            if model_value is not None and data_value != model_value:
                data.init_args[key] = model_value
                changes.append(f"data.init_args.{key}={model_value} (from the model)")
            continue
        if data_value is None:
            # the data infers it from its files: ask its spec (loads them once)
            if data_spec is None:
                data_spec = _data_spec(data)
            data_value = data_spec.get(key)
        if data_value is not None and model_value != data_value:
            model.init_args[key] = data_value
            changes.append(f"model.init_args.{key}={data_value} (from the data)")
    return changes


def given_options(parser: Any, args: list[str], config: Any) -> set[str] | None:
    """The dotted keys of the subcommand's options given on the command line or in a config file.

    Found by parsing ``args`` again without the defaults; ``None`` when that parse fails (then nothing is linked).
    """
    subcommand = config.get("subcommand")
    try:
        explicit = parser.parse_args(args, defaults=False)
    except Exception:  # noqa: BLE001 - the parse that counts has succeeded; linking is then skipped
        return None
    return given_keys(explicit.get(subcommand) if subcommand else explicit)


def checkpoint_keys(checkpoint: dict[str, Any] | None) -> set[str]:
    """A checkpoint fixes the model's arguments: all count as given."""
    hparams = (checkpoint or {}).get("hyper_parameters") or {}
    return {f"model.init_args.{key}" for key in hparams}


def given_keys(explicit: Any, prefix: str = "") -> set[str]:
    """Every dotted key holding a value in ``explicit`` (a config parsed without defaults)."""
    keys: set[str] = set()
    items = explicit.items() if hasattr(explicit, "items") else []
    for key, value in items:
        dotted = f"{prefix}{key}"
        if hasattr(value, "items"):
            keys |= given_keys(value, dotted + ".")
        elif value is not None:
            keys.add(dotted)
    return keys


def _is_subclass_config(section: Any) -> bool:
    return section is not None and isinstance(getattr(section, "class_path", None), str) and hasattr(
        section, "init_args"
    ) and section.init_args is not None


def _import(class_path: str) -> type:
    module, _, name = class_path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _init_parameters(class_path: str) -> set[str]:
    try:
        return set(inspect.signature(_import(class_path).__init__).parameters)
    except (ImportError, AttributeError, ValueError, TypeError):
        return set()


def _data_spec(data: Any) -> dict[str, Any]:
    init_args = {k: v for k, v in dict(data.init_args).items() if not hasattr(v, "items")}
    try:
        datamodule = _import(data.class_path)(**init_args)
    except TypeError:
        return {}
    spec = getattr(datamodule, "data_spec", None)
    return dict(spec()) if callable(spec) else {}


def _name(class_path: str) -> str:
    return class_path.rpartition(".")[2]


__all__ = ["LINKED_ARGS", "checkpoint_keys", "given_keys", "given_options", "link_data_to_model"]
