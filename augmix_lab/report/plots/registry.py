"""The report-plot registry: every report figure family is one module under ``report/plots/`` and one
``@register_plot``, as tables are (``report/tables/registry.py``).

```python
@register_plot("severity", order=30)
def severity_plots(res: Results, out_dir: Path) -> list[Plot]:
    ...  # [] when the study's runs do not support the plot; save each figure with style.save_plot
```
``build_plots`` calls every registered builder in ``order`` inside the report's matplotlib style (``style.RC``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import matplotlib

from augmix_lab.registry import Registry
from augmix_lab.report.plots.style import RC, Plot
from augmix_lab.report.tables.core import Results

PlotBuilder = Callable[[Results, Path], "list[Plot]"]


@dataclass(frozen=True)
class PlotSpec:
    """One registered plot family: its name, builder and position in the report."""

    name: str
    build: PlotBuilder
    order: int


PLOTS: Registry[PlotSpec] = Registry("report plot")


def register_plot(name: str, *, order: int) -> Callable[[PlotBuilder], PlotBuilder]:
    """Decorator ``@register_plot("severity", order=30)`` on ``fn(res, out_dir) -> list[Plot]``."""

    def decorator(fn: PlotBuilder) -> PlotBuilder:
        PLOTS.add(name, PlotSpec(name, fn, order))
        return fn

    return decorator


def plot_specs() -> list[PlotSpec]:
    """Every registered plot family in report order (ties broken by name)."""
    return sorted((PLOTS.get(n) for n in PLOTS.names()), key=lambda s: (s.order, s.name))


def build_plots(res: Results, out_dir: Path) -> list[Plot]:
    """Every figure the study's runs support, in report order."""
    with matplotlib.rc_context(RC):
        return [p for spec in plot_specs() for p in spec.build(res, Path(out_dir))]
