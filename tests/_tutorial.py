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
