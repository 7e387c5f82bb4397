"""Scoring generated videos against ground truth (runner, metrics, results).

The package is also callable: ``tfbench.evaluate(pred=DIR, gt=DIR, metrics=[...])`` is
:func:`tfbench.api.evaluate` (docs/api.md).
"""

import sys
import types


class _CallableModule(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from tfbench.api import evaluate

        return evaluate(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
