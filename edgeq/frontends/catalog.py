"""What each frontend supports, for `edgeq ops` and for error messages."""

from __future__ import annotations

import importlib

FRONTENDS = {
    "PyTorch": ("edgeq.frontends.torch_frontend", "torch"),
    "Keras": ("edgeq.frontends.keras_frontend", "tensorflow"),
    "TFLite": ("edgeq.frontends.tflite_frontend", "tflite"),
    "ONNX": ("edgeq.frontends.onnx_frontend", "onnx"),
    "PyTorch (eager-mode quantized)": ("edgeq.frontends.torch_quantized", "torch"),
}


def supported_ops() -> dict[str, list[tuple[str, str]]]:
    catalog: dict[str, list[tuple[str, str]]] = {}
    for label, (module, extra) in FRONTENDS.items():
        try:
            catalog[label] = list(importlib.import_module(module).SUPPORTED)
        except ImportError:
            catalog[label] = [(f"(install edgeq[{extra}] to use this frontend)", "")]
    return catalog
