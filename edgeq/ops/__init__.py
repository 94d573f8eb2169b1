"""Every operator edgeq knows, by IR kind."""

from edgeq.ops.activations import Logistic, Softmax, Tanh
from edgeq.ops.add import Add
from edgeq.ops.base import Op, OutputQuant
from edgeq.ops.clamp import Clamp
from edgeq.ops.clamp_input import ClampInput
from edgeq.ops.common import NO_ACTIVATION, RELU, RELU6, Activation
from edgeq.ops.concat import Concat
from edgeq.ops.conv2d import Conv2D
from edgeq.ops.conv2d_add import Conv2DAdd
from edgeq.ops.depthwise_conv2d import DepthwiseConv2D
from edgeq.ops.float_only import BatchNorm, Identity
from edgeq.ops.fully_connected import FullyConnected
from edgeq.ops.lookup import Lookup
from edgeq.ops.mean import Mean
from edgeq.ops.mul import Mul
from edgeq.ops.pool2d import AvgPool2D, MaxPool2D
from edgeq.ops.shape_ops import Pad, Reshape, Transpose

OPS: dict[str, type[Op]] = {
    cls.kind: cls
    for cls in (Conv2D, DepthwiseConv2D, FullyConnected, Add, Mul, Concat, MaxPool2D, AvgPool2D,
                Reshape, Transpose, Pad, Clamp, Softmax, Logistic, Tanh, BatchNorm, Identity, Mean,
                ClampInput, Lookup, Conv2DAdd)
}

__all__ = [
    "NO_ACTIVATION",
    "OPS",
    "RELU",
    "RELU6",
    "Activation",
    "Add",
    "AvgPool2D",
    "BatchNorm",
    "Clamp",
    "ClampInput",
    "Concat",
    "Conv2D",
    "Conv2DAdd",
    "DepthwiseConv2D",
    "FullyConnected",
    "Identity",
    "Logistic",
    "Lookup",
    "MaxPool2D",
    "Mean",
    "Mul",
    "Op",
    "OutputQuant",
    "Pad",
    "Reshape",
    "Softmax",
    "Tanh",
    "Transpose",
]
