"""Refuses, when a plugin class is defined, the one way of changing a family default that silently fails.

A plugin that writes ``kwargs.setdefault("loss", "wasserstein")`` in its ``__init__`` gets its default when it
is built in Python, but never under ``genfw``: LightningCLI reads the family base's signature through
``**kwargs`` and passes every family option explicitly, with the family's default, so ``setdefault`` finds the
key present and does nothing. The class is refused at definition with the fix (declare the option in the
plugin's own signature with its new default), so the plugin fails loudly, on import, instead of training
with the wrong loss.
"""

from __future__ import annotations

import ast
import inspect
import textwrap


def refuse_hidden_family_defaults(cls: type) -> None:
    """Raise ``TypeError`` when ``cls.__init__`` sets a default of an inherited option through ``**kwargs``."""
    init = cls.__dict__.get("__init__")
    if init is None:
        return
    try:
        signature = inspect.signature(init)
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, ValueError, SyntaxError):  # no source (built at run time, compiled): nothing to read
        return
    var_keyword = next((p.name for p in signature.parameters.values() if p.kind is p.VAR_KEYWORD), None)
    if var_keyword is None:
        return
    own = set(signature.parameters)
    inherited = {
        name
        for base in cls.__mro__[1:]
        if "__init__" in base.__dict__
        for name, p in _parameters(base.__dict__["__init__"]).items()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and name != "self"
    }
    for node in ast.walk(tree):
        if not (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "setdefault"
            and isinstance(node.func.value, ast.Name)
            and node.func.value.id == var_keyword
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            continue
        option = node.args[0].value
        if option in inherited and option not in own:
            value = ast.unparse(node.args[1]) if len(node.args) > 1 else "None"
            raise TypeError(
                f"{cls.__qualname__}.__init__ sets the inherited option {option!r} with {var_keyword}.setdefault(), "
                f"which genfw's command line and configs override with the base class's default; declare it in the "
                f"signature instead, `def __init__(self, ..., {option}={value}, **{var_keyword})`, and pass "
                f"{option}={option} on to super().__init__()"
            )


def _parameters(function: object) -> dict[str, inspect.Parameter]:
    try:
        return dict(inspect.signature(function).parameters)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return {}
