"""Scoring generated videos against ground truth (runner, metrics, results)."""
