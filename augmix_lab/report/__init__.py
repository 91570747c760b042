"""MLflow → the paper's tables (Markdown, CSV, LaTeX, HTML) and plots, with seed statistics.

```python
from augmix_lab.report import generate_report
report = generate_report(tracking_uri, experiment, out_dir, formats=("md", "csv", "tex", "html"))
report.table("summary").rows
```
"""

from augmix_lab.report.builder import FORMATS, Report, generate_report, parse_formats, write_report
from augmix_lab.report.loading import StudyRuns, load_study_runs, resolve_experiment
from augmix_lab.report.paper_numbers import PAPER_NUMBERS, paper_method

__all__ = [
    "FORMATS",
    "PAPER_NUMBERS",
    "Report",
    "StudyRuns",
    "generate_report",
    "load_study_runs",
    "paper_method",
    "parse_formats",
    "resolve_experiment",
    "write_report",
]
