"""Quantization: fixed-point helpers, observers, calibration and the quantizer."""
