"""Running the conformance checks on a plugin: `check_plugin` and the pytest helper `conformance_cases`."""

from __future__ import annotations

import tempfile
import traceback
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytorch_lightning as pl

from gen_framework.registry import PluginSpec, registry
from gen_framework.testing.outcomes import CheckSkipped

if TYPE_CHECKING:
    from gen_framework.families.base import GenerativeModule
    from gen_framework.testing.checks import Check
    from gen_framework.testing.synthetic import SyntheticData, Task


class KitContext:
    """What a check works with: the plugin, a tiny model factory, tiny data, a work directory.

    The fitted model and its checkpoint are made once and shared by the checks that only read them.
    """

    def __init__(
        self,
        spec: PluginSpec,
        workdir: Path,
        *,
        init_args: Mapping[str, Any] | None = None,
        data_spec: Mapping[str, Any] | None = None,
        configs: Iterable[str | Path] = (),
        sampling_options: Mapping[str, Any] | None = None,
        length: int = 16,
        learning_init_args: Mapping[str, Any] | None = None,
    ) -> None:
        from gen_framework.testing.synthetic import complete_spec

        self.spec = spec
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.init_args = dict(spec.test_init_args if init_args is None else init_args)
        self.configs = [Path(c) for c in configs]
        self.sampling_options = dict(spec.test_sampling_options if sampling_options is None else sampling_options)
        self.length = length
        #: Init args the learning check adds to ``init_args`` (see :mod:`gen_framework.testing.learning`).
        self.learning_init_args = dict(learning_init_args or {})
        modality = spec.module_class.modality
        given = dict(data_spec if data_spec is not None else (spec.test_data_spec or {}))
        if modality == "image":
            given.setdefault("image_size", self.init_args.get("image_size", 8))
            given.setdefault("channels", self.init_args.get("channels", 1))
        self.data_spec = complete_spec({"modality": modality, **given})
        self._fitted: GenerativeModule | None = None
        self._checkpoint: Path | None = None

    def make_model(self, **overrides: Any) -> GenerativeModule:
        """A fresh tiny instance of the plugin's module class (``init_args`` updated with ``overrides``)."""
        return self.spec.module_class(**{**self.init_args, **overrides})

    def make_data(
        self, model: GenerativeModule | None = None, *, count: int = 16, batch_size: int = 4, task: Task = "random"
    ) -> SyntheticData:
        """Tiny synthetic data matching the data spec; sequences fit the model's context."""
        from gen_framework.testing.synthetic import SyntheticData

        length = self.length
        if model is not None and model.family == "autoregressive":
            try:
                length = min(length, int(model.context_size))
            except (NotImplementedError, AttributeError, TypeError):
                pass
        return SyntheticData(self.data_spec, length=length, count=count, batch_size=batch_size, task=task)

    def trainer_kwargs(self) -> dict[str, Any]:
        """A silent single-process CPU trainer writing nothing."""
        return {
            "accelerator": "cpu", "devices": 1, "logger": False, "enable_checkpointing": False,
            "enable_progress_bar": False, "enable_model_summary": False, "num_sanity_val_steps": 0,
            "limit_val_batches": 0, "default_root_dir": str(self.workdir),
        }

    def fitted_model(self) -> GenerativeModule:
        """A model trained for 2 steps (made once)."""
        if self._fitted is None:
            self._fit()
        assert self._fitted is not None
        return self._fitted

    def checkpoint_path(self) -> Path:
        """The Lightning checkpoint of :meth:`fitted_model`."""
        if self._checkpoint is None:
            self._fit()
        assert self._checkpoint is not None
        return self._checkpoint

    def _fit(self) -> None:
        pl.seed_everything(0, verbose=False)
        model = self.make_model()
        trainer = pl.Trainer(max_steps=2, **self.trainer_kwargs())
        trainer.fit(model, self.make_data(model))
        self._checkpoint = self.workdir / "fitted.ckpt"
        trainer.save_checkpoint(self._checkpoint)
        self._fitted = model


@dataclass
class CheckResult:
    """The outcome of one check: ``passed``, ``failed``, ``skipped`` (nothing to check; the message says why),
    ``xfailed`` (failed as declared) or ``xpassed``."""

    name: str
    outcome: str
    message: str = ""


@dataclass
class KitReport:
    """Every check's result for one plugin."""

    plugin: str
    results: list[CheckResult] = field(default_factory=list)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if r.outcome in ("failed", "xpassed")]

    def __str__(self) -> str:
        lines = [f"conformance of plugin {self.plugin!r}:"]
        lines += [f"  {r.outcome:8} {r.name}" + (f": {r.message}" if r.message else "") for r in self.results]
        return "\n".join(lines)


def plugin_checks(spec: PluginSpec, *, include_distributed: bool = True) -> list[Check]:
    """The checks that apply to the plugin's family."""
    from gen_framework.testing.checks import CHECKS

    return [c for c in CHECKS if c.applies_to(spec.family) and (include_distributed or not c.distributed)]


