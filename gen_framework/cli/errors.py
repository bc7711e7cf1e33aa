"""One-line messages for the errors of the command-line and config parser.

jsonargparse (4.42 to 4.x) raises one ``ArgumentError`` whose only structure is its message and the exception
it was raised from (``__cause__``: a ``KeyError`` for a key no parser has, a ``TypeError`` for a value of the
wrong type or missing required options); it has no error codes or fields naming the key. So this module reads
the message, in the forms listed in :data:`MESSAGE_FORMS` (each one has a canned-message test in
``tests/cli/test_errors.py``): a bad value is reported as an indented tree that lists every alternative of a
union type (for a subclass-mode ``model``, the base class and ``None``), the given value's Python type and more.
What is kept is what a user needs: the key, the class it belongs to, the value given, what would be accepted
and, for an unknown key, the closest valid ones.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from gen_framework.errors import GenFrameworkError

#: Lines of a jsonargparse error that describe the union machinery rather than the problem.
_NOISE = (
    "Does not validate against any of the Union subtypes",
    "Subtypes:",
    "Given value type:",
    "Expected a <class 'NoneType'>",
)
_PARSER_KEY = re.compile(r'^Parser key "([^"]+)":$')
_CLASS_PROBLEM = re.compile(r"^Problem with given class_path '([^']+)':$")
_NOT_ACCEPTED = re.compile(r"^Option '([^']+)' is not accepted$")
_EXPECTED = re.compile(r"^Expected a (.+?)(?:\. Got value:\s?(.*))?$")
_DOT_PATH = re.compile(r"^Expected a dot import path string: (.*)$")
_NOT_ACCESSIBLE = re.compile(r"^Expected a path but .* either not accessible or invalid$")
_REQUIRED = re.compile(r"^the following arguments are required: (.*)$")
_UNRECOGNIZED = re.compile(r"^unrecognized arguments: (.*)$")
_NEEDS_VALUE = re.compile(r"^argument (\S+): expected one argument$")
_NOT_SUBCLASS = re.compile(r"^Not a valid subclass of (\w+)")
_NOT_ACCEPTED_IN_CONFIG = re.compile(r"^Subcommand '([^']+)' does not accept option '([^']+)'$")
_GROUP_NOT_ACCEPTED = re.compile(r"^Group '([^']+)' does not accept option '([^']+)'$")
_BEFORE_SUBCOMMAND = re.compile(r"^Option '([^']+)' is not accepted before subcommand (.+)$")
_SUBCOMMAND_NAMES = ("fit", "validate", "test", "predict")

#: The jsonargparse message forms genfw translates (first line), as (form, example).
MESSAGE_FORMS = (
    ("unrecognized arguments", "unrecognized arguments: --trainer.max_stepz 3"),
    ("subcommand does not accept", "Subcommand 'fit' does not accept option 'trainer.max_stepz'"),
    ("group does not accept", "Group 'checkpoint' does not accept option 'bogus'"),
    ("not accepted before subcommand", "Option 'trainer.max_steps' is not accepted before subcommand 'fit'"),
    ("not accepted (class option)", "Option 'latent_dimm' is not accepted"),
    ("required", "the following arguments are required: fit.model, fit.data"),
    ("expected one argument", "argument --trainer.max_steps: expected one argument"),
    ("parser key tree", 'Parser key "model.init_args.latent_dim":\n  Expected a <class \'int\'>. Got value: abc'),
    ("dot import path", "Expected a dot import path string: Nope"),
    ("not a subclass", "Not a valid subclass of GenerativeModule"),
)


@dataclass
class _Node:
    text: str
    children: list[_Node] = field(default_factory=list)


@dataclass
class _Leaf:
    """One concrete problem found in the tree: the key it concerns, its class (if any) and the message line."""

    key: list[str]
    cls: str | None
    text: str
    value: str | None
    details: list[str]


def _tree(message: str) -> list[_Node]:
    """The lines of ``message`` as a forest by indentation; a ``- `` bullet counts as two more spaces."""
    roots: list[_Node] = []
    stack: list[tuple[int, _Node]] = []
    for raw in message.splitlines():
        if not raw.strip():
            continue
        indent = len(raw) - len(raw.lstrip())
        text = raw.strip()
        if text.startswith("- "):
            text, indent = text[2:].strip(), indent + 2
        node = _Node(text)
        while stack and stack[-1][0] >= indent:
            stack.pop()
        (stack[-1][1].children if stack else roots).append(node)
        stack.append((indent, node))
    return roots


def _flatten(node: _Node) -> list[str]:
    return [node.text, *(line for child in node.children for line in _flatten(child))]


def _leaves(nodes: list[_Node], key: list[str], cls: str | None, value: str | None) -> list[_Leaf]:
    given = next((n.text.split(":", 1)[1].strip() for n in nodes if n.text.startswith("Given value:")), value)
    found: list[_Leaf] = []
    for node in nodes:
        text = node.text
        if text.startswith(_NOISE) or text.startswith("Given value:") or _NOT_ACCESSIBLE.match(text):
            continue
        if match := _PARSER_KEY.match(text):
            sub = match.group(1).split(".")
            found += _leaves(node.children, key + (["init_args"] if cls else []) + sub, cls, None)
        elif match := _CLASS_PROBLEM.match(text):
            found += _leaves(node.children, key, match.group(1), given) or [_Leaf(key, match.group(1), text, given, [])]
        elif text == "Errors:":
            found += _leaves(node.children, key, cls, given)
        else:
            details = [line for child in node.children for line in _flatten(child)]
            found.append(_Leaf(key, cls, text, given, details))
    return found


def init_parameters(cls: type) -> list[str]:
    """The keyword arguments ``cls(...)`` accepts, following ``**kwargs`` up the ``__init__`` chain."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        try:
            params = list(inspect.signature(init).parameters.values())
        except (TypeError, ValueError):
            break
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        names += [p.name for p in params if p.kind in kinds and p.name != "self" and p.name not in names]
        if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return names


