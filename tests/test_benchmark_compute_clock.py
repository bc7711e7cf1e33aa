"""The overhead benchmark's compute clock, and the compute-matched estimate built on it."""

import importlib

import pytest
import torch
from torch import nn

from benchmark_modules import load_benchmark


@pytest.fixture(scope="module")
def compute_clock():
    return load_benchmark("compute_clock")


def busy_layer(seconds: float) -> nn.Module:
    """A layer whose forward burns about ``seconds`` of CPU time."""

    class Busy(nn.Linear):
        def forward(self, x):
            import time

            end = time.process_time() + seconds
            while time.process_time() < end:
                pass
            return super().forward(x)

    return Busy(4, 4)


@pytest.mark.slow  # bounds on CPU time stay out of the default run
def test_clock_counts_forward_backward_and_adam_and_nothing_else(compute_clock):
    adam_module = importlib.import_module("torch.optim.adam")
    backward, adam = torch.autograd.backward, adam_module.adam
    inner = busy_layer(0.02)
    net = nn.Sequential(inner, busy_layer(0.02))  # watched whole: the inner layers' time counts once
    optimiser = torch.optim.Adam(net.parameters())
    clock = compute_clock.ComputeClock()
    with clock.installed():
        clock.watch(net, inner)  # nested watches do not count twice
        loss = net(torch.randn(2, 4)).sum()
        after_forward = clock.seconds
        loss.backward()
        optimiser.step()
        before_idle = clock.seconds
        import time

        end = time.process_time() + 0.03  # time outside the networks is not compute
        while time.process_time() < end:
            pass
        assert clock.seconds == before_idle
    assert 0.04 <= after_forward < 0.055, after_forward  # twice the inner layer would be >= 0.06
    assert clock.seconds > after_forward  # backward and Adam counted too
    # Everything patched is put back, and the hooks are gone.
    assert torch.autograd.backward is backward and adam_module.adam is adam
    net(torch.randn(2, 4)).sum().backward()
    assert clock.seconds == before_idle


def test_compute_matched_overhead_ignores_a_slow_spell():
    dcgan_vae = load_benchmark("dcgan_vae")
    # Plain: 50 ms compute + 2.5 ms other (r = 0.05). genfw: r = 0.10, but every run in a spell 30% slower.
    plain = {"compute": [50.0] * 3, "other": [2.5] * 3}
    genfw = {"compute": [65.0] * 3, "other": [6.5] * 3}
    lightning = {"compute": [50.0] * 3, "other": [4.0] * 3}  # r = 0.08
    minimal = {"compute": [50.0] * 3, "other": [3.5] * 3}  # r = 0.07
    result = dcgan_vae.compute_matched({"genfw": genfw, "lightning": lightning, "minimal": minimal, "plain": plain})
    assert result["overhead_percent"] == pytest.approx(100 * (1.10 / 1.05 - 1), abs=0.05)  # not the raw +36%
    assert result["minimal_overhead_percent"] == pytest.approx(100 * 0.02 / 1.05, abs=0.05)
    parts = result["lightning_loop_points"] + result["family_base_points"] + result["genfw_defaults_points"]
    assert parts == pytest.approx(result["overhead_percent"], abs=0.051)  # the total is rounded to 0.1
