"""``ModelEMA.update_from`` folds weights in exactly as ``AveragedModel.update_parameters`` does with the EMA's
``multi_avg_fn``: parameters and buffers, a copy first, then a lerp of floating-point tensors and a copy of integer
ones (BatchNorm's step count)."""

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from gen_framework.families.ema import ModelEMA, ema_multi_avg_fn


class Owner(nn.Module):
    def __init__(self):
        super().__init__()
        self.generator = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 3))


def test_update_from_equals_averaged_models_update():
    torch.manual_seed(0)
    owner = Owner()
    ema = ModelEMA(owner, ["generator"], decay=0.9)
    reference = AveragedModel(owner.generator, multi_avg_fn=ema_multi_avg_fn(0.9), use_buffers=True)
    optimizer = torch.optim.SGD(owner.parameters(), lr=0.1)
    for step in range(5):
        owner.generator(torch.randn(3, 1, 8, 8)).square().mean().backward()  # BatchNorm statistics move too
        optimizer.step()
        optimizer.zero_grad()
        if step == 3:
            ema.set_decay(0.5)
            reference.multi_avg_fn = ema_multi_avg_fn(0.5)
        ema.update_from(owner)
        reference.update_parameters(owner.generator)
    ours = ema["generator"].state_dict()
    theirs = reference.state_dict()
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert torch.equal(ours[key], theirs[key]), key
    assert int(ours["n_averaged"]) == 5
    assert int(ours["module.1.num_batches_tracked"]) == 5
    assert not any(t.requires_grad for t in ema.parameters())


def test_a_replaced_tensor_is_picked_up():
    torch.manual_seed(0)
    owner = Owner()
    ema = ModelEMA(owner, ["generator"], decay=0.0)  # decay 0: the average is the live weights
    ema.update_from(owner)
    ema.update_from(owner)
    owner.generator[1].running_mean = torch.full((4,), 3.0)  # a new tensor object, not an in-place change
    ema.update_from(owner)
    assert torch.equal(ema["generator"].module[1].running_mean, torch.full((4,), 3.0))


def test_a_replaced_parameter_or_submodule_is_picked_up():
    torch.manual_seed(0)
    owner = Owner()
    ema = ModelEMA(owner, ["generator"], decay=0.0)
    ema.update_from(owner)
    owner.generator[0].weight = nn.Parameter(torch.full_like(owner.generator[0].weight, 2.0))
    ema.update_from(owner)
    assert torch.equal(ema["generator"].module[0].weight, owner.generator[0].weight)
    owner.generator[3] = nn.Conv2d(4, 2, 3)  # a new submodule, with tensors of the same shapes
    ema.update_from(owner)
    assert torch.equal(ema["generator"].module[3].weight, owner.generator[3].weight)


def test_a_steady_update_does_not_walk_the_module_trees(monkeypatch):
    """Walking ``parameters()`` and ``buffers()`` of both trees on every update cost 55 µs of DCGAN's step; once
    the tensor groups are built, an update reads the cached groups (the fingerprint reads dicts, not walks)."""
    torch.manual_seed(0)
    owner = Owner()
    ema = ModelEMA(owner, ["generator"], decay=0.9)
    ema.update_from(owner)
    ema.update_from(owner)
    walks = []
    for method in ("parameters", "buffers", "named_parameters", "named_buffers", "modules", "named_modules"):
        original = getattr(nn.Module, method)
        monkeypatch.setattr(
            nn.Module, method, lambda self, *a, _o=original, _m=method, **k: (walks.append(_m), _o(self, *a, **k))[1]
        )
    ema.update_from(owner)
    assert walks == []