def _spec_of(plugin: str | PluginSpec) -> PluginSpec:
    if isinstance(plugin, PluginSpec):
        record = registry.record_for_class(plugin.module_class)
        # from_pretrained and checkpoints find classes through the registry. A subclass of a registered class
        # needs its own record too: under its base's record it would be saved, and loaded back, as the base.
        if record is None or record.spec is None or record.spec.module_class is not plugin.module_class:
            registry.register(plugin, replace=True)
        return plugin
    return registry.get(plugin)


def check_plugin(
    plugin: str | PluginSpec,
    *,
    expected_failures: Mapping[str, str] | None = None,
    skip: Iterable[str] = (),
    select: Iterable[str] | None = None,
    include_distributed: bool = True,
    workdir: str | Path | None = None,
    raise_on_failure: bool = True,
    **context_options: Any,
) -> KitReport:
    """Run every applicable check on a plugin, by name or spec.

    Args:
        expected_failures: Check name → reason, for checks known to fail (reported as ``xfailed``; a check
            that passes anyway is ``xpassed`` and counts as a failure, so the declaration stays honest).
        skip: Check names not to run.
        select: Run only these checks (all applicable ones when ``None``).
        include_distributed: Run the checks that start processes (DDP).
        raise_on_failure: Raise ``AssertionError`` with the report when a check fails.
        context_options: ``init_args``, ``data_spec``, ``configs``, ``sampling_options``, ``learning_init_args``
            for :class:`KitContext`.
    """
    spec = _spec_of(plugin)
    expected = dict(expected_failures or {})
    skipped = set(skip)
    selected = None if select is None else set(select)
    with tempfile.TemporaryDirectory(prefix=f"genfw-kit-{spec.name}-") as tmp:
        ctx = KitContext(spec, Path(workdir or tmp), **context_options)
        report = KitReport(spec.name)
        for check in plugin_checks(spec, include_distributed=include_distributed):
            if check.name in skipped or (selected is not None and check.name not in selected):
                continue
            report.results.append(_run(check, ctx, expected.get(check.name)))
    if raise_on_failure and report.failures:
        raise AssertionError(str(report))
    return report


def _run(check: Check, ctx: KitContext, expected_reason: str | None) -> CheckResult:
    try:
        check.function(ctx)
    except CheckSkipped as skipped:
        return CheckResult(check.name, "skipped", str(skipped))
    except Exception as err:  # a check's failure may be any error the plugin raises
        message = str(err) if isinstance(err, AssertionError) else "".join(traceback.format_exception_only(err)).strip()
        if expected_reason is not None:
            return CheckResult(check.name, "xfailed", f"{expected_reason} ({message})")
        return CheckResult(check.name, "failed", message)
    if expected_reason is not None:
        return CheckResult(check.name, "xpassed", f"declared to fail ({expected_reason}) but passed")
    return CheckResult(check.name, "passed")


def conformance_cases(
    plugin: str | PluginSpec,
    *,
    expected_failures: Mapping[str, str] | None = None,
    include_distributed: bool = True,
    **context_options: Any,
) -> list[Any]:
    """pytest parameters, one per check, for ``@pytest.mark.parametrize("case", conformance_cases(...))``.

    Each case is a callable taking a work directory (``case(tmp_path)``); declared failures are
    ``xfail(strict=True)``, distributed checks carry the ``distributed`` marker and learning checks the
    ``learning`` marker (register both in your pytest configuration), and a check with nothing to check skips
    with its reason.
    """
    import pytest

    spec = _spec_of(plugin)
    expected = dict(expected_failures or {})
    cases = []
    shared: dict[str, KitContext] = {}
    for check in plugin_checks(spec, include_distributed=include_distributed):
        marks = []
        if check.name in expected:
            marks.append(pytest.mark.xfail(reason=expected[check.name], strict=True))
        if check.distributed:
            marks.append(pytest.mark.distributed)
        if check.learning:
            marks.append(pytest.mark.learning)
        case = _Case(spec, check, context_options, shared)
        cases.append(pytest.param(case, id=f"{spec.name}-{check.name}", marks=marks))
    return cases


@dataclass
class _Case:
    spec: PluginSpec
    check: Check
    options: Mapping[str, Any]
    shared: dict[str, KitContext] = field(default_factory=dict)

    def __call__(self, workdir: str | Path) -> None:
        # Cases are collected long before they run, and a test may have reset the registry in between: the
        # plugin must be registered now, since checkpoints and pretrained folders find classes only there.
        _spec_of(self.spec)
        # The cases of one plugin share a context, so the model they only read is fitted once.
        if "context" not in self.shared:
            self.shared["context"] = KitContext(self.spec, Path(workdir), **self.options)
        try:
            self.check.function(self.shared["context"])
        except CheckSkipped as skipped:
            import pytest

            pytest.skip(f"{self.check.name}: {skipped}")
