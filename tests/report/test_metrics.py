"""The metrics behind `edgeq validate`, on hand-made numbers."""

from __future__ import annotations

import numpy as np

from edgeq.report import metrics


def test_predictions_top1_and_binary() -> None:
    assert metrics.predictions(np.array([[0.1, 0.9, 0.0], [2.0, 1.0, 0.0]])).tolist() == [1, 0]
    assert metrics.predictions(np.array([[0.2], [0.7]])).tolist() == [0, 1]


def test_labels_from_indices_and_one_hot() -> None:
    assert metrics.labels_from(np.array([2, 0, 1]), 3).tolist() == [2, 0, 1]
    assert metrics.labels_from(np.eye(3)[[2, 0, 1]], 3).tolist() == [2, 0, 1]


def test_confusion_and_per_class() -> None:
    labels = np.array([0, 0, 1, 1, 2])
    scores = np.eye(3)[[0, 1, 1, 1, 0]]
    assert metrics.confusion(metrics.predictions(scores), labels, 3) == [[1, 1, 0], [0, 2, 0], [1, 0, 0]]
    rows = metrics.per_class({"target": scores, "float": None}, labels, 3)
    assert [r["target"] for r in rows] == [0.5, 1.0, 0.0]
    assert [r["samples"] for r in rows] == [2, 2, 1]
    assert "float" not in rows[0]
    assert metrics.accuracy(scores, labels) == 0.6


def test_sqnr_and_output_error() -> None:
    ref = np.array([[1.0, -1.0, 2.0, 0.0]])
    assert metrics.sqnr_db(ref, ref) is None  # no noise at all
    noisy = ref + np.array([[0.1, 0.0, 0.0, 0.0]])
    assert abs(metrics.sqnr_db(ref, noisy) - 10 * np.log10(6 / 0.01)) < 1e-3
    assert metrics.sqnr_db(np.zeros(3), np.ones(3)) == -100.0
    err = metrics.output_error(ref, noisy)
    assert abs(err["rmse"] - np.sqrt(0.01 / 4)) < 1e-9
    assert abs(err["max_abs_error"] - 0.1) < 1e-9
    assert 0.99 < err["cosine_similarity"] < 1.0
    assert metrics.agreement(ref, noisy) == 1.0
