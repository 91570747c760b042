"""Report plots: one module per figure family, each registered with ``@register_plot`` (see ``registry.py``);
``style.py`` holds what every figure shares (palette, markers, byte-stable PNG/SVG saving).

Every module of this package is imported here, so a new plot is one new file with one decorator — no list to edit.
"""

from __future__ import annotations

import importlib
import pkgutil

from augmix_lab.report.plots.registry import PLOTS, PlotSpec, build_plots, plot_specs, register_plot
from augmix_lab.report.plots.style import Plot

_SHARED = {"registry", "style"}  # helpers, not plots
for _mod in pkgutil.iter_modules(__path__):
    if _mod.name not in _SHARED and not _mod.name.startswith("_"):
        importlib.import_module(f"{__name__}.{_mod.name}")

__all__ = ["PLOTS", "Plot", "PlotSpec", "build_plots", "plot_specs", "register_plot"]
