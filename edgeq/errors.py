"""User-facing errors: the CLI prints their message as one line and exits non-zero."""


class EdgeqError(Exception):
    """An error caused by the user's input (model, data, board, paths), not by edgeq."""

    exit_code = 1


class UnsupportedError(EdgeqError):
    """A layer or operator that edgeq cannot translate."""


class ThresholdError(EdgeqError):
    """A CI gate (report --compare thresholds) was broken."""

    exit_code = 3
