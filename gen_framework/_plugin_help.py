"""Help text about plugins: ``genfw plugins NAME``, the sampling options of ``genfw predict --help``, and the
short names every subcommand's help lists."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gen_framework.errors import GenFrameworkError
from gen_framework.registry import PluginSpec, registry

#: Arguments of ``generate_samples`` that ``genfw predict`` sets itself (``--num_samples``, ``--seed``).
SAMPLING_SKIP = {"num_samples", "generator"}


def sampling_parser(cls: type, *, prog: str | None = None) -> Any:
    """A jsonargparse parser holding ``cls.generate_samples``' options as ``--sampling.*`` (nothing else)."""
    from jsonargparse import ArgumentParser

    parser = ArgumentParser(prog=prog, add_help=False, exit_on_error=False)
    parser.add_method_arguments(cls, "generate_samples", "sampling", as_group=True, skip=SAMPLING_SKIP)
    return parser


def sampling_keys(cls: type) -> list[str]:
    """``--sampling.KEY`` option names of ``cls`` (``["--sampling.truncation_psi"]``)."""
    parser = sampling_parser(cls)
    return sorted(o for o in parser._option_string_actions if o.startswith("--sampling."))


def plugin_details(name: str) -> dict[str, Any]:
    """What ``genfw plugins NAME`` shows: provenance, configs, the model's options and its sampling options."""
    spec = registry.get(name)
    record = next(r for r in registry.records() if r.name == name)
    cls = spec.module_class
    return {
        **record.as_dict(),
        "default_datamodule": spec.default_datamodule,
        "configs": config_files(spec),
        "extra_classes": [f"{c.__module__}.{c.__qualname__}" for c in spec.extra_classes],
        "sampling_options": sampling_keys(cls),
    }


def config_files(spec: PluginSpec, root: Path = Path("configs")) -> list[str]:
    """The plugin's configs: its default first, then the other YAML files of ``configs/<name>/`` (if present)."""
    found: list[str] = []
    if spec.default_config:
        default = Path(spec.default_config)
        path = default if default.is_absolute() else root / default
        found.append(str(path))
    folder = root / spec.name
    if folder.is_dir():
        found += [str(p) for p in sorted(folder.glob("*.yaml")) if str(p) not in found]
    return found


def describe_plugin(name: str, *, as_json: bool = False) -> str:
    """The text (or JSON) of ``genfw plugins NAME``."""
    details = plugin_details(name)
    if as_json:
        return json.dumps(details, indent=2)
    cls = registry.get(name).module_class
    from jsonargparse import ArgumentParser

    options = ArgumentParser(prog=f"genfw fit --model {name}", add_help=False, exit_on_error=False)
    options.add_class_arguments(cls, "model.init_args", as_group=True)
    configs = details["configs"]
    lines = [
        f"{name} {details['version'] or ''}".rstrip() + f" ({details['family']}) - {details['description'] or ''}",
        f"  class: {details['class_path']}",
        f"  distribution: {details['distribution'] or '-'}",
        f"  default data: --data {details['default_datamodule'] or '(none: pass --data)'}",
        "  configs: " + (", ".join(configs) if configs else "(none found under ./configs)"),
        f"  train:  genfw fit --model {name}" + (f"   or   genfw fit --config {configs[0]}" if configs else ""),
        "  sample: genfw predict --ckpt_path last " + " ".join(f"[{k} V]" for k in details["sampling_options"]),
        "",
        _group_help(options, "model.init_args"),
        _group_help(sampling_parser(cls), "sampling"),
    ]
    return "\n".join(lines).rstrip() + "\n"


def _group_help(parser: Any, key: str) -> str:
    """The help of the parser's options under ``key``, with the parser's own usage line dropped."""
    text = parser.format_help()
    start = text.find("\n\n")
    return text[start + 2 :] if start >= 0 else text


def short_names_text() -> str:
    """One paragraph for every subcommand's help: the plugin and datamodule short names ``--model``/``--data`` take."""
    from gen_framework.data import DATAMODULES

    plugins = [r.name for r in registry.records() if r.status == "ok"]
    return (
        f"--model takes a plugin name ({', '.join(plugins) or 'none installed'}), a class name or a class path; "
        f"--data takes a short name ({', '.join(sorted(DATAMODULES))}) or a class path. "
        "`genfw plugins NAME` shows a plugin's options, configs and sampling options."
    )


def sampling_overview() -> str:
    """For ``genfw predict --help`` without a model: each plugin's ``--sampling.*`` options."""
    parts = []
    for record in registry.records():
        if record.status == "ok" and record.spec is not None:
            keys = [k.removeprefix("--sampling.") for k in sampling_keys(record.spec.module_class)]
            parts.append(f"{record.name}: {', '.join(keys) or '-'}")
    return (
        "Sampling options (--sampling.KEY VALUE, from the model's generate_samples) by plugin: "
        + "; ".join(parts)
        + ". `genfw predict --ckpt_path K --help` lists those of K's model with types and defaults."
    )


def help_description(subcommand: str, description: str | None, model_class: type | None) -> str:
    """The description of a subcommand's ``--help``: Lightning's, the short names, and for ``predict`` without a
    known model the sampling options of every plugin."""
    # Lightning's text is the first lines of the Trainer method's docstring, cut mid-sentence: keep its first one
    first = (description or "").split(". ")[0].strip().rstrip(".")
    parts = [f"{first}." if first else "", short_names_text()]
    if subcommand == "predict" and model_class is None:
        parts.append(sampling_overview())
    return "\n\n".join(p for p in parts if p)


def keep_paragraphs(parser: Any) -> None:
    """Make ``parser``'s help fill each paragraph of its description on its own (argparse joins them)."""
    import textwrap

    base = parser.formatter_class

    class ParagraphFormatter(base):  # type: ignore[misc, valid-type]
        def _fill_text(self, text: str, width: int, indent: str) -> str:
            return "\n\n".join(
                textwrap.fill(" ".join(p.split()), width, initial_indent=indent, subsequent_indent=indent)
                for p in text.split("\n\n")
            )

    parser.formatter_class = ParagraphFormatter


def help_model_class(ckpt_path: str | None, model: str | None, runs_root: str = "runs") -> type | None:
    """The model class a ``--help`` command is about: the checkpoint's (``ckpt_path``, or ``"last"`` under
    ``runs_root``), else the one ``model`` (a class path or class name) names; ``None`` when neither resolves."""
    import importlib

    try:
        if ckpt_path is not None:
            from gen_framework.persistence.checkpoint import checkpoint_class, find_last_checkpoint, read_checkpoint

            path = str(find_last_checkpoint(runs_root)) if ckpt_path == "last" else ckpt_path
            return checkpoint_class(read_checkpoint(path), source=path)
        if model is not None:
            module, _, attr = model.rpartition(".")
            if not module:  # a short class name (DCGAN)
                return next((c for c in registry.module_classes() if c.__name__ == attr), None)
            return getattr(importlib.import_module(module), attr)
    except (GenFrameworkError, ImportError, AttributeError):
        return None  # the help still lists every other option; running the command reports the problem
    return None


__all__ = [
    "SAMPLING_SKIP", "config_files", "describe_plugin", "help_description", "keep_paragraphs", "help_model_class", "plugin_details", "sampling_keys",
    "sampling_overview", "sampling_parser", "short_names_text",
]
