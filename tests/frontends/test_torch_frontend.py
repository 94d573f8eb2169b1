"""PyTorch frontend: every supported layer against torch itself, through the float interpreter."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from edgeq.errors import EdgeqError, UnsupportedError
from edgeq.interpreter import run_float
from edgeq.ir.graph import Graph
from edgeq.ir.verify import verify

pytestmark = pytest.mark.torch
torch = pytest.importorskip("torch")
nn = torch.nn

from edgeq.frontends.torch_frontend import SUPPORTED, from_torch, load_pt2  # noqa: E402


def _nhwc(x: np.ndarray) -> np.ndarray:
    return x.transpose(0, 2, 3, 1) if x.ndim == 4 else x


def _nchw(y: np.ndarray) -> np.ndarray:
    return y.transpose(0, 3, 1, 2) if y.ndim == 4 else y


def check_module(model: nn.Module, x: torch.Tensor, rtol: float = 1e-4, atol: float = 1e-4) -> Graph:
    """Convert `model`, run the IR in float and compare with torch on the same NCHW input."""
    model.eval()
    graph = from_torch(model, x)
    verify(graph)
    with torch.no_grad():
        expected = model(x)
    expected_list = list(expected) if isinstance(expected, tuple) else [expected]
    got = run_float(graph, [_nhwc(x.numpy())])
    assert len(got) == len(expected_list)
    for g, e in zip(got, expected_list, strict=True):
        np.testing.assert_allclose(_nchw(g), e.numpy(), rtol=rtol, atol=atol)
    return graph


def _kinds(graph: Graph) -> list[str]:
    return [n.kind for n in graph.nodes]


# -- small models for the cases --------------------------------------------------------
class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.conv(x) + x)


class Cat(nn.Module):
    def __init__(self, dim: int = 1) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 3, 1)
        self.b = nn.Conv2d(4, 5, 3, padding=1)
        self.dim = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.a(x), self.b(x)], dim=self.dim)


class Mean(nn.Module):
    def __init__(self, keepdim: bool, dims: tuple[int, ...] = (2, 3)) -> None:
        super().__init__()
        self.keepdim, self.dims = keepdim, dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.mean(self.dims, keepdim=self.keepdim)


class Fn(nn.Module):
    """Wraps a function of one tensor."""

    def __init__(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(x)


class Mul(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) * torch.sigmoid(x)


def _trained_bn(bn: nn.Module, x: torch.Tensor) -> nn.Module:
    """Random affine parameters and running statistics from a few training steps."""
    with torch.no_grad():
        bn.weight.uniform_(0.5, 1.5)
        bn.bias.uniform_(-0.5, 0.5)
    bn.train()
    for _ in range(3):
        bn(x * 2 + 1)
    return bn


def _img(c: int = 4, h: int = 9, w: int = 8) -> torch.Tensor:
    return torch.randn(1, c, h, w)


def _cases() -> dict[str, tuple[Callable[[], nn.Module], Callable[[], torch.Tensor]]]:
    seq = nn.Sequential
    return {
        "conv": (lambda: nn.Conv2d(4, 6, 3), _img),
        "conv_stride2_pad1": (lambda: nn.Conv2d(4, 6, 3, stride=2, padding=1), _img),
        "conv_tuple_args": (lambda: nn.Conv2d(4, 6, (3, 5), stride=(2, 1), padding=(1, 2)), _img),
        "conv_same": (lambda: nn.Conv2d(4, 6, 4, padding="same"), _img),
        "conv_same_dilated": (lambda: nn.Conv2d(4, 6, 3, padding="same", dilation=2), _img),
        "conv_valid": (lambda: nn.Conv2d(4, 6, 3, padding="valid"), _img),
        "conv_dilation": (lambda: nn.Conv2d(4, 6, 3, dilation=(2, 1), padding=1), _img),
        "conv_no_bias": (lambda: nn.Conv2d(4, 6, 1, bias=False), _img),
        "depthwise": (lambda: nn.Conv2d(4, 4, 3, groups=4, padding=1), _img),
        "depthwise_mult2": (lambda: nn.Conv2d(4, 8, 3, groups=4, stride=2, bias=False), _img),
        "depthwise_same_dilated": (lambda: nn.Conv2d(4, 8, 3, groups=4, padding="same", dilation=2), _img),
        "linear": (lambda: nn.Linear(7, 5), lambda: torch.randn(1, 7)),
        "linear_no_bias": (lambda: nn.Linear(7, 5, bias=False), lambda: torch.randn(1, 7)),
        "linear_rank3": (lambda: nn.Linear(7, 5), lambda: torch.randn(1, 3, 7)),
        "flatten_linear": (lambda: seq(nn.Conv2d(4, 3, 3), nn.Flatten(), nn.Linear(3 * 7 * 6, 5)), _img),
        "view_linear": (lambda: seq(nn.Conv2d(4, 3, 1), Fn(lambda t: t.view(1, -1)), nn.Linear(3 * 9 * 8, 2)), _img),
        "reshape_to_image": (lambda: seq(nn.Linear(6, 24), Fn(lambda t: t.reshape(1, 2, 3, 4)),
                                         nn.Conv2d(2, 3, 1)), lambda: torch.randn(1, 6)),
        "reshape_image_to_image": (lambda: Fn(lambda t: t.reshape(1, 8, 6, 6)), _img),
        "flatten_partial": (lambda: Fn(lambda t: torch.flatten(t, 2)), _img),
        "unsqueeze_squeeze": (lambda: Fn(lambda t: t.unsqueeze(2).squeeze(2)), lambda: torch.randn(1, 5)),
        "bn2d": (lambda: seq(nn.Conv2d(4, 6, 3), _trained_bn(nn.BatchNorm2d(6), torch.randn(8, 6, 5, 5))), _img),
        "bn1d": (lambda: seq(nn.Linear(7, 6), _trained_bn(nn.BatchNorm1d(6), torch.randn(8, 6))),
                 lambda: torch.randn(1, 7)),
        "bn2d_no_affine": (lambda: _trained_bn_no_affine(), _img),
        "relu": (lambda: nn.ReLU(), _img),
        "relu_inplace": (lambda: seq(nn.Conv2d(4, 4, 1), nn.ReLU(inplace=True)), _img),
        "relu6": (lambda: seq(nn.Conv2d(4, 4, 1), nn.ReLU6()), lambda: _img() * 5),
        "hardtanh": (lambda: nn.Hardtanh(-0.5, 1.5), _img),
        "clamp": (lambda: Fn(lambda t: t.clamp(min=-0.3)), _img),
        "sigmoid": (lambda: nn.Sigmoid(), _img),
        "tanh": (lambda: nn.Tanh(), _img),
        "softmax_vector": (lambda: seq(nn.Linear(7, 5), nn.Softmax(dim=-1)), lambda: torch.randn(1, 7)),
        "softmax_channels": (lambda: nn.Softmax(dim=1), _img),
        "maxpool": (lambda: nn.MaxPool2d(2), _img),
        "maxpool_stride_pad": (lambda: nn.MaxPool2d(3, stride=2, padding=1), _img),
        "maxpool_ceil": (lambda: nn.MaxPool2d(2, ceil_mode=True), _img),
        "maxpool_ceil_pad": (lambda: nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), lambda: _img(4, 10, 7)),
        "avgpool": (lambda: nn.AvgPool2d(2), _img),
        "avgpool_pad_include": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=True), _img),
        "avgpool_pad_exclude": (lambda: nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), _img),
        "adaptive_avgpool_1": (lambda: nn.AdaptiveAvgPool2d(1), _img),
        "adaptive_avgpool_2x2": (lambda: nn.AdaptiveAvgPool2d((3, 2)), _img),
        "adaptive_flatten_linear": (lambda: seq(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)), _img),
        "mean_keepdim": (lambda: Mean(True), _img),
        "mean_no_keepdim": (lambda: Mean(False, (-1, -2)), _img),
        "dropout_identity": (lambda: seq(nn.Conv2d(4, 4, 1), nn.Dropout(0.5), nn.Identity(), nn.Dropout2d()), _img),
        "residual_add": (Residual, _img),
        "cat_channels": (Cat, _img),
        "cat_width": (_cat_width, _img),
        "mul": (Mul, _img),
    }


def _trained_bn_no_affine() -> nn.Module:
    bn = nn.BatchNorm2d(4, affine=False)
    bn.train()
    for _ in range(3):
        bn(torch.randn(8, 4, 5, 5) * 3 + 1)
    return bn


def _cat_width() -> nn.Module:
    class CatW(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = nn.Conv2d(4, 3, 1)
            self.b = nn.Conv2d(4, 3, (1, 3))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.cat([self.a(x), self.b(x)], dim=3)

    return CatW()


CASES = _cases()


@pytest.mark.parametrize("case", list(CASES))
def test_layer_matches_torch(case: str) -> None:
    torch.manual_seed(0)
    make_model, make_input = CASES[case]
    check_module(make_model(), make_input())


# -- mapping details ----------------------------------------------------------------------------
def test_conv_weights_ohwi_and_source() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 3, bias=False))
    graph = check_module(model, _img(3))
    (node,) = graph.nodes
    assert node.kind == "conv2d" and node.source == "0 (Conv2d)"
    w = graph.tensors[node.inputs[1]]
    assert w.shape == (8, 3, 3, 3)
    np.testing.assert_array_equal(w.data, model[0].weight.detach().permute(0, 2, 3, 1).numpy())
    assert not graph.tensors[node.inputs[2]].data.any()  # zero bias


def test_depthwise_weights_and_multiplier() -> None:
    graph = check_module(nn.Conv2d(4, 8, 3, groups=4), _img())
    (node,) = graph.nodes
    assert node.kind == "depthwise_conv2d" and node.op.depth_multiplier == 2
    assert graph.tensors[node.inputs[1]].shape == (1, 3, 3, 8)


def test_layouts_and_shapes() -> None:
    graph = check_module(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1)), _img(3, 6, 5))
    assert graph.input_layout == graph.output_layout == "NCHW"
    assert graph.tensors[graph.inputs[0]].shape == (1, 6, 5, 3)
    dense = check_module(nn.Linear(4, 2), torch.randn(1, 4))
    assert dense.input_layout == dense.output_layout == "NHWC"
    head = check_module(nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten()), _img(3, 6, 5))
    assert head.input_layout == "NCHW" and head.output_layout == "NHWC"


def test_flatten_emits_transpose_then_reshape() -> None:
    graph = check_module(nn.Sequential(nn.Conv2d(4, 3, 3), nn.Flatten(), nn.Linear(3 * 7 * 6, 5)), _img())
    assert _kinds(graph) == ["conv2d", "transpose", "reshape", "fully_connected"]
    assert graph.nodes[1].op.perm == (0, 3, 1, 2)


def test_batch_norm_and_clamps_are_separate_nodes() -> None:
    model = nn.Sequential(nn.Conv2d(4, 6, 3), _trained_bn(nn.BatchNorm2d(6), torch.randn(8, 6, 5, 5)), nn.ReLU6())
    graph = check_module(model, _img())
    assert _kinds(graph) == ["conv2d", "batch_norm", "clamp"]
    assert graph.nodes[2].op.activation.lo == 0.0 and graph.nodes[2].op.activation.hi == 6.0
    assert [n.source for n in graph.nodes] == ["0 (Conv2d)", "1 (BatchNorm2d)", "2 (ReLU6)"]


def test_avgpool_count_include_pad_uses_explicit_pad() -> None:
    graph = check_module(nn.AvgPool2d(3, stride=1, padding=1), _img())
    assert _kinds(graph) == ["pad", "avg_pool2d"]
    assert graph.nodes[1].op.padding == (0, 0, 0, 0)
    excl = check_module(nn.AvgPool2d(3, stride=1, padding=1, count_include_pad=False), _img())
    assert _kinds(excl) == ["avg_pool2d"] and excl.nodes[0].op.padding == (1, 1, 1, 1)


def test_cat_channel_axis_is_nhwc() -> None:
    graph = check_module(Cat(), _img())
    assert graph.nodes[-1].kind == "concat" and graph.nodes[-1].op.axis == 3


def test_functional_source_names_the_function() -> None:
    graph = check_module(Residual(), _img())
    add = next(n for n in graph.nodes if n.kind == "add")
    assert add.source == "add"


def test_batch_larger_than_one_gives_batch_one_graph() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4 * 4 * 4, 2)).eval()
    x = torch.randn(5, 3, 6, 6)
    graph = from_torch(model, x)
    assert graph.tensors[graph.inputs[0]].shape == (1, 6, 6, 3)
    got = run_float(graph, [_nhwc(x.numpy())])[0]  # the interpreter runs any batch
    with torch.no_grad():
        np.testing.assert_allclose(got, model(x).numpy(), rtol=1e-4, atol=1e-4)


def test_numpy_example_and_name() -> None:
    graph = from_torch(nn.Linear(3, 2), np.zeros((1, 3), np.float64), name="tiny")
    assert graph.name == "tiny"


def test_decomposed_program_converts_too() -> None:
    model = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), _trained_bn(nn.BatchNorm2d(8), torch.randn(8, 8, 4, 4)), nn.ReLU(),
        nn.MaxPool2d(2), nn.Dropout(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 3), nn.Softmax(-1),
    ).eval()
    x = _img(3, 8, 8)
    ep = torch.export.export(model, (x,)).run_decompositions()
    graph = from_torch(ep)
    verify(graph)
    with torch.no_grad():
        np.testing.assert_allclose(run_float(graph, [_nhwc(x.numpy())])[0], model(x).numpy(), rtol=1e-4, atol=1e-5)


class TwoHeads(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 3, padding=1)
        self.cls = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = torch.relu(self.body(x))
        return self.cls(y), y


def test_two_outputs() -> None:
    graph = check_module(TwoHeads(), _img(3, 6, 6))
    assert len(graph.outputs) == 2
    assert graph.output_layout == "NCHW"


def test_exported_program_with_batch_four() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 4 * 4, 2)).eval()
    x = torch.randn(4, 3, 6, 6)
    graph = from_torch(torch.export.export(model, (x,)))
    assert graph.tensors[graph.inputs[0]].shape == (1, 6, 6, 3)
    assert all(graph.tensors[t].shape[0] == 1 for t in graph.tensors if not graph.tensors[t].is_constant)
    with torch.no_grad():
        np.testing.assert_allclose(run_float(graph, [_nhwc(x.numpy())])[0], model(x).numpy(), rtol=1e-4, atol=1e-4)


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.relu(self.conv(x)) + x


def test_nested_sources() -> None:
    graph = check_module(nn.Sequential(Block(), Block()), _img())
    assert [n.source for n in graph.nodes] == [
        "0.conv (Conv2d)", "relu in 0 (Block)", "add in 0 (Block)",
        "1.conv (Conv2d)", "relu in 1 (Block)", "add in 1 (Block)",
    ]


class Constant(nn.Module):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int]:
        return torch.relu(x), 3


def test_non_tensor_output_unsupported() -> None:
    with pytest.raises(UnsupportedError) as err:
        from_torch(Constant(), torch.randn(1, 4))
    assert "not a tensor computed from its input" in _one_line(err)


class SmallCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 8, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU6(),
            nn.Conv2d(8, 8, 3, padding=1, groups=8, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
            nn.Conv2d(8, 16, 1), nn.ReLU(),
        )
        self.skip = nn.Conv2d(16, 16, 3, padding="same")
        self.pool = nn.MaxPool2d(2)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(16 * 4 * 4, 10))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.features(x)
        y = torch.relu(self.skip(y) + y)
        return torch.softmax(self.head(self.pool(y)), dim=1)


def _small_cnn() -> nn.Module:
    torch.manual_seed(1)
    model = SmallCNN()
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(torch.randn(8, 3, 16, 16))
    return model.eval()


def test_small_cnn_end_to_end() -> None:
    graph = check_module(_small_cnn(), torch.randn(1, 3, 16, 16), atol=1e-5)
    kinds = _kinds(graph)
    assert kinds.count("batch_norm") == 2 and "depthwise_conv2d" in kinds and "add" in kinds
    assert any(n.source == "features.3 (Conv2d)" and n.kind == "depthwise_conv2d" for n in graph.nodes)


def test_pt2_round_trip(tmp_path: Path) -> None:
    model = _small_cnn()
    x = torch.randn(1, 3, 16, 16)
    path = tmp_path / "cnn.pt2"
    torch.export.save(torch.export.export(model, (x,)), str(path))
    graph = load_pt2(path)
    verify(graph)
    assert graph.name == "cnn"
    assert any(n.source == "features.0 (Conv2d)" for n in graph.nodes)
    with torch.no_grad():
        np.testing.assert_allclose(run_float(graph, [_nhwc(x.numpy())])[0], model(x).numpy(), atol=1e-5)


# -- errors ----------------------------------------------------------------------------------
class WithGelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.Linear(4, 4), nn.GELU()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_unsupported_layer_names_path_and_type() -> None:
    with pytest.raises(UnsupportedError) as err:
        from_torch(WithGelu(), torch.randn(1, 4))
    msg = _one_line(err)
    assert "'blocks.1.1'" in msg and "GELU" in msg and "edgeq ops" in msg


def test_unsupported_lstm() -> None:
    with pytest.raises(UnsupportedError) as err:
        from_torch(nn.Sequential(nn.LSTM(4, 4, batch_first=True)), torch.randn(1, 3, 4))
    msg = _one_line(err)
    assert "'0'" in msg and "LSTM" in msg


@pytest.mark.parametrize(
    ("model", "x", "needle"),
    [
        (nn.Conv2d(4, 6, 3, groups=2), _img(), "groups=2"),
        (nn.AvgPool2d(2, ceil_mode=True), _img(), "ceil_mode"),
        (nn.Softmax(dim=-1), _img(), "softmax over dim=3"),
        (Mean(False, (1,)), _img(), "mean over dims [1]"),
        (Fn(lambda t: torch.add(t, t, alpha=2)), _img(), "alpha=2"),
        (Fn(lambda t: t + 1.0), _img(), "not a constant or a number"),
        (nn.ConvTranspose2d(4, 4, 2), _img(), "ConvTranspose2d"),
        (nn.BatchNorm1d(4), torch.randn(1, 4, 5), "rank-3"),
        (nn.Conv1d(4, 4, 3), torch.randn(1, 4, 5), "Conv1d"),
    ],
    ids=["groups", "avg_ceil", "softmax_w", "mean_c", "alpha", "add_const", "conv_transpose", "bn1d_rank3",
         "conv1d"],
)
def test_unsupported_attributes(model: nn.Module, x: torch.Tensor, needle: str) -> None:
    with pytest.raises(UnsupportedError) as err:
        from_torch(model, x)
    assert needle in _one_line(err)


def test_dynamic_shapes_unsupported() -> None:
    model = nn.Linear(4, 2)
    batch = torch.export.Dim("batch", min=2, max=8)
    ep = torch.export.export(model, (torch.randn(3, 4),), dynamic_shapes={"input": {0: batch}})
    with pytest.raises(UnsupportedError) as err:
        from_torch(ep)
    assert "dynamic shape" in _one_line(err)


def test_export_failure_is_one_line_edgeq_error() -> None:
    class Bad(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x @ torch.ones(3, 3)  # wrong inner size for the example

    with pytest.raises(EdgeqError) as err:
        from_torch(Bad(), torch.randn(1, 4))
    assert "torch.export could not capture Bad" in _one_line(err)


def test_module_needs_example() -> None:
    with pytest.raises(EdgeqError, match="example input"):
        from_torch(nn.ReLU())


@pytest.mark.parametrize("content", [None, b"", b"not a zip file at all", "truncated"])
def test_bad_pt2_file(tmp_path: Path, content: bytes | str | None) -> None:
    path = tmp_path / "model.pt2"
    if content == "truncated":
        torch.export.save(torch.export.export(nn.Linear(2, 2), (torch.randn(1, 2),)), str(path))
        path.write_bytes(path.read_bytes()[:200])
    elif isinstance(content, bytes):
        path.write_bytes(content)
    with pytest.raises(EdgeqError) as err:
        load_pt2(path)
    msg = _one_line(err)
    assert str(path) in msg


def test_supported_table() -> None:
    assert SUPPORTED and all(isinstance(a, str) and isinstance(b, str) for a, b in SUPPORTED)
    assert any("Conv2d" in a for a, _ in SUPPORTED)
