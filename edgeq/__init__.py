"""edgeq: trained neural networks to int8 C for microcontrollers."""

from edgeq.errors import EdgeqError

__version__ = "0.1.0"

__all__ = ["EdgeqError", "__version__", "build"]


def build(*args, **kwargs):
    """Build a model; see :func:`edgeq.api.build`."""
    from edgeq.api import build as _build

    return _build(*args, **kwargs)
