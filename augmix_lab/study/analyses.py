"""The ``analyses:`` section of a study: study-level analyses computed by ``run`` after the trials, from stored
checkpoints, and stored on the study's parent run (the report only reads them).

``analyses.msd``: Minimal Sample Distance (Mintun, Kirillov & Xie, NeurIPS 2021) between every variant's augmentation
and each evaluated -C / C-bar corruption, measured with the study's ``baseline`` (clean-trained) model.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from pydantic import Field

from augmix_lab.config import StrictModel
from augmix_lab.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from augmix_lab.study.expand import Trial
    from augmix_lab.study.schema import Study


class MsdSpec(StrictModel):
    """``analyses: {msd: {enabled: true, samples: 1000}}`` (defaults: the paper's notebook)."""

    enabled: bool = Field(False, description="compute MSD after the trials (needs a baseline variant)")
    # |A|: the notebook samples 1k augmentations ("we take |A| = 100k in the paper, here 1k for efficiency")
    samples: int = Field(1000, ge=1, description="augmentation parameter draws |A| (the paper: 100k)")
    images: int = Field(100, ge=1, description="fixed training images |D_S| (the paper: 100)")
    corruption_samples: int = Field(100, ge=1, description="corruption draws averaged for E_c f(c) (notebook: 100)")
    corruptions: list[str] | None = Field(None, description="-C / C-bar names; None = those the baseline evaluates")
    severities: list[int] | None = Field(None, description="None = the severities the baseline evaluates")
    baseline_seeds: int | None = Field(
        1, ge=1, description="baseline models (lowest seeds) to measure with; None = all"
    )
    seed: int = Field(0, description="seed of the image choice and of every draw")
    batch_size: int = Field(500, ge=1, description="images per forward pass and augmentation draws per batch")

    def fingerprint(self) -> str:
        """What the stored table depends on besides the runs: every setting but ``enabled``."""
        payload = self.model_dump(mode="json")
        payload.pop("enabled")
        payload.pop("batch_size")  # placement only: the draws do not depend on it (chunks are seeded by offset)
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:12]


class AnalysesSpec(StrictModel):
    msd: MsdSpec = Field(default_factory=MsdSpec)


def check_analyses(study: Study, trials: list[Trial]) -> None:
    """Refuse an ``analyses`` section that could only fail after training (no baseline, unknown names)."""
    from augmix_lab.corruptions.registry import CORRUPTIONS, SEVERITIES

    spec = study.spec.analyses.msd
    if not spec.enabled:
        return
    if not study.spec.baseline:
        raise study.error(
            [("analyses", "msd", "enabled")],
            "field 'analyses.msd.enabled': minimal sample distance "
            "needs a clean-trained baseline model; allowed: set 'baseline' to a variant (e.g. standard)",
        )
    from augmix_lab.corruptions.generate import profile_for_name

    profiles = {profile_for_name(t.config.dataset.name) for t in trials if t.variant == study.spec.baseline}
    for i, name in enumerate(spec.corruptions or []):
        if name not in CORRUPTIONS:
            raise study.error(
                [("analyses", "msd", "corruptions", i)],
                f"field 'analyses.msd.corruptions': {CORRUPTIONS.unknown_message(name)}",
            )
        missing = sorted(profiles - set(CORRUPTIONS.get(name).severity))
        if missing:
            raise study.error(
                [("analyses", "msd", "corruptions", i)],
                f"field 'analyses.msd.corruptions': {name!r} has no {missing[0]} severities (the "
                f"baseline's dataset uses that profile); allowed: corruptions of that profile",
            )
    for i, s in enumerate(spec.severities or []):
        if s not in SEVERITIES:
            raise study.error(
                [("analyses", "msd", "severities", i)],
                f"field 'analyses.msd.severities': severity {s} out of range; allowed: 1..5",
            )
    if spec.corruptions is None and not any(
        t.config.eval.corruptions.enabled or t.config.eval.c_bar.enabled
        for t in trials
        if t.variant == study.spec.baseline
    ):
        raise UserError(
            f"{study.path}: field 'analyses.msd.corruptions': the baseline evaluates no -C or C-bar "
            "corruption to measure against; allowed: a list of corruption names"
        )
