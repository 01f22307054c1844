"""The binder kit: constructors from specs, init coercion, the shape cache, the state rule,
and the one registry of spec types that config, testing, the CLI and binders share."""

from __future__ import annotations

import inspect
import threading
from typing import Any

import pytest
from hypothesis import given

import einx_typed.config
from einx_typed.errors import SpecError
from einx_typed.layers import (
    SPEC_TYPES,
    ActivationSpec,
    Constant,
    DropoutSpec,
    LayerSpec,
    LecunTruncatedNormal,
    LinearSpec,
    Normal,
    NormSpec,
    Ones,
    SequentialSpec,
    TruncatedNormal,
    Zeros,
    module_name,
    spec_type_name,
)
from einx_typed.nn import _kit
from einx_typed.testing import SPEC_STRATEGIES, specs_with_inputs

# --- constructors ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec_type", "args", "kwargs", "expected"),
    [
        (NormSpec, ("b [s...] (g [c])",), {"g": 8}, NormSpec("b [s...] (g [c])", axes={"g": 8})),
        (
            NormSpec,
            ("[b...] c",),
            {"decay_rate": 0.9, "epsilon": 1e-3},
            NormSpec("[b...] c", decay_rate=0.9, epsilon=1e-3),
        ),
        (NormSpec, ("b... [c]", "... [c]", False), {}, NormSpec("b... [c]", "... [c]", mean=False)),
        (LinearSpec, ("b... [c1->c2]",), {"c2": 64}, LinearSpec("b... [c1->c2]", axes={"c2": 64})),
        (
            LinearSpec,
            ("b [s2->s...] c",),
            {"s": (4, 4), "bias": False},
            LinearSpec("b [s2->s...] c", False, {"s": (4, 4)}),
        ),
        (DropoutSpec, ("[...]",), {"drop_rate": 0.2}, DropoutSpec("[...]", 0.2)),
        (ActivationSpec, ("softmax", "b [c]"), {}, ActivationSpec("softmax", "b [c]")),
        (
            LinearSpec,
            (),
            {"expr": "b [c1->c2]", "axes": {"c2": 3}},
            LinearSpec("b [c1->c2]", axes={"c2": 3}),
        ),
    ],
)
def test_spec_from_arguments_follows_the_tutorial(
    spec_type: type[LayerSpec], args: tuple[Any, ...], kwargs: dict[str, Any], expected: LayerSpec
) -> None:
    assert _kit.spec_from_arguments(spec_type, args, kwargs) == expected


def test_a_spec_object_passes_through() -> None:
    spec = NormSpec("b... [c]")
    assert _kit.spec_from_arguments(NormSpec, (spec,), {}) is spec


