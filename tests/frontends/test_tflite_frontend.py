"""TFLite frontend: import of int8 .tflite files (parameters kept as stored) and bad input.

The small models are Keras models converted by the TFLite converter with full-integer
quantization; tests/e2e/test_tflite_tflm.py checks them against TFLite Micro.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
import pytest

from edgeq.compare import tflite_full_integer
from edgeq.errors import EdgeqError, UnsupportedError
from edgeq.frontends.load import load_file

pytest.importorskip("tflite")
MLPERF = Path(__file__).resolve().parents[3] / "shared" / "models" / "mlperf_tiny"


def _tf():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return pytest.importorskip("tensorflow")


def convert(model, shape: tuple[int, ...], quantize: bool = True, float_io: bool = False, seed: int = 0) -> bytes:
    """A Keras model as .tflite bytes: full-integer int8 (int8 input/output unless float_io)."""
    tf = _tf()
    rng = np.random.default_rng(seed)

    def representative():
        for _ in range(16):
            yield [rng.normal(size=(1, *shape)).astype(np.float32)]

    if quantize:
        return tflite_full_integer(model, representative, int8_io=not float_io)
    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def edit(content: bytes, fn) -> bytes:
    """Apply `fn` to the flatbuffer's object tree (TensorFlow's flatbuffer_utils)."""
    from tensorflow.lite.tools import flatbuffer_utils

    fb = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    fn(fb)
    return bytes(flatbuffer_utils.convert_object_to_bytearray(fb))


def small_conv(keras, batch_size: int | None = 1):
    keras.utils.set_random_seed(3)
    x = keras.Input((8, 8, 3), batch_size=batch_size)
    y = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(x)
    y = keras.layers.GlobalAveragePooling2D()(y)
    return keras.Model(x, keras.layers.Dense(3)(y)), (8, 8, 3)


@functools.cache
def small_conv_tflite(quantize: bool = True, float_io: bool = False) -> bytes:
    model, shape = small_conv(_tf().keras)
    return convert(model, shape, quantize=quantize, float_io=float_io)


def _write(tmp_path: Path, content: bytes, name: str = "model.tflite") -> Path:
    p = tmp_path / name
    p.write_bytes(content)
    return p


# -- import -----------------------------------------------------------------------------------------


def test_parameters_are_kept_as_stored(tmp_path: Path) -> None:
    tf = _tf()
    content = small_conv_tflite()
    g = load_file(_write(tmp_path, content)).graph
    assert [n.kind for n in g.nodes] == ["conv2d", "mean", "fully_connected"]
    assert g.nodes[0].source.startswith("op 0 CONV_2D (output '")
    interp = tf.lite.Interpreter(model_content=content)
    details = {d["name"].split(";")[0]: d for d in interp.get_tensor_details()}
    conv = g.nodes[0]
    w = g.tensors[conv.inputs[1]]
    assert w.dtype.value == "int8" and w.quant.axis == 0 and w.quant.scale.shape == (4,)
    ref = next(d for d in details.values() if tuple(d["shape"]) == (4, 3, 3, 3))
    np.testing.assert_array_equal(w.quant.scale, ref["quantization_parameters"]["scales"].astype(np.float64))
    np.testing.assert_array_equal(w.data, interp.get_tensor(ref["index"]))
    b = g.tensors[conv.inputs[2]]
    assert b.dtype.value == "int32" and b.data.shape == (4,)
    i = interp.get_input_details()[0]
    assert g.tensors[g.inputs[0]].quant.s == pytest.approx(i["quantization"][0], rel=0, abs=0)
    assert g.tensors[g.inputs[0]].quant.zp == i["quantization"][1]
    fc = g.nodes[2]
    assert g.tensors[fc.inputs[1]].shape == (3, 4)


def test_float_edges_are_stripped(tmp_path: Path) -> None:
    """QUANTIZE at the input and DEQUANTIZE at the output go; the graph is the int8 part."""
    int8_graph = load_file(_write(tmp_path, small_conv_tflite(), "a.tflite")).graph
    g = load_file(_write(tmp_path, small_conv_tflite(float_io=True), "b.tflite")).graph
    assert [n.kind for n in g.nodes] == [n.kind for n in int8_graph.nodes]
    for a, b in [(g.inputs[0], int8_graph.inputs[0]), (g.outputs[0], int8_graph.outputs[0])]:
        assert g.tensors[a].dtype.value == "int8"
        assert g.tensors[a].quant.s == pytest.approx(int8_graph.tensors[b].quant.s, rel=1e-6)


@pytest.mark.skipif(not (MLPERF / "vww_96_int8.tflite").is_file(), reason="MLPerf Tiny models not present")
def test_mlperf_models_import() -> None:
    kinds = {f: [n.kind for n in load_file(MLPERF / f"{f}.tflite").graph.nodes]
             for f in ("vww_96_int8", "pretrainedResnet_quant", "ad01_int8")}
    assert kinds["ad01_int8"] == ["fully_connected"] * 10
    assert kinds["pretrainedResnet_quant"].count("add") == 3
    assert kinds["vww_96_int8"].count("depthwise_conv2d") == 13


# -- bad input: one line from the CLI, exit 1, nothing written --------------------------------------


def _cli_error(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    from edgeq.cli import main

    out = tmp_path / "out"
    code = main(["build", str(path), "--board", "native", "-o", str(out)])
    err = capsys.readouterr().err.strip()
    assert code == 1, err
    assert err.startswith("edgeq: error: ") and "\n" not in err and "Traceback" not in err, err
    assert not out.exists()
    return err


def test_unsupported_operator_is_named_with_its_index(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    tf = _tf()
    keras = tf.keras
    keras.utils.set_random_seed(4)
    x = keras.Input((8,), batch_size=1)
    a, b = keras.layers.Dense(4)(x), keras.layers.Dense(4)(x)
    y = keras.layers.Lambda(lambda t: tf.math.squared_difference(t[0], t[1]))([a, b])
    content = convert(keras.Model(x, keras.layers.Dense(2)(y)), (8,))
    interp = tf.lite.Interpreter(model_content=content)
    index = [d["op_name"] for d in interp._get_ops_details()].index("SQUARED_DIFFERENCE")
    err = _cli_error(_write(tmp_path, content), tmp_path, capsys)
    assert f"operator {index} (SQUARED_DIFFERENCE)" in err
    with pytest.raises(UnsupportedError, match=r"operator \d+ \(SQUARED_DIFFERENCE\) is not supported"):
        load_file(tmp_path / "model.tflite")


@pytest.mark.parametrize("cut", [200, 0.5, 0.97])
def test_truncated_file(cut: float, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = small_conv_tflite()
    n = int(cut) if cut > 1 else int(len(content) * cut)
    err = _cli_error(_write(tmp_path, content[:n]), tmp_path, capsys)
    assert "truncated or corrupt" in err


@pytest.mark.parametrize("content", [b"", b"hello world, not a flatbuffer\n" * 4, bytes(range(256)) * 8])
def test_not_a_flatbuffer(content: bytes, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _cli_error(_write(tmp_path, content), tmp_path, capsys)
    assert "not a TFLite flatbuffer" in err


def test_float_model_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    err = _cli_error(_write(tmp_path, small_conv_tflite(quantize=False)), tmp_path, capsys)
    assert "float" in err and "full-integer quantization" in err and "calibration data" in err


def test_several_subgraphs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import copy

    content = edit(small_conv_tflite(), lambda fb: fb.subgraphs.append(copy.deepcopy(fb.subgraphs[0])))
    err = _cli_error(_write(tmp_path, content), tmp_path, capsys)
    assert "2 subgraphs" in err


def test_dynamic_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def dynamic(fb):
        sg = fb.subgraphs[0]
        t = sg.tensors[sg.inputs[0]]
        t.shapeSignature = np.array([1, -1, -1, 3], np.int32)

    err = _cli_error(_write(tmp_path, edit(small_conv_tflite(), dynamic)), tmp_path, capsys)
    assert "dynamic shape" in err


def test_errors_are_edgeq_errors(tmp_path: Path) -> None:
    with pytest.raises(EdgeqError, match="not a TFLite flatbuffer"):
        load_file(_write(tmp_path, b"TFL"))
