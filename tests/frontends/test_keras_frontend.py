"""The Keras frontend: every supported layer converts and its float IR matches Keras."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
keras = pytest.importorskip("keras")

from edgeq.errors import EdgeqError, UnsupportedError  # noqa: E402
from edgeq.frontends.keras_frontend import SUPPORTED, _load_model, from_keras, load_keras_file  # noqa: E402
from edgeq.interpreter import run_float  # noqa: E402
from edgeq.ir.graph import Graph  # noqa: E402
from edgeq.ir.verify import verify  # noqa: E402

pytestmark = pytest.mark.keras

L = keras.layers
MLPERF = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"
if not MLPERF.is_dir():
    MLPERF = Path("/work/shared/models/mlperf_tiny")


# -- helpers -------------------------------------------------------------------------------


def randomize(model: Any, seed: int = 0) -> Any:
    """Give every weight random values (positive ones for variances) so biases and stats matter."""
    rng = np.random.default_rng(seed)
    for w in model.weights:
        shape = tuple(w.shape)
        if "variance" in w.path:
            w.assign(rng.uniform(0.5, 2.0, shape).astype(np.float32))
        elif "gamma" in w.path:
            w.assign(rng.uniform(0.5, 1.5, shape).astype(np.float32))
        else:
            w.assign((rng.standard_normal(shape) * 0.3).astype(np.float32))
    return model


def sample(shape: tuple[int, ...], seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((1, *shape)).astype(np.float32)


def keras_outputs(model: Any, xs: list[np.ndarray]) -> list[np.ndarray]:
    with warnings.catch_warnings():  # legacy .h5 models expect their inputs as a list
        warnings.simplefilter("ignore")
        out = model(xs if len(xs) > 1 else xs[0], training=False)
    outs = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(o) for o in outs]


def check_matches(model: Any, xs: np.ndarray | list[np.ndarray], rtol: float = 1e-4, atol: float = 1e-4) -> Graph:
    """Convert `model`, verify the graph, and compare the float IR with Keras on `xs`."""
    xs = xs if isinstance(xs, list) else [xs]
    graph = from_keras(model)
    verify(graph)
    assert graph.input_layout == "NHWC"
    for node in graph.nodes:
        assert re.fullmatch(r".+ \(\w+\)", node.source), node.source
    got = run_float(graph, xs)
    want = keras_outputs(model, xs)
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=rtol, atol=atol)
    return graph


def seq(input_shape: tuple[int, ...], *layers: Any) -> Any:
    return randomize(keras.Sequential([keras.Input(input_shape), *layers]))


def kinds(graph: Graph) -> list[str]:
    return [n.kind for n in graph.nodes]


# -- single layers -------------------------------------------------------------------------

IMG = (9, 11, 3)  # odd sizes: 'same' padding with stride 2 is asymmetric

CASES: dict[str, Callable[[], Any]] = {
    "conv_valid": lambda: seq(IMG, L.Conv2D(4, 3)),
    "conv_same": lambda: seq(IMG, L.Conv2D(4, 3, padding="same")),
    "conv_same_stride2": lambda: seq(IMG, L.Conv2D(4, 3, strides=2, padding="same")),
    "conv_valid_stride2_rect": lambda: seq(IMG, L.Conv2D(5, (3, 2), strides=(2, 1))),
    "conv_same_even_kernel": lambda: seq(IMG, L.Conv2D(4, 4, strides=2, padding="same")),
    "conv_dilation": lambda: seq(IMG, L.Conv2D(4, 3, dilation_rate=2, padding="same")),
    "conv_dilation_valid": lambda: seq(IMG, L.Conv2D(4, 3, dilation_rate=(2, 1))),
    "conv_no_bias": lambda: seq(IMG, L.Conv2D(4, 3, use_bias=False)),
    "conv_1x1": lambda: seq(IMG, L.Conv2D(6, 1)),
    "conv_relu": lambda: seq(IMG, L.Conv2D(4, 3, activation="relu")),
    "conv_relu6": lambda: seq(IMG, L.Conv2D(4, 3, activation="relu6")),
    "conv_sigmoid": lambda: seq(IMG, L.Conv2D(4, 3, activation="sigmoid")),
    "conv_tanh": lambda: seq(IMG, L.Conv2D(4, 3, activation="tanh")),
    "conv_softmax": lambda: seq(IMG, L.Conv2D(4, 3, activation="softmax")),
    "depthwise_valid": lambda: seq(IMG, L.DepthwiseConv2D(3)),
    "depthwise_same_stride2": lambda: seq(IMG, L.DepthwiseConv2D(3, strides=2, padding="same")),
    "depthwise_multiplier2": lambda: seq(IMG, L.DepthwiseConv2D(3, depth_multiplier=2, padding="same")),
    "depthwise_dilation": lambda: seq(IMG, L.DepthwiseConv2D(3, dilation_rate=2)),
    "depthwise_relu6_no_bias": lambda: seq(IMG, L.DepthwiseConv2D(3, activation="relu6", use_bias=False)),
    "separable_same": lambda: seq(IMG, L.SeparableConv2D(4, 3, padding="same")),
    "separable_dm2_stride2_relu": lambda: seq(
        IMG, L.SeparableConv2D(5, 3, strides=2, depth_multiplier=2, padding="same", activation="relu")),
    "separable_dilation": lambda: seq(IMG, L.SeparableConv2D(4, 3, dilation_rate=2, padding="same")),
    "separable_no_bias_tanh": lambda: seq(IMG, L.SeparableConv2D(4, 3, use_bias=False, activation="tanh")),
    "dense": lambda: seq((7,), L.Dense(5)),
    "dense_relu": lambda: seq((7,), L.Dense(5, activation="relu")),
    "dense_softmax": lambda: seq((7,), L.Dense(5, activation="softmax")),
    "dense_sigmoid_no_bias": lambda: seq((7,), L.Dense(5, activation="sigmoid", use_bias=False)),
    "dense_rank3": lambda: seq((4, 7), L.Dense(5)),
    "flatten_dense": lambda: seq(IMG, L.Flatten(), L.Dense(6)),
    "bn_conv": lambda: seq(IMG, L.Conv2D(4, 3), L.BatchNormalization()),
    "bn_no_center": lambda: seq(IMG, L.Conv2D(4, 3), L.BatchNormalization(center=False)),
    "bn_no_scale": lambda: seq(IMG, L.Conv2D(4, 3), L.BatchNormalization(scale=False, epsilon=0.01)),
    "bn_neither": lambda: seq(IMG, L.Conv2D(4, 3), L.BatchNormalization(center=False, scale=False)),
    "bn_dense": lambda: seq((7,), L.Dense(5), L.BatchNormalization()),
    "act_relu": lambda: seq(IMG, L.Activation("relu")),
    "act_relu6": lambda: seq(IMG, L.Activation("relu6")),
    "act_linear": lambda: seq(IMG, L.Activation("linear")),
    "act_sigmoid": lambda: seq(IMG, L.Activation("sigmoid")),
    "act_tanh": lambda: seq(IMG, L.Activation("tanh")),
    "act_softmax": lambda: seq((7,), L.Activation("softmax")),
    "relu_layer": lambda: seq(IMG, L.ReLU()),
    "relu_max_value": lambda: seq(IMG, L.ReLU(max_value=0.5)),
    "softmax_layer": lambda: seq(IMG, L.Softmax()),
    "maxpool_valid": lambda: seq(IMG, L.MaxPooling2D()),
    "maxpool_same_stride1": lambda: seq(IMG, L.MaxPooling2D(3, strides=1, padding="same")),
    "maxpool_same_stride2": lambda: seq(IMG, L.MaxPooling2D(3, strides=2, padding="same")),
    "avgpool_valid": lambda: seq(IMG, L.AveragePooling2D((3, 2))),
    "avgpool_same": lambda: seq(IMG, L.AveragePooling2D(2, padding="same")),
    "avgpool_same_stride1": lambda: seq(IMG, L.AveragePooling2D(3, strides=1, padding="same")),
    "gap": lambda: seq(IMG, L.GlobalAveragePooling2D()),
    "gap_keepdims": lambda: seq(IMG, L.GlobalAveragePooling2D(keepdims=True)),
    "gmp": lambda: seq(IMG, L.GlobalMaxPooling2D()),
    "gmp_keepdims": lambda: seq(IMG, L.GlobalMaxPooling2D(keepdims=True)),
    "flatten": lambda: seq(IMG, L.Flatten()),
    "reshape": lambda: seq(IMG, L.Reshape((11, 9, 3))),
    "reshape_minus_one": lambda: seq(IMG, L.Reshape((-1, 3))),
    "permute": lambda: seq(IMG, L.Permute((2, 1, 3))),
    "zero_padding_asymmetric": lambda: seq(IMG, L.ZeroPadding2D(((1, 2), (0, 3)))),
    "zero_padding_int": lambda: seq(IMG, L.ZeroPadding2D(1), L.Conv2D(4, 3)),
    "dropout": lambda: seq(IMG, L.Conv2D(4, 3), L.Dropout(0.5)),
    "spatial_dropout": lambda: seq(IMG, L.SpatialDropout2D(0.5), L.Conv2D(4, 3)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_layer_matches_keras(case: str) -> None:
    model = CASES[case]()
    check_matches(model, 4 * sample(tuple(model.inputs[0].shape[1:])))  # x4: relu6 and friends clamp


def test_relu6_activation_layer() -> None:
    model = seq(IMG, L.Conv2D(4, 3), L.Activation("relu6"))
    x = sample(IMG) * 10  # reach the upper clamp
    graph = check_matches(model, x)
    assert kinds(graph) == ["conv2d", "clamp"]


def test_weight_layouts_and_activations_are_split_as_documented() -> None:
    model = seq(IMG, L.SeparableConv2D(5, 3, depth_multiplier=2, activation="sigmoid"),
                L.DepthwiseConv2D(3, activation="relu"), L.Flatten(), L.Dense(3, activation="relu6"))
    graph = check_matches(model, sample(IMG))
    assert kinds(graph) == ["depthwise_conv2d", "conv2d", "logistic", "depthwise_conv2d", "reshape",
                            "fully_connected"]
    dw, pw, _, dw2, _, fc = graph.nodes
    assert graph.tensors[dw.inputs[1]].shape == (1, 3, 3, 6)
    assert not graph.tensors[dw.inputs[2]].data.any()  # the bias moves to the pointwise conv
    assert graph.tensors[pw.inputs[1]].shape == (5, 1, 1, 6)
    assert pw.op.activation.is_none and dw2.op.activation.hi is None and dw2.op.activation.lo == 0.0
    assert graph.tensors[fc.inputs[1]].shape == (3, 5 * 7 * 5) and fc.op.activation.hi == 6.0


def test_batch_norm_emits_batch_norm_op() -> None:
    model = seq(IMG, L.Conv2D(4, 3), L.BatchNormalization(center=False))
    graph = check_matches(model, sample(IMG))
    assert kinds(graph) == ["conv2d", "batch_norm"]


def test_global_average_pool_shapes() -> None:
    graph = from_keras(seq(IMG, L.GlobalAveragePooling2D()))
    assert kinds(graph) == ["avg_pool2d", "reshape"]
    assert graph.tensors[graph.outputs[0]].shape == (1, 3)
    graph = from_keras(seq(IMG, L.GlobalAveragePooling2D(keepdims=True)))
    assert kinds(graph) == ["avg_pool2d"]
    assert graph.tensors[graph.outputs[0]].shape == (1, 1, 1, 3)


# -- merges and graphs ---------------------------------------------------------------------


def test_residual_functional_model() -> None:
    x = keras.Input((8, 8, 4), name="image")
    y = L.Conv2D(8, 3, padding="same", name="c1")(x)
    y = L.BatchNormalization(name="bn1")(y)
    y = L.Activation("relu", name="r1")(y)
    y = L.Conv2D(8, 3, padding="same", name="c2")(y)
    shortcut = L.Conv2D(8, 1, name="proj")(x)
    y = L.Add(name="sum")([y, shortcut])
    y = L.ReLU(name="r2")(y)
    y = L.GlobalAveragePooling2D(name="gap")(y)
    y = L.Dense(3, activation="softmax", name="head")(y)
    model = randomize(keras.Model(x, y))
    graph = check_matches(model, sample((8, 8, 4)))
    assert graph.tensors[graph.inputs[0]].shape == (1, 8, 8, 4)
    assert "add" in kinds(graph) and kinds(graph)[-1] == "softmax"
    assert any(n.source == "sum (Add)" for n in graph.nodes)


def test_add_three_inputs_multiply_and_concatenate() -> None:
    x = keras.Input((6, 6, 2))
    a = L.Conv2D(4, 1)(x)
    b = L.Conv2D(4, 1)(x)
    c = L.Conv2D(4, 1)(x)
    s = L.Add()([a, b, c])
    m = L.Multiply()([a, b])
    cat = L.Concatenate()([s, m, x])
    cat1 = L.Concatenate(axis=1)([a, b])
    model = randomize(keras.Model(x, [cat, cat1]))
    graph = check_matches(model, sample((6, 6, 2)))
    assert kinds(graph).count("add") == 2 and kinds(graph).count("concat") == 2


def test_multiple_inputs_and_outputs() -> None:
    a = keras.Input((5,), name="a")
    b = keras.Input((5,), name="b")
    y = L.Add()([L.Dense(5)(a), b])
    model = randomize(keras.Model([a, b], [y, L.Dense(2)(y)]))
    graph = check_matches(model, [sample((5,)), sample((5,), seed=2)])
    assert len(graph.inputs) == 2 and len(graph.outputs) == 2


def test_nested_models_are_flattened() -> None:
    block = keras.Sequential([keras.Input((6, 6, 3)), L.Conv2D(4, 3, padding="same"), L.ReLU()], name="block")
    x = keras.Input((6, 6, 3))
    inner_in = keras.Input((6, 6, 4))
    inner = keras.Model(inner_in, L.Add()([inner_in, L.Conv2D(4, 1)(inner_in)]), name="inner")
    y = inner(block(x))
    y = inner(y)  # a shared nested model, applied twice
    model = randomize(keras.Model(x, L.Flatten()(y)))
    graph = check_matches(model, sample((6, 6, 3)))
    assert kinds(graph).count("add") == 2


def test_layers_map_by_class_not_by_name() -> None:
    class MyDense(L.Dense):
        pass

    model = seq((4,), L.Dense(3, name="conv2d"), MyDense(2, name="lstm"))
    graph = check_matches(model, sample((4,)))
    assert kinds(graph) == ["fully_connected", "fully_connected"]
    assert graph.nodes[1].source == "lstm (MyDense)"


def test_awkward_layer_names() -> None:
    model = seq((4,), L.Dense(3, name="a'b\"c\nd *"), L.Dense(2, name="x\ty"))
    graph = check_matches(model, sample((4,)))
    for node in graph.nodes:
        assert "\n" not in node.source and "\t" not in node.source
        assert all(re.fullmatch(r"\w+", t) for t in node.inputs + node.outputs)


def test_built_sequential_without_input() -> None:
    model = keras.Sequential([L.Dense(3)])
    model.build((None, 4))
    check_matches(randomize(model), sample((4,)))


# -- errors --------------------------------------------------------------------------------


def assert_one_line(err: pytest.ExceptionInfo[Exception], *parts: str) -> None:
    msg = str(err.value)
    assert "\n" not in msg
    for part in parts:
        assert part in msg, msg


def test_unsupported_layer_lstm() -> None:
    model = keras.Sequential([keras.Input((5, 4)), L.LSTM(3, name="lstm_1"), L.Dense(2)])
    with pytest.raises(UnsupportedError) as err:
        from_keras(model)
    assert_one_line(err, "'lstm_1'", "(LSTM)", "edgeq ops")


def test_unsupported_layer_is_found_before_building() -> None:
    model = keras.Sequential([keras.Input((6, 6, 3)), L.Conv2D(2, 3), L.Flatten(),
                              L.LayerNormalization(name="ln\nx")])
    with pytest.raises(UnsupportedError) as err:
        from_keras(model)
    assert_one_line(err, "ln\\nx", "(LayerNormalization)")


def test_keras_ops_on_symbolic_tensors_are_unsupported() -> None:
    x = keras.Input((4,))
    with pytest.raises(UnsupportedError) as err:
        from_keras(keras.Model(x, L.Dense(2)(x) * 2.0))
    assert_one_line(err, "keras.ops Multiply", "keras.layers")


@pytest.mark.parametrize(("layer", "parts"), [
    (lambda: L.Dense(3, activation="gelu", name="d"), ("'d'", "(Dense)", "activation", "gelu")),
    (lambda: L.Conv2D(6, 3, groups=3, name="g"), ("'g'", "groups=3")),
    (lambda: L.Conv2D(2, 3, data_format="channels_first", name="cf"), ("'cf'", "channels_first")),
    (lambda: L.ReLU(negative_slope=0.1, name="leaky"), ("'leaky'", "negative_slope")),
    (lambda: L.ReLU(threshold=0.5, name="thr"), ("'thr'", "threshold")),
    (lambda: L.Softmax(axis=1, name="sm"), ("'sm'", "axis")),
    (lambda: L.BatchNormalization(axis=1, name="bn"), ("'bn'", "axis")),
    (lambda: L.Activation("elu", name="el"), ("'el'", "elu")),
], ids=["gelu", "groups", "channels_first", "negative_slope", "threshold", "softmax_axis", "bn_axis", "elu"])
def test_unsupported_arguments(layer: Callable[[], Any], parts: tuple[str, ...]) -> None:
    model = keras.Sequential([keras.Input((6, 6, 3)), layer()])
    with pytest.raises(UnsupportedError) as err:
        from_keras(model)
    assert_one_line(err, *parts)


def test_broadcasting_add_is_unsupported() -> None:
    a, b = keras.Input((4, 4, 3)), keras.Input((1, 1, 3))
    model = keras.Model([a, b], L.Add(name="bcast")([a, b]))
    with pytest.raises(UnsupportedError) as err:
        from_keras(model)
    assert_one_line(err, "'bcast'", "broadcasting")


def test_dynamic_input_shape() -> None:
    x = keras.Input((None, None, 3), name="frames")
    model = keras.Model(x, L.Conv2D(2, 3)(x))
    with pytest.raises(EdgeqError) as err:
        from_keras(model)
    assert_one_line(err, "'frames'", "dynamic")


def test_unbuilt_sequential() -> None:
    with pytest.raises(EdgeqError) as err:
        from_keras(keras.Sequential([L.Dense(3)]))
    assert_one_line(err, "input shape")


def test_imports_without_keras(tmp_path: Path) -> None:
    code = (
        "import sys; sys.modules['keras'] = None; sys.modules['tensorflow'] = None\n"
        "from edgeq.errors import EdgeqError\n"
        "from edgeq.frontends.keras_frontend import SUPPORTED, load_keras_file\n"
        "assert SUPPORTED\n"
        f"open({str(tmp_path / 'm.h5')!r}, 'wb').write(b'\\x89HDF\\r\\n\\x1a\\n')\n"
        "try:\n"
        f"    load_keras_file({str(tmp_path / 'm.h5')!r})\n"
        "except EdgeqError as e:\n"
        "    print(e)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[2])
    assert done.returncode == 0, done.stderr
    assert "pip install 'edgeq[tensorflow]'" in done.stdout


def test_supported_table() -> None:
    assert SUPPORTED and all(isinstance(a, str) and isinstance(b, str) for a, b in SUPPORTED)
    names = " ".join(a for a, _ in SUPPORTED)
    for layer in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D", "Dense", "BatchNormalization", "ReLU",
                  "GlobalAveragePooling2D", "ZeroPadding2D", "Concatenate", "Dropout", "Softmax"):
        assert layer in names


# -- files ---------------------------------------------------------------------------------


def small_model() -> Any:
    x = keras.Input((8, 8, 3))
    y = L.Conv2D(4, 3, padding="same", activation="relu")(x)
    y = L.DepthwiseConv2D(3, strides=2, padding="same")(y)
    y = L.BatchNormalization()(y)
    y = L.Add()([y, L.Conv2D(4, 1, strides=2)(x)])
    y = L.GlobalAveragePooling2D()(y)
    return randomize(keras.Model(x, L.Dense(2, activation="softmax")(y), name="small"))


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_file_round_trip(tmp_path: Path, suffix: str) -> None:
    model = small_model()
    path = tmp_path / f"m{suffix}"
    model.save(path)
    graph = load_keras_file(path)
    verify(graph)
    assert graph.name == "m"
    x = sample((8, 8, 3))
    np.testing.assert_allclose(run_float(graph, [x])[0], keras_outputs(model, [x])[0], rtol=1e-4, atol=1e-5)
    assert load_keras_file(str(path), name="other").name == "other"


def test_sequential_h5_round_trip(tmp_path: Path) -> None:
    model = seq(IMG, L.Conv2D(4, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(), L.Dense(3))
    model.save(tmp_path / "s.h5")
    graph = load_keras_file(tmp_path / "s.h5")
    x = sample(IMG)
    np.testing.assert_allclose(run_float(graph, [x])[0], keras_outputs(model, [x])[0], rtol=1e-4, atol=1e-5)


def test_legacy_h5_with_unknown_config_keys(tmp_path: Path) -> None:
    """Keras 2 configs carry keys Keras 3 rejects (DepthwiseConv2D `groups`): they are dropped, generically."""
    h5py = pytest.importorskip("h5py")
    model = small_model()
    path = tmp_path / "legacy.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:
        config = json.loads(f.attrs["model_config"])
        for layer in config["config"]["layers"]:
            if layer["class_name"] in ("DepthwiseConv2D", "Dense"):
                layer["config"]["groups"] = 1
                layer["config"]["legacy_only_option"] = "x"
        f.attrs["model_config"] = json.dumps(config)
    graph = load_keras_file(path)
    verify(graph)
    dropped = graph.meta["legacy_config_dropped"]
    assert "DepthwiseConv2D.groups" in dropped and "Dense.legacy_only_option" in dropped
    x = sample((8, 8, 3))
    np.testing.assert_allclose(run_float(graph, [x])[0], keras_outputs(model, [x])[0], rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("suffix", [".keras", ".h5"])
def test_truncated_file(tmp_path: Path, suffix: str) -> None:
    good = tmp_path / f"good{suffix}"
    small_model().save(good)
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(EdgeqError) as err:
        load_keras_file(bad)
    assert_one_line(err, str(bad))


@pytest.mark.parametrize(("filename", "content", "words"), [
    ("missing.h5", None, "no such file"),
    ("empty.keras", b"", "empty"),
    ("noise.h5", b"this is not a model at all", "HDF5"),
    ("noise.keras", b"\x00\x01garbage", "zip"),
    ("model.txt", b"hello", ".keras or .h5"),
])
def test_not_a_model_file(tmp_path: Path, filename: str, content: bytes | None, words: str) -> None:
    path = tmp_path / filename
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(EdgeqError) as err:
        load_keras_file(path)
    assert_one_line(err, str(path), words)


def test_weights_only_h5(tmp_path: Path) -> None:
    path = tmp_path / "only.weights.h5"
    small_model().save_weights(path)
    with pytest.raises(EdgeqError) as err:
        load_keras_file(path)
    assert_one_line(err, str(path), "no model")


# -- MLPerf Tiny reference models ------------------------------------------------------------


@pytest.mark.parametrize(("filename", "shape"), [
    ("vww_96.h5", (96, 96, 3)),
    ("pretrainedResnet.h5", (32, 32, 3)),
    ("ad01.h5", (640,)),
])
def test_mlperf_tiny_models(filename: str, shape: tuple[int, ...]) -> None:
    path = MLPERF / filename
    if not path.exists():
        pytest.skip(f"{path} not available")
    graph = load_keras_file(path)
    verify(graph)
    assert graph.tensors[graph.inputs[0]].shape == (1, *shape)
    x = np.random.default_rng(0).random((1, *shape)).astype(np.float32)
    model, _ = _load_model(path)
    np.testing.assert_allclose(run_float(graph, [x])[0], keras_outputs(model, [x])[0], rtol=1e-4, atol=1e-4)
