"""Metric registry: one file per metric; ids carry their backbone where several exist."""

from tfbench.registry import Registry

METRICS: Registry = Registry("metric", entry_point_group="tfbench.metrics")