def _import(class_path: str) -> type | None:
    module, _, name = class_path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError, ValueError, TypeError):
        return None
    return found if isinstance(found, type) else None


def _type_name(text: str) -> str:
    """``<class 'int'>`` -> ``int``; ``typing.Literal[1, 3]`` -> ``one of 1, 3``; other types without ``typing.``."""
    text = re.sub(r"<class '(?:[\w.]+\.)?(\w+)'>", r"\1", text).replace("typing.", "")
    literal = re.fullmatch(r"Literal\[(.*)\]", text)
    return f"one of {literal.group(1)}" if literal else text


def _alternative(leaf: _Leaf) -> str | None:
    """What one alternative of a union accepts, or ``None`` when the leaf is not an "expected a ..." line."""
    if match := _EXPECTED.match(leaf.text):
        return _type_name(match.group(1))
    if _DOT_PATH.match(leaf.text):
        return "a class (dot import path)"
    return None


def _merge_alternatives(kinds: list[str]) -> str:
    """``["one of 1, 2", "one of 'a'", "int"]`` -> ``"one of 1, 2, 'a' or int"``."""
    literals = [k.removeprefix("one of ") for k in kinds if k.startswith("one of ")]
    others = [k for k in kinds if not k.startswith("one of ")]
    parts = ([f"one of {', '.join(literals)}"] if literals else []) + others
    return " or ".join(parts)


def _got(value: str | None) -> str:
    return f"got {value}" if value else "got an empty value"


def _is_base_class(cls: type | None) -> bool:
    """True for the classes a subclass-mode section defaults to when a config gives no ``class_path``."""
    if cls is None:
        return False
    from pytorch_lightning import LightningDataModule

    from gen_framework.families.base import GenerativeModule

    return cls in (GenerativeModule, LightningDataModule)


def _closest(word: str, choices: Collection[str]) -> list[str]:
    return difflib.get_close_matches(word, list(choices), n=3, cutoff=0.6)


def _suggest(word: str, choices: Collection[str]) -> str:
    close = _closest(word, choices)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    return f"; accepted: {', '.join(sorted(choices))}" if choices else ""


def _describe_leaf(leaf: _Leaf, key_aliases: dict[str, dict[str, str]]) -> str:
    key = ".".join(leaf.key) or "value"
    cls = _import(leaf.cls) if leaf.cls else None
    cls_name = cls.__name__ if cls else (leaf.cls.rpartition(".")[2] if leaf.cls else None)
    where = f"{key} ({cls_name})" if cls_name and leaf.key else key
    text = leaf.text
    if _is_base_class(cls):
        return f"{key}: no class_path given; set {key}.class_path to a class (or --{key} NAME on the command line)"
    if match := _NOT_ACCEPTED.match(text):
        option = match.group(1)
        accepted = init_parameters(cls) if cls else []
        close = _closest(option, accepted)
        hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        listed = f" {cls_name} accepts: {', '.join(accepted)}." if accepted else ""
        return f"{key}.init_args.{option}: {cls_name} has no option {option!r}.{hint}{listed}"
    if match := _REQUIRED.match(text):
        return f"{where}: missing required option {match.group(1)} (set {key}.init_args.{match.group(1)})"
    if match := _DOT_PATH.match(text):
        return _describe_class_name(key, match.group(1), key_aliases)
    if match := _EXPECTED.match(text):
        value = match.group(2) if match.group(2) is not None else leaf.value
        return f"{where}: expected {_type_name(match.group(1))}, {_got(value)}"
    if match := _NOT_SUBCLASS.match(text):
        return f"{where}: expected a class path or a mapping with class_path and init_args, {_got(leaf.value)}"
    if leaf.cls and cls is None and not _CLASS_PROBLEM.match(text):
        return f"{key}: cannot import class_path {leaf.cls!r}: {text}"
    extra = "; ".join(leaf.details)
    return f"{where}: {text}" + (f" {extra}" if extra else "")


