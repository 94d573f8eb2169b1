"""Compare edgeq's post-training quantization with the TFLite converter's on the same model.

Trains the Keras digits model (scikit-learn's bundled 8x8 digits, `edgeq.examples.digits`),
quantizes it twice on the same calibration samples, with edgeq (its observer, default
minmax) and with the TFLite converter (full-integer int8, those samples as the representative
dataset), and prints the held-out accuracy of the float model, edgeq's int8 numpy reference and
the TFLite int8 model run by TensorFlow Lite's interpreter:

    python -m edgeq.compare [--epochs 20] [--calib 200] [--observer minmax] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from edgeq.errors import EdgeqError, run_main


def _edgeq_int8_scores(model: Any, x_calib: np.ndarray, x_test: np.ndarray, observer: str) -> np.ndarray:
    from edgeq.data import batches
    from edgeq.frontends.keras_frontend import from_keras
    from edgeq.interpreter import run_int8
    from edgeq.passes import run_passes
    from edgeq.quant.quantize import quantize_graph

    graph = run_passes(from_keras(model))
    q = quantize_graph(graph, batches(x_calib.astype(np.float32)), observer)
    qin = q.tensors[q.inputs[0]].quant
    qout = q.tensors[q.outputs[0]].quant
    assert qin is not None and qout is not None
    y = run_int8(q, [qin.quantize(x_test)])[0]
    return qout.dequantize(y).reshape(len(x_test), -1)


def tflite_full_integer(model: Any, representative: Callable[[], Iterator[list[np.ndarray]]],
                        int8_io: bool = True) -> bytes:
    """The TFLite converter's full-integer int8 quantization of a Keras model (int8 input and
    output unless `int8_io` is False): the model edgeq is compared with, and the tests' oracle."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    if int8_io:
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


def _tflite_int8_scores(model: Any, x_calib: np.ndarray, x_test: np.ndarray) -> np.ndarray:
    import tensorflow as tf

    def representative() -> Any:
        for sample in x_calib:
            yield [sample[None].astype(np.float32)]

    flatbuffer = tflite_full_integer(model, representative)
    with warnings.catch_warnings():  # tf.lite.Interpreter announces its move to ai_edge_litert
        warnings.simplefilter("ignore")
        interpreter = tf.lite.Interpreter(model_content=flatbuffer)
    interpreter.allocate_tensors()
    inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
    s_in, zp_in = inp["quantization"]
    s_out, zp_out = out["quantization"]
    scores = []
    for sample in x_test:
        q = np.clip(np.round(sample[None] / s_in) + zp_in, -128, 127).astype(np.int8)
        interpreter.set_tensor(inp["index"], q)
        interpreter.invoke()
        y = interpreter.get_tensor(out["index"]).astype(np.float32)
        scores.append((y - zp_out) * s_out)
    return np.concatenate(scores).reshape(len(x_test), -1)


def _accuracy(scores: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(np.argmax(scores, axis=1) == labels))


def compare_quantizers(epochs: int = 20, calib_samples: int = 200, observer: str = "minmax",
                       seed: int = 0) -> dict[str, Any]:
    """Train the Keras digits model and measure float, edgeq int8 and TFLite int8 accuracy.

    Returns {"samples", "calibration_samples", "observer", "accuracy": {"float", "edgeq_int8",
    "tflite_int8"}, "agreement": {"edgeq_vs_float", "tflite_vs_float"}} (fractions in [0, 1]).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        raise EdgeqError("the comparison needs TensorFlow: pip install 'edgeq[tensorflow]'") from None
    from edgeq.examples.digits import load_digits_nhwc, train_keras

    data = load_digits_nhwc(seed)
    model = train_keras(data, epochs=epochs, seed=seed)
    x_calib = data.x_train[:calib_samples]
    x_test, y_test = data.x_test, data.y_test
    float_scores = np.asarray(model.predict(x_test, verbose=0)).reshape(len(x_test), -1)
    edgeq_scores = _edgeq_int8_scores(model, x_calib, x_test, observer)
    tflite_scores = _tflite_int8_scores(model, x_calib, x_test)
    float_pred = np.argmax(float_scores, axis=1)
    return {
        "samples": len(x_test),
        "calibration_samples": len(x_calib),
        "observer": observer,
        "accuracy": {"float": _accuracy(float_scores, y_test), "edgeq_int8": _accuracy(edgeq_scores, y_test),
                     "tflite_int8": _accuracy(tflite_scores, y_test)},
        "agreement": {"edgeq_vs_float": float(np.mean(np.argmax(edgeq_scores, axis=1) == float_pred)),
                      "tflite_vs_float": float(np.mean(np.argmax(tflite_scores, axis=1) == float_pred))},
    }


def format_table(result: dict[str, Any]) -> str:
    acc, agree = result["accuracy"], result["agreement"]
    rows = [("float (Keras)", acc["float"], None),
            (f"edgeq int8 ({result['observer']}, numpy reference)", acc["edgeq_int8"], agree["edgeq_vs_float"]),
            ("TFLite int8 (converter, tf.lite.Interpreter)", acc["tflite_int8"], agree["tflite_vs_float"])]
    width = max(len(r[0]) for r in rows)
    lines = [f"Keras digits CNN: {result['samples']} held-out samples, "
             f"{result['calibration_samples']} calibration samples",
             f"{'model':<{width}}  accuracy  top-1 agreement with float",
             f"{'-' * width}  --------  ---------------------------"]
    for label, a, g in rows:
        lines.append(f"{label:<{width}}  {100 * a:7.2f}%  {'' if g is None else f'{100 * g:.2f}%'}")
    diff = 100 * (acc["edgeq_int8"] - acc["tflite_int8"])
    lines.append(f"edgeq - TFLite: {diff:+.2f} percentage points")
    return "\n".join(lines)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="edgeq compare",
        description="Train the Keras digits model and compare edgeq's int8 quantization with the TFLite "
                    "converter's on the same calibration samples (held-out accuracy).")
    p.add_argument("--epochs", type=int, default=20, help="training epochs (default 20)")
    p.add_argument("--calib", type=int, default=200, metavar="N", help="calibration samples (default 200)")
    p.add_argument("--observer", choices=["minmax", "percentile"], default="minmax",
                   help="edgeq's activation range observer (default minmax, as TFLite)")
    p.add_argument("--seed", type=int, default=0, help="data split and training seed (default 0)")
    p.add_argument("--json", action="store_true", help="print the result as JSON only")
    return p


def run(args: argparse.Namespace) -> int:
    if args.epochs < 1 or args.calib < 1:
        raise EdgeqError("--epochs and --calib must be at least 1")
    result = compare_quantizers(args.epochs, args.calib, args.observer, args.seed)
    print(json.dumps(result, indent=2) if args.json else format_table(result))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(make_parser(), run, argv)


if __name__ == "__main__":
    sys.exit(main())
