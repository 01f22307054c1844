"""Layers as data: immutable specs resolved into pure functions and parameter tables.

A spec describes a layer in einx notation and nothing else; :meth:`resolve` binds it to
an input shape and dtype and returns a :class:`Resolved` object::

    spec = LinearSpec("b... [c1->c2]", axes={"c2": 64})
    resolved = spec.resolve((16, 32), dtype="float32")
    resolved.params   # {"weight": ParamSpec((32, 64), ("c1", "c2"), LecunTruncatedNormal((0,))),
                      #  "bias": ParamSpec((64,), ("c2",), Zeros())}  (dtype, trainable left out)
    y, new_state = resolved.apply(params, x, state=state, training=True, rng=rng)

Contract for binders (``einx_typed.nn.*``):

* Specs: ``LinearSpec(expr, bias=True, axes={})``,
  ``NormSpec(stats, params="b... [c]", mean=True, var=True, scale=True, bias=True,
  epsilon=1e-5, fastvar=True, decay_rate=None, axes={})``,
  ``DropoutSpec(expr, drop_rate, axes={})``, ``ActivationSpec(name, expr=None)`` and
  ``SequentialSpec(layers)`` (items are specs; a plain string such as ``"gelu"`` becomes an
  ``ActivationSpec``).  All are frozen, hashable, picklable ``attrs`` classes; ``axes`` is a
  read-only :class:`FrozenMap`.  Activations: ``gelu`` (tanh approximation everywhere),
  ``relu``, ``silu``, ``tanh``, ``sigmoid``, and ``softmax``/``log_softmax`` over the axes
  bracketed in ``expr``.  ``DropoutSpec.mask_shape(shape)``/``mask_axes(shape)`` describe
  the random mask.
* Parameter names: Linear ``"weight"`` and ``"bias"``; Norm parameters ``"scale"`` and
  ``"bias"`` and Norm state (EMA statistics, ``trainable=False``) ``"mean"`` and ``"var"``.
  ``SequentialSpec`` prefixes the names of item ``i`` with ``"i."`` (activations count as
  items), so ``"0.weight"``, ``"1.mean"``, ...; nested sequentials nest the prefixes.
* ``spec.resolve(input_shape, dtype="float32") -> Resolved`` (cached per spec, shape and
  dtype; needs no framework).  ``Resolved`` has ``params`` and ``state`` (read-only
  mappings from name to :class:`ParamSpec`), ``output_shape`` and::

      apply(params, x, *, state=None, training=False, rng=None, initializing=False)
          -> tuple[y, new_state]

  ``params``/``state`` map the names above to arrays of ``x``'s library; ``new_state`` is
  a new dict with the same keys as ``resolved.state`` (empty when there is no state).
  Nothing is written in place.  ``apply`` checks the names and shapes of ``params`` and
  ``state`` (``OperationError``), not the shape of ``x``: any input that the layer's
  expressions accept works (e.g. another batch size, or one example under ``jax.vmap``).
  ``initializing=True`` marks the framework's init phase:
  EMA statistics are then used for normalisation and returned unchanged.
* ``spec.resolve_params(dtype="float32") -> (params, state) | None``: the same tables
  without an input, when the axis values alone fix every shape (e.g. ``LinearSpec("b...
  [c1->c2]", axes={"c1": 32, "c2": 64})``), else ``None``; lets a binder create parameters
  (and load a checkpoint) before the first forward pass.
* EMA rule (Norm with ``decay_rate``): the EMA statistics normalise when ``not training``
  or ``initializing``; batch statistics normalise when training; the state is updated
  (``ema <- decay_rate * ema + (1 - decay_rate) * batch_stat``, without gradient) only
  when training and not initializing.
* Dropout randomness comes from ``rng``: a ``numpy.random.Generator`` for numpy arrays, a
  ``torch.Generator`` for torch tensors (``None`` uses torch's global generator), a JAX
  PRNG key for JAX arrays (required).  Dropout is the identity when not training.
  ``SequentialSpec`` derives one key per item with ``jax.random.fold_in(rng, index)``.
* ``ParamSpec(shape, axes, init, dtype, trainable)``: ``axes`` names every dimension
  (ellipsis instances as ``"s.0"``, compositions as ``"(h c)"``).  ``init`` is an
  :class:`InitSpec`: ``Zeros()``, ``Ones()``, ``Constant(value)``, ``Normal(std)``,
  ``TruncatedNormal(std)`` (cut at +-2 std) or ``LecunTruncatedNormal(fan_in_axes)``
  (truncated at +-2 sigma with ``sigma = sqrt(1 / fan_in) / 0.87962566103423978``,
  ``fan_in`` the product of the dimensions in ``fan_in_axes``; use its
  ``stddev(shape)``).  ``init_for_op(op, in_axis=...)`` gives the default InitSpec of a
  factory called by an op (``"dot"``, ``"add"``, ``"multiply"``, ``"get_at"``,
  ``"rearrange"``); ``sample_init(init, shape, dtype, rng)`` draws one with numpy.
"""

from einx_typed.layers._activation import ACTIVATION_NAMES, ActivationSpec
from einx_typed.layers._base import LayerSpec, ParamTables, checked_input_shape
from einx_typed.layers._dropout import DropoutSpec
from einx_typed.layers._frozen import FrozenMap
from einx_typed.layers._init import (
    Constant,
    InitSpec,
    LecunTruncatedNormal,
    Normal,
    Ones,
    TruncatedNormal,
    Zeros,
    init_for_op,
    sample_init,
)
from einx_typed.layers._linear import LinearSpec
from einx_typed.layers._norm import NormSpec
from einx_typed.layers._registry import SPEC_TYPES, module_name, spec_type_name
from einx_typed.layers._resolved import PROGRAM_GROUPS, ParamSpec, Resolved, Runner
from einx_typed.layers._sequential import SequentialSpec
from einx_typed.layers._validate import AxisValue

__all__ = [
    "ACTIVATION_NAMES",
    "PROGRAM_GROUPS",
    "SPEC_TYPES",
    "ActivationSpec",
    "AxisValue",
    "Constant",
    "DropoutSpec",
    "FrozenMap",
    "InitSpec",
    "LayerSpec",
    "LecunTruncatedNormal",
    "LinearSpec",
    "NormSpec",
    "Normal",
    "Ones",
    "ParamSpec",
    "ParamTables",
    "Resolved",
    "Runner",
    "SequentialSpec",
    "TruncatedNormal",
    "Zeros",
    "checked_input_shape",
    "init_for_op",
    "module_name",
    "sample_init",
    "spec_type_name",
]