def _describe_class_name(key: str, value: str, key_aliases: dict[str, dict[str, str]]) -> str:
    section = key.split(".")[0]
    aliases = key_aliases.get(section, {})
    if value in aliases and "." not in value and value.islower():
        # a plugin or datamodule short name where a class is needed, e.g. in a config file
        return (
            f"{key}: {value!r} is a short name, which works after --{section} on the command line; in a config "
            f"file give the class: class_path: {aliases[value]}"
        )
    known = f" (known: {', '.join(sorted(aliases))})" if aliases else ""
    close = _closest(value, aliases)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    return f"{key}: unknown class {value!r}{hint}{known}"


def describe_parse_error(
    message: str, known_options: Collection[str] = (), key_aliases: dict[str, dict[str, str]] | None = None
) -> str:
    """A one-paragraph description of a jsonargparse error ``message``.

    Args:
        message: The error jsonargparse raised.
        known_options: Option strings of the subcommand's parser (``--trainer.max_steps``), for suggestions.
        key_aliases: Per section (``model``, ``data``), the short names and class names it accepts, each mapped
            to its class path, for suggestions.
    """
    key_aliases = key_aliases or {}
    first = message.strip().splitlines()[0] if message.strip() else message
    if match := _UNRECOGNIZED.match(first):
        return _describe_unknown(match.group(1).split()[0], known_options)
    if match := _NOT_ACCEPTED_IN_CONFIG.match(first):
        return _describe_not_accepted(match.group(1), match.group(2), known_options)
    if match := _GROUP_NOT_ACCEPTED.match(first):
        return _describe_unknown(f"--{match.group(1)}.{match.group(2)}", known_options)
    if match := _BEFORE_SUBCOMMAND.match(first):
        key, subcommand = match.group(1), match.group(2).strip("'")
        where = subcommand if subcommand in _SUBCOMMAND_NAMES else "SUBCOMMAND"
        return (
            f"option {key!r} is given before the subcommand: write genfw {where} --{key} VALUE, or put {key} "
            "in the subcommand's config file"
        )
    if match := _REQUIRED.match(first):
        return _describe_required(match.group(1), key_aliases)
    if match := _NEEDS_VALUE.match(first):
        return f"option {match.group(1).split('/')[-1]} needs a value"
    leaves = _leaves(_tree(message), [], None, None)
    if not leaves:
        return " ".join(line.strip() for line in message.splitlines() if line.strip())
    # The deepest leaf is the most specific one; a union whose every alternative is "Expected a T" merges.
    deepest = max(len(leaf.key) + (leaf.cls is not None) for leaf in leaves)
    best = [leaf for leaf in leaves if len(leaf.key) + (leaf.cls is not None) == deepest]
    kinds = [_alternative(leaf) for leaf in best]
    if len(best) > 1 and all(kinds):
        leaf = best[0]
        return f"{'.'.join(leaf.key) or 'value'}: expected {_merge_alternatives(kinds)}, {_got(leaf.value)}"
    return _describe_leaf(best[0], key_aliases)


def _describe_required(listed: str, key_aliases: dict[str, dict[str, str]]) -> str:
    """``fit.model, fit.data`` -> one line naming each missing option and what it accepts."""
    keys = [k.strip() for k in listed.split(",") if k.strip()]
    keys = [k.split(".", 1)[1] if k.split(".")[0] in _SUBCOMMAND_NAMES and "." in k else k for k in keys]
    parts = []
    for key in keys:
        names = sorted(name for name in key_aliases.get(key, {}) if name.islower())
        parts.append(f"--{key} ({', '.join(names)})" if names else f"--{key}")
    noun = "option" if len(keys) == 1 else "options"
    return f"missing required {noun}: {', '.join(parts)}"