@pytest.mark.parametrize(
    ("spec_type", "args", "kwargs", "message"),
    [
        (DropoutSpec, ("[...]", 0.2, {}, 4), {}, "at most 2 positional arguments"),
        (DropoutSpec, ("[...]", 0.2), {"drop_rate": 0.3}, "'drop_rate' twice"),
        (DropoutSpec, ("[...]",), {}, "needs the argument 'drop_rate'"),
        (ActivationSpec, ("gelu",), {"approximate": True}, "unexpected keyword argument"),
        (NormSpec, ("b... [c]",), {"g": 3}, "no expression of the layer uses"),
    ],
)
def test_bad_constructor_calls_are_spec_errors(
    spec_type: type[LayerSpec], args: tuple[Any, ...], kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(SpecError, match=message):
        _kit.spec_from_arguments(spec_type, args, kwargs)


def test_constructor_signature_keeps_the_spec_defaults() -> None:
    dtype = inspect.Parameter("dtype", inspect.Parameter.KEYWORD_ONLY, default="float32")
    signature = _kit.constructor_signature(NormSpec, [dtype])
    parameters = signature.parameters
    assert list(parameters)[:3] == ["self", "stats", "params"]
    assert parameters["stats"].default is inspect.Parameter.empty
    assert parameters["params"].default == "b... [c]"
    assert parameters["epsilon"].default == 1e-5
    assert parameters["decay_rate"].default is None
    assert parameters["dtype"].kind is inspect.Parameter.KEYWORD_ONLY
    assert parameters["axes"].kind is inspect.Parameter.VAR_KEYWORD
    assert "axes" not in _kit.constructor_signature(ActivationSpec).parameters


# --- registry ------------------------------------------------------------------------------


def test_every_registered_spec_type_has_a_name_a_strategy_and_a_config_form() -> None:
    for name, cls in SPEC_TYPES.items():
        assert spec_type_name(cls) == name
        assert module_name(cls) == cls.__name__.removesuffix("Spec")
        assert cls in SPEC_STRATEGIES, f"einx_typed.testing has no strategy for {cls.__name__}"


@given(SPEC_STRATEGIES[SequentialSpec]())
def test_registered_specs_round_trip_through_config(spec: LayerSpec) -> None:
    assert einx_typed.config.from_dict(einx_typed.config.to_dict(spec)) == spec


def test_every_registered_spec_type_has_a_torch_module() -> None:
    torch_binder = pytest.importorskip("einx_typed.nn.torch")
    for cls in SPEC_TYPES.values():
        if cls is not SequentialSpec:
            assert module_name(cls) in torch_binder._MODULES


@given(specs_with_inputs())
def test_variables_name_exactly_what_resolve_creates(
    case: tuple[LayerSpec, tuple[int, ...]],
) -> None:
    spec, shape = case
    resolved = spec.resolve(shape)
    declared = dict(spec.variables())
    assert declared == {
        **{name: True for name in resolved.params},
        **{name: False for name in resolved.state},
    }


# --- initialisers ---------------------------------------------------------------------------


def test_coerce_init() -> None:
    assert _kit.coerce_init(None, op="add") == Zeros()
    assert _kit.coerce_init(None, op="dot", in_axis=(0,)) == LecunTruncatedNormal((0,))
    assert _kit.coerce_init("multiply", op="dot") == Ones()
    assert _kit.coerce_init(0.5, op=None) == Constant(0.5)
    assert _kit.coerce_init(2, op=None) == Constant(2.0)
    assert _kit.coerce_init(Normal(0.1), op="add") == Normal(0.1)

    def custom(x: object) -> None:
        pass

    assert _kit.coerce_init(custom, op="add") is custom
    for bad, message in (
        (True, "bool"),
        ("frobnicate", "no default initialiser"),
        ([1], "init must"),
    ):
        with pytest.raises(SpecError, match=message):
            _kit.coerce_init(bad, op="add")
    with pytest.raises(SpecError, match="no default initialiser"):
        _kit.coerce_init(None, op=None)


class _Recording:
    def constant(self, value: float) -> tuple[str, float]:
        return ("constant", value)

    def normal(self, mean: float, std: float) -> tuple[str, float, float]:
        return ("normal", mean, std)

    def truncated_normal(self, mean: float, std: float) -> tuple[str, float, float]:
        return ("truncated_normal", mean, std)


def test_framework_initializer_dispatch() -> None:
    table = _Recording()
    assert _kit.framework_initializer(Zeros(), (3,), table) == ("constant", 0.0)
    assert _kit.framework_initializer(Ones(), (3,), table) == ("constant", 1.0)
    assert _kit.framework_initializer(Constant(2.5), (3,), table) == ("constant", 2.5)
    assert _kit.framework_initializer(Normal(0.02, 1.0), (3,), table) == ("normal", 1.0, 0.02)
    assert _kit.framework_initializer(TruncatedNormal(0.1), (3,), table) == (
        "truncated_normal",
        0.0,
        0.1,
    )
    lecun = LecunTruncatedNormal((0,))
    assert _kit.framework_initializer(lecun, (16, 4), table) == (
        "truncated_normal",
        0.0,
        lecun.stddev((16, 4)),
    )


# --- cache, state rule, messages -------------------------------------------------------------


def test_shape_cache_is_bounded_and_keeps_the_first_value() -> None:
    cache: _kit.ShapeCache[int, str] = _kit.ShapeCache(size=3)
    assert cache.add(1, "a") == "a"
    assert cache.add(1, "b") == "a"  # a racing second value loses
    for key in (2, 3, 4):
        cache.add(key, str(key))
    assert len(cache) == 3 and cache.entries.get(1) is None  # the oldest went


def test_shape_cache_under_threads() -> None:
    cache: _kit.ShapeCache[int, int] = _kit.ShapeCache(size=16)
    winners: list[int] = []
    barrier = threading.Barrier(8)

    def work(value: int) -> None:
        barrier.wait()
        winners.append(cache.add(0, value))
        for key in range(1, 15):
            cache.add(key, key)

    threads = [threading.Thread(target=work, args=(v,)) for v in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(winners)) == 1  # every thread got the one stored value
    assert len(cache) == 15


def test_state_rule() -> None:
    assert _kit.state_mode(True, True, has_state=True) == (True, True)
    assert _kit.state_mode(True, True, has_state=False) == (True, False)
    assert _kit.writes_state(True, False)
    assert not _kit.writes_state(True, True)
    assert not _kit.writes_state(False, False)


def test_describe_spec() -> None:
    assert _kit.describe_spec(LinearSpec("b... [c1->c2]", axes={"c2": 64})) == (
        "Linear('b... [c1->c2]', c2=64)"
    )
    assert _kit.describe_spec(NormSpec("[b...] c", decay_rate=0.9)) == (
        "Norm('[b...] c', decay_rate=0.9)"
    )
    assert _kit.describe_spec(DropoutSpec("[...]", 0.2)) == "Dropout('[...]', drop_rate=0.2)"
    assert _kit.describe_spec(SequentialSpec(["gelu"])) == "Sequential(1 layers)"


# --- keys and modes (functional binders) -------------------------------------------------


def test_reads_rng_follows_the_program_of_each_mode() -> None:
    dropout = DropoutSpec("[...]", 0.5).resolve((2, 3))
    assert _kit.reads_rng(dropout, training=True)
    assert not _kit.reads_rng(dropout, training=False)
    assert _kit.mode_matters(dropout)
    # A zero drop rate is the identity: no key is read.
    assert not _kit.reads_rng(DropoutSpec("[...]", 0.0).resolve((2, 3)), training=True)
    batchnorm = NormSpec("[b] c", decay_rate=0.9).resolve((2, 3))
    assert not _kit.reads_rng(batchnorm, training=True)
    assert not _kit.reads_rng(batchnorm, training=True, initializing=True)
    assert _kit.mode_matters(batchnorm)
    assert not _kit.mode_matters(NormSpec("b [c]").resolve((2, 3)))
    linear = LinearSpec("b [c1->c2]", axes={"c2": 4}).resolve((2, 3))
    assert not _kit.reads_rng(linear, training=True) and not _kit.mode_matters(linear)
    # One key for a whole sequential model, split per item only where an item reads it.
    mixed = SequentialSpec([LinearSpec("b [c1->c2]", axes={"c2": 4}), DropoutSpec("[...]", 0.1)])
    assert _kit.reads_rng(mixed.resolve((2, 3)), training=True, initializing=True)
    assert not _kit.reads_rng(mixed.resolve((2, 3)), training=False)
    plain = SequentialSpec([LinearSpec("b [c1->c2]", axes={"c2": 4}), "gelu"]).resolve((2, 3))
    assert not _kit.mode_matters(plain)
    program = mixed.resolve((2, 3)).program(training=True, initializing=False)
    assert program.reads("rng") and program.reads("x") and not program.reads("no such group")


def test_random_init_tells_which_initialisers_draw() -> None:
    assert not any(_kit.random_init(init) for init in (Zeros(), Ones(), Constant(0.5)))
    drawn = (Normal(1.0), TruncatedNormal(0.02), LecunTruncatedNormal((0,)))
    assert all(_kit.random_init(init) for init in drawn)
    assert {type(i) for i in (Zeros(), Ones(), Constant(0.5), *drawn)} == set(_kit.INIT_SPEC_TYPES)
