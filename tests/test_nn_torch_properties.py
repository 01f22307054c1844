"""Property tests for ``einx_typed.nn.torch``: a module computes what its spec's ``apply`` does.

For random layer specs (and small sequential models) with matching inputs, the module's
first forward (the general path, in the init phase), its later forwards (replayed from a
recording) and a fresh module loaded from its ``state_dict`` all agree with
``Resolved.apply`` on the module's own parameters and state.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import einx_typed.nn.torch as einn
from einx_typed.layers import DropoutSpec, LayerSpec, SequentialSpec
from einx_typed.testing import sequential_specs, specs_with_inputs

SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _has_dropout(spec: LayerSpec) -> bool:
    if isinstance(spec, SequentialSpec):
        return any(isinstance(item, DropoutSpec) for item in spec.layers)
    return isinstance(spec, DropoutSpec)


def _snapshot(module: torch.nn.Module) -> tuple[dict[str, Any], dict[str, Any]]:
    params = {k: v.detach().clone() for k, v in module.named_parameters()}
    state = {k: v.clone() for k, v in module.named_buffers()}
    return params, state


def _check(
    spec: LayerSpec,
    shape: tuple[int, ...],
    training: bool,
    build: Callable[[LayerSpec], torch.nn.Module] = einn.from_spec,
) -> None:
    if training and _has_dropout(spec):
        training = False  # the module draws masks from torch's global generator
    resolved = spec.resolve(shape)
    module = build(spec)
    module.train(training)
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator)

    for call in range(3):
        params, state = _snapshot(module) if call else (None, None)
        y = module(x)
        if call == 0:
            params, state = _snapshot(module)  # created by the first call
        assert params is not None and state is not None
        expected, new_state = resolved.apply(
            params, x, state=state, training=training, initializing=call == 0
        )
        assert tuple(y.shape) == resolved.output_shape
        torch.testing.assert_close(y, expected, rtol=1e-5, atol=1e-5, equal_nan=True)
        if training and call > 0:
            for name, value in new_state.items():
                torch.testing.assert_close(
                    dict(module.named_buffers())[name], value, equal_nan=True
                )

    fresh = build(spec)
    fresh.load_state_dict(module.state_dict())
    fresh.train(training)
    torch.testing.assert_close(fresh(x), module(x), rtol=1e-6, atol=1e-6, equal_nan=True)


@SETTINGS
@given(specs_with_inputs(), st.booleans())
def test_layer_modules_compute_what_apply_computes(
    case: tuple[LayerSpec, tuple[int, ...]], training: bool
) -> None:
    _check(*case, training)


@SETTINGS
@given(sequential_specs(max_layers=4), st.booleans())
def test_sequential_modules_compute_what_apply_computes(
    case: tuple[LayerSpec, tuple[int, ...]], training: bool
) -> None:
    _check(*case, training)


def test_the_check_fails_for_a_module_that_computes_something_else() -> None:
    spec, shape = SequentialSpec(["relu"]), (2, 3)

    class Wrong(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    with pytest.raises(AssertionError):
        _check(spec, shape, training=False, build=lambda spec: torch.nn.Sequential(Wrong()))