def _describe_not_accepted(subcommand: str, key: str, known_options: Collection[str]) -> str:
    head = key.split(".")[0]
    if head in _SUBCOMMAND_NAMES:
        # a config written as {fit: {trainer: ...}}: genfw SUBCOMMAND --config takes the sections themselves
        return (
            f"unknown key {key!r}: a config for genfw {subcommand} holds its sections (trainer, model, data, ...) "
            f"at the top level, not under {head}:"
        )
    return _describe_unknown("--" + key, known_options)


def _describe_unknown(option: str, known_options: Collection[str]) -> str:
    if not option.startswith("-"):
        return f"unexpected argument {option!r}: options are written --key value (genfw SUBCOMMAND --help lists them)"
    key = option.lstrip("-").split("=", 1)[0]
    options = [o[2:] for o in known_options if o.startswith("--") and not o.endswith(".help")]
    parts = key.split(".")
    known_prefix = next(
        (i for i in range(len(parts) - 1, 0, -1) if any(o.startswith(".".join(parts[:i]) + ".") for o in options)), 0
    )
    if known_prefix < len(parts) - 1:  # an unknown section: name it rather than the option inside it
        section = ".".join(parts[: known_prefix + 1])
        return _describe_unknown("--" + section, known_options) + f" (in {key})"
    section, dot, name = key.rpartition(".")
    if dot:
        siblings = sorted({o.rpartition(".")[2] for o in options if o.rpartition(".")[0] == section})
        if siblings:
            close = _closest(name, siblings)
            if close:
                return f"unknown key {key!r}; did you mean {' or '.join(f'{section}.{c}' for c in close)}?"
            return f"unknown key {key!r}; the {section} section accepts: {', '.join(siblings)}"
        choices = options
    else:
        choices = sorted({o.split(".")[0] for o in options if o not in ("help", "print_config", "config")})
    return f"unknown key {key!r}{_suggest(key, choices)}"


def describe_interpolation_error(err: Exception) -> str:
    """One line for an omegaconf interpolation error: the key holding it and what went wrong."""
    key = str(getattr(err, "full_key", "") or "")
    # keys carry the subcommand (fit.trainer.max_steps) and relative interpolations a leading ".." (see NOTES)
    key = key.split(".", 1)[1] if key.split(".")[0] in ("fit", "validate", "test", "predict") else key
    cause = find_user_error(err)
    if cause is not None:  # a genfw resolver refused its arguments: its message says why
        return f"{key or 'config'}: {cause}"
    first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    first = re.sub(r"\s*\(resolved to '[^']*'\)", "", first.replace("'..", "'"))
    return (
        f"{key or 'config'}: cannot resolve the interpolation ({first}); an interpolation such as "
        "${data.init_args.image_size} must name another key of the config"
    )


def find_user_error(err: BaseException) -> GenFrameworkError | None:
    """The framework error behind ``err``: jsonargparse and Lightning wrap errors raised in user classes, and
    omegaconf re-raises a resolver's error inside its own."""
    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        if isinstance(current, GenFrameworkError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def class_aliases() -> dict[str, dict[str, str]]:
    """Short names and class names accepted by ``model`` and ``data``, each mapped to its class path."""
    from gen_framework.data import DATAMODULES
    from gen_framework.registry import registry

    model: dict[str, str] = {}
    for record in registry.records():
        if record.status == "ok" and record.spec is not None:
            model[record.name] = _class_path(record.spec.module_class)
            for cls in (record.spec.module_class, *record.spec.extra_classes):
                model[cls.__name__] = _class_path(cls)
    data = {name: _class_path(cls) for name, cls in DATAMODULES.items()}
    data.update({cls.__name__: _class_path(cls) for cls in DATAMODULES.values()})
    return {"model": model, "data": data}


def _class_path(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def describe_argument_error(
    err: BaseException, known_options: Collection[str] = (), key_aliases: dict[str, dict[str, str]] | None = None
) -> str:
    """:func:`describe_parse_error` of jsonargparse's ``ArgumentError`` ``err`` (its ``message``, else its text)."""
    message = getattr(err, "message", None) or str(err)
    return describe_parse_error(message, known_options, key_aliases)


def option_keys(parser: Any) -> list[str]:
    """``--key`` for every option of ``parser`` (read through jsonargparse's public ``get_defaults``)."""
    try:
        defaults = parser.get_defaults()
    except Exception:  # noqa: BLE001 - suggestions are a courtesy; the error is reported without them
        return []
    return [f"--{key}" for key in defaults.keys() if not key.startswith("__")]


__all__ = [
    "MESSAGE_FORMS", "class_aliases", "describe_argument_error", "describe_interpolation_error",
    "describe_parse_error", "init_parameters", "option_keys",
]
