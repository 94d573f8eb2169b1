"""User-facing errors: the CLI prints their message as one line and exits non-zero."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


class EdgeqError(Exception):
    """An error caused by the user's input (model, data, board, paths), not by edgeq."""

    exit_code = 1


class UnsupportedError(EdgeqError):
    """A layer or operator that edgeq cannot translate."""


class ThresholdError(EdgeqError):
    """A CI gate (report --compare thresholds) was broken."""

    exit_code = 3


def run_main(parser: argparse.ArgumentParser, run: Callable[[argparse.Namespace], int],
             argv: list[str] | None = None) -> int:
    """Entry point of a standalone command (`python -m edgeq.bench`): parse, run, and turn an
    EdgeqError into one line on stderr and its exit code."""
    args = parser.parse_args(argv)
    try:
        return run(args)
    except EdgeqError as e:
        print(f"edgeq: error: {e}", file=sys.stderr)
        return e.exit_code
