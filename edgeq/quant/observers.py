"""Observers: activation statistics gathered over the calibration set."""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np


class Observer(ABC):
    @abstractmethod
    def update(self, x: np.ndarray) -> None: ...

    @abstractmethod
    def range(self) -> tuple[float, float]: ...


class MinMaxObserver(Observer):
    """The whole range seen (TFLite's default)."""

    def __init__(self) -> None:
        self.lo, self.hi = np.inf, -np.inf

    def update(self, x: np.ndarray) -> None:
        self.lo = min(self.lo, float(np.min(x)))
        self.hi = max(self.hi, float(np.max(x)))

    def range(self) -> tuple[float, float]:
        return self.lo, self.hi


class PercentileObserver(Observer):
    """Clips outliers: the [100-p, p] percentiles of a deterministic sample of the values."""

    max_values = 200_000

    def __init__(self, percentile: float = 99.99) -> None:
        self.percentile = percentile
        self.samples: list[np.ndarray] = []
        self.count = 0
        self.rng = np.random.default_rng(0)

    def update(self, x: np.ndarray) -> None:
        flat = np.asarray(x, dtype=np.float32).reshape(-1)
        budget = self.max_values // 8
        if flat.size > budget:
            flat = self.rng.choice(flat, budget, replace=False)
        self.samples.append(flat)
        self.count += flat.size

    def range(self) -> tuple[float, float]:
        values = np.concatenate(self.samples)
        if values.size > self.max_values:
            values = self.rng.choice(values, self.max_values, replace=False)
        return (float(np.percentile(values, 100.0 - self.percentile)),
                float(np.percentile(values, self.percentile)))


OBSERVERS = {"minmax": MinMaxObserver, "percentile": PercentileObserver}


def make_observer(kind: str) -> Observer:
    if kind not in OBSERVERS:
        raise ValueError(f"unknown observer {kind!r}; choose one of {', '.join(OBSERVERS)}")
    return OBSERVERS[kind]()
