"""Framework frontends: each turns a trained model into a float IR graph (edgeq.ir.Graph)."""
