"""The seed tutorial's layer variants, written once for every binder's tests.

``tutorial_layers(einn, x_shape, ...)`` gives, per variant, a constructor of the binder
``einn``'s module as the tutorial writes it, the input shape and the tutorial's documented
output shape for that input (``x_shape`` is ``(b, h, w, c)``; patch embedding needs ``h``
and ``w`` divisible by 4).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Variant = tuple[Callable[[], Any], tuple[int, ...], tuple[int, ...]]


def tutorial_layers(
    einn: Any,
    x_shape: tuple[int, int, int, int],
    *,
    mix2_input: tuple[int, int, int],
    mix2_space: tuple[int, int] = (64, 64),
    batchnorm: bool = True,
) -> dict[str, Variant]:
    """The variants; ``spatial_mix2`` maps ``mix2_input`` ``(b, s2, c)`` to
    ``(b, *mix2_space, c)``; ``batchnorm=False`` leaves out the EMA norm."""
    b, h, w, c = x_shape
    layers: dict[str, Variant] = {
        "layernorm": (lambda: einn.Norm("b... [c]"), x_shape, x_shape),
        "instancenorm": (lambda: einn.Norm("b [s...] c"), x_shape, x_shape),
        "groupnorm": (lambda: einn.Norm("b [s...] (g [c])", g=8), x_shape, x_shape),
        "batchnorm": (lambda: einn.Norm("[b...] c", decay_rate=0.9), x_shape, x_shape),
        "rmsnorm": (lambda: einn.Norm("b... [c]", mean=False, bias=False), x_shape, x_shape),
        "channel_mix": (lambda: einn.Linear("b... [c1->c2]", c2=64), x_shape, (b, h, w, 64)),
        "spatial_mix1": (lambda: einn.Linear("b [s...->s2] c", s2=64), x_shape, (b, 64, c)),
        "spatial_mix2": (
            lambda: einn.Linear("b [s2->s...] c", s=mix2_space),
            mix2_input,
            (mix2_input[0], *mix2_space, mix2_input[2]),
        ),
        "patch_embed": (
            lambda: einn.Linear("b (s [s2->])... [c1->c2]", s2=4, c2=64),
            x_shape,
            (b, h // 4, w // 4, 64),
        ),
        "dropout": (lambda: einn.Dropout("[...]", drop_rate=0.2), x_shape, x_shape),
        "spatial_dropout": (lambda: einn.Dropout("[b] ... [c]", drop_rate=0.2), x_shape, x_shape),
        "droppath": (lambda: einn.Dropout("[b] ...", drop_rate=0.2), x_shape, x_shape),
    }
    if not batchnorm:
        del layers["batchnorm"]
    return layers


def hostile_layers(einn: Any) -> dict[str, Callable[[], Any]]:
    """Small variants (for inputs like ``(4, 6, 6, 16)``) that hostile-use tests run through
    every layout, dtype and mode: the tutorial's forms, a norm over all but the batch, a
    group norm with EMA, the digits spec and a model with two kinds of dropout."""
    from einx_typed.config import load
    from einx_typed.layers import DropoutSpec, LinearSpec, SequentialSpec

    return {
        "layernorm": lambda: einn.Norm("b... [c]"),
        "instancenorm": lambda: einn.Norm("b [s...] c"),
        "groupnorm": lambda: einn.Norm("b [s...] (g [c])", g=4),
        "batchnorm": lambda: einn.Norm("[b...] c", decay_rate=0.9),
        "rmsnorm": lambda: einn.Norm("b... [c]", mean=False, bias=False),
        "norm_all": lambda: einn.Norm("b [s... c]"),
        "groupnorm_ema": lambda: einn.Norm("[b s...] (g [c])", g=4, decay_rate=0.9),
        "channel_mix": lambda: einn.Linear("b... [c1->c2]", c2=8),
        "spatial_mix1": lambda: einn.Linear("b [s...->s2] c", s2=8),
        "patch_embed": lambda: einn.Linear("b (s [s2->])... [c1->c2]", s2=2, c2=8),
        "dropout": lambda: einn.Dropout("[...]", drop_rate=0.3),
        "spatial_dropout": lambda: einn.Dropout("[b] ... [c]", drop_rate=0.3),
        "droppath": lambda: einn.Dropout("[b] ...", drop_rate=0.3),
        "digits_mlp": lambda: einn.from_spec(load("specs/digits_mlp.toml")),
        "mlp_dropout": lambda: einn.from_spec(
            SequentialSpec(
                [
                    LinearSpec("b [...->c]", axes={"c": 32}),
                    "gelu",
                    DropoutSpec("[...]", 0.3),
                    LinearSpec("b... [c1->c2]", axes={"c2": 8}),
                    DropoutSpec("[b] ...", 0.3),
                ]
            )
        ),
    }
