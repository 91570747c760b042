"""augmix-lab: declarative experiment orchestration and ablations for AugMix-style robustness research.

Data flows one way: study spec -> trials -> train -> evaluate -> log (MLflow) -> report.
"""

__version__ = "0.1.0"
