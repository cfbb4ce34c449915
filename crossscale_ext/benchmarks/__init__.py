"""Benchmarks run by ``crossscale bench``: saliency against ground truth, and forecasting against peers."""
