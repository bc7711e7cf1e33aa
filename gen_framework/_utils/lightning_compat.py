"""The LightningCLI internals ``genfw`` overrides, checked against the installed Lightning before the CLI runs.

``GenFWCLI`` builds on LightningCLI's public hooks except where none exists: it overrides the private methods in
:data:`PRIVATE_METHODS`. Private methods change without notice between minor releases, so the supported Lightning
range is the one ``pyproject.toml`` states (``pytorch-lightning>=2.6,<2.7``: 2.6 added the ``weights_only``
arguments the CLI sets), and each override is checked to exist with the signature it was written against:
outside the range, or when a release changes one, ``genfw`` stops with one line saying what to install instead
of misbehaving silently."""

from __future__ import annotations

from importlib import metadata
from typing import Any

from packaging.requirements import Requirement
from packaging.version import Version

from gen_framework.errors import GenFrameworkError

#: Private LightningCLI methods GenFWCLI overrides (no public hook does their job), each with the signature it was
#: written against. ``_parse_ckpt_path``: Lightning's reads the whole checkpoint again to apply its
#: hyperparameters; genfw's checkpoint authority has read it once already (gen_framework/cli/checkpoint_authority.py).
PRIVATE_METHODS = {
    "_parse_ckpt_path": "(self) -> None",
}
#: used when gen-framework runs from a source tree without installed metadata; pyproject.toml is the source
FALLBACK_SPEC = ">=2.6,<2.7"


class IncompatibleLightningError(GenFrameworkError, ImportError):
    """The installed pytorch-lightning lacks what ``genfw``'s command line builds on."""


def supported_spec() -> str:
    """The pytorch-lightning version range gen-framework's installed metadata requires."""
    try:
        requirements = metadata.requires("gen-framework") or []
    except metadata.PackageNotFoundError:
        return FALLBACK_SPEC
    for line in requirements:
        requirement = Requirement(line)
        if requirement.name == "pytorch-lightning" and requirement.marker is None:
            return str(requirement.specifier)
    return FALLBACK_SPEC


def signature_of(method: Any) -> str:
    """``inspect.signature`` of ``method`` as text, with annotations as written (``from __future__`` style)."""
    import inspect

    return str(inspect.signature(method)).replace("'", "")


def check_lightning_cli(cli_class: type, version: str) -> None:
    """Raises :class:`IncompatibleLightningError` unless ``version`` is supported and ``cli_class`` has the
    private methods genfw overrides.

    Args:
        cli_class: Lightning's ``LightningCLI``.
        version: the installed ``pytorch_lightning.__version__``.
    """
    spec = supported_spec()
    fix = f"pip install 'pytorch-lightning{spec}'"
    if not Requirement(f"pytorch-lightning{spec}").specifier.contains(Version(version), prereleases=True):
        raise IncompatibleLightningError(
            f"genfw supports pytorch-lightning{spec} (it overrides private LightningCLI methods), "
            f"but {version} is installed: {fix}"
        )
    missing = [name for name in PRIVATE_METHODS if not callable(getattr(cli_class, name, None))]
    changed = [
        f"{name}{signature_of(getattr(cli_class, name))} (written against {expected})"
        for name, expected in PRIVATE_METHODS.items()
        if name not in missing and signature_of(getattr(cli_class, name)) != expected
    ]
    if changed:
        raise IncompatibleLightningError(
            f"pytorch-lightning {version} changed LightningCLI.{'; LightningCLI.'.join(changed)}, which genfw "
            f"overrides: {fix}"
        )
    if missing:
        raise IncompatibleLightningError(
            f"pytorch-lightning {version} lacks LightningCLI.{', LightningCLI.'.join(missing)}, which genfw "
            f"overrides: {fix}"
        )
