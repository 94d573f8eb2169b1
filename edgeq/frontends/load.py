"""Pick the frontend for a model: an in-memory framework object or a file by its type."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeq.errors import EdgeqError
from edgeq.ir.graph import Graph

FILE_TYPES = {
    ".pt2": "pytorch",
    ".keras": "keras",
    ".h5": "keras",
    ".hdf5": "keras",
    ".tflite": "tflite",
    ".onnx": "onnx",
}


@dataclass(frozen=True)
class LoadedModel:
    graph: Graph  # float (or already quantized, for imported int8 models)
    format: str  # "pytorch", "keras", ...
    sha256: str
    name: str


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _missing(framework: str, extra: str) -> EdgeqError:
    return EdgeqError(f"{framework} is not installed; install it with: pip install 'edgeq[{extra}]'")


def load_file(path: str | Path, name: str | None = None) -> LoadedModel:
    p = Path(path)
    if not p.exists():
        raise EdgeqError(f"model file {p} does not exist")
    if not p.is_file():
        raise EdgeqError(f"model path {p} is not a file")
    kind = FILE_TYPES.get(p.suffix.lower())
    if kind is None:
        raise EdgeqError(f"model file {p}: unknown file type {p.suffix or '(none)'!r}; "
                         f"edgeq reads {', '.join(sorted(FILE_TYPES))}")
    sha = _file_sha256(p)
    model_name = name or p.stem
    if kind == "pytorch":
        try:
            from edgeq.frontends.torch_frontend import load_pt2
        except ImportError:
            raise _missing("PyTorch", "torch") from None
        return LoadedModel(load_pt2(p, name=model_name), kind, sha, model_name)
    if kind == "tflite":
        from edgeq.frontends.tflite_frontend import load_tflite

        return LoadedModel(load_tflite(p, name=model_name), kind, sha, model_name)
    if kind == "onnx":
        try:
            from edgeq.frontends.onnx_frontend import load_onnx
        except ImportError:
            raise _missing("ONNX", "onnx") from None
        return LoadedModel(load_onnx(p, name=model_name), kind, sha, model_name)
    try:
        from edgeq.frontends.keras_frontend import load_keras_file
    except ImportError:
        raise _missing("TensorFlow/Keras", "tensorflow") from None
    return LoadedModel(load_keras_file(p, name=model_name), kind, sha, model_name)


def load_object(model: Any, example_input: Any = None, name: str | None = None) -> LoadedModel:
    """An in-memory torch.nn.Module (with an example input) or keras.Model."""
    from edgeq.codegen.emitter import graph_sha256

    module = type(model).__module__
    if module.startswith("torch") or _is_torch_module(model):
        from edgeq.frontends.torch_quantized import from_torch_quantized, is_quantized_module

        if is_quantized_module(model):  # converted by torch.ao.quantization (eager mode)
            graph = from_torch_quantized(model, example_input, name=name)
            return LoadedModel(graph, "pytorch-quantized", graph_sha256(graph), graph.name)
        from edgeq.frontends.torch_frontend import from_torch

        if example_input is None and not type(model).__name__ == "ExportedProgram":
            raise EdgeqError("a PyTorch model needs an example input (example_input=...) to be traced")
        graph = from_torch(model, example_input, name=name)
        return LoadedModel(graph, "pytorch", graph_sha256(graph), graph.name)
    if module.startswith("keras") or module.startswith("tf_keras") or _is_keras_model(model):
        from edgeq.frontends.keras_frontend import from_keras

        graph = from_keras(model, name=name)
        return LoadedModel(graph, "keras", graph_sha256(graph), graph.name)
    raise EdgeqError(f"unsupported model object of type {type(model).__name__}; "
                     "pass a torch.nn.Module, a keras.Model or a model file path")


def _is_torch_module(model: Any) -> bool:
    return any(c.__module__.startswith("torch") for c in type(model).__mro__)


def _is_keras_model(model: Any) -> bool:
    return any(c.__module__.startswith("keras") for c in type(model).__mro__)


def load_model(source: Any, example_input: Any = None, name: str | None = None) -> LoadedModel:
    if isinstance(source, str | Path):
        return load_file(source, name)
    return load_object(source, example_input, name)
