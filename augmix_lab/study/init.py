"""Two-stage studies: resolve each trial's ``init`` (``from_variant`` or ``checkpoint``) during expansion.

A child trial's key depends on its parent's key (``init.parent_key``) or on its checkpoint file's content
(``init.sha256``), so changing the parent retrains the children, and identical two-stage trials dedup like any other.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from augmix_lab.config import DatasetConfig, TrialConfig
from augmix_lab.errors import UserError
from augmix_lab.study.schema import Study


def match_key(cfg: TrialConfig) -> tuple[Any, ...]:
    """What a parent must share with its child: seed, model and the training data (name, options, subset, holdout)."""
    d = cfg.dataset
    return cfg.seed, cfg.model, d.name, repr(sorted(d.options.items())), d.train_subset, d.holdout


def _with_init(cfg: TrialConfig, **update: Any) -> TrialConfig:
    return cfg.model_copy(update={"init": cfg.init.model_copy(update=update)})


def resolve_inits(study: Study, built: list[tuple[Any, TrialConfig]],
                  version_of: Callable[[DatasetConfig], str]) -> list[tuple[Any, TrialConfig]]:
    """Fill ``init.parent_key`` / ``init.sha256`` of every trial that has an init; parents before children.

    ``built`` holds (expansion point, config) pairs; a point has ``variant``, ``seed`` and ``origin(study, dotted)``
    (candidate YAML paths for error lines). Raises ``UserError`` for an unknown or ambiguous parent, a cycle, a missing
    checkpoint file, or both kinds of init at once.
    """
    if not any(cfg.init.is_set() for _, cfg in built):
        return built
    variants = sorted({p.variant for p, _ in built})
    out: list[TrialConfig | None] = [None] * len(built)
    keys: dict[int, str] = {}
    visiting: set[int] = set()

    def where(i: int, dotted: str) -> str:
        point = built[i][0]
        return study.lines.where(*point.origin(study, dotted))

    def resolve(i: int) -> TrialConfig:
        if out[i] is not None:
            return out[i]  # type: ignore[return-value]
        point, cfg = built[i]
        init = cfg.init
        if init.from_variant is not None and init.checkpoint is not None:
            raise UserError(f"{where(i, 'init')}: field 'init': give one of from_variant or checkpoint, not both")
        if init.parent_key is not None or init.sha256 is not None:
            raise UserError(f"{where(i, 'init')}: field 'init': parent_key and sha256 are filled in by the study; "
                            "allowed: from_variant or checkpoint")
        if init.checkpoint is not None:
            path = Path(init.checkpoint).expanduser()
            path = path if path.is_absolute() else (study.path.resolve().parent / path)
            if not path.is_file():
                raise UserError(f"{where(i, 'init.checkpoint')}: field 'init.checkpoint': no such file {str(path)!r}; "
                                "allowed: an existing final.pt or state-dict file (relative to the study file)")
            from augmix_lab.training.init import file_sha256

            resolved = _with_init(cfg, checkpoint=str(path), sha256=file_sha256(path))
        elif init.from_variant is not None:
            resolved = _with_init(cfg, parent_key=_parent_key(i))
        else:
            resolved = cfg
        out[i] = resolved
        return resolved

    def _parent_key(i: int) -> str:
        point, cfg = built[i]
        name = cfg.init.from_variant
        if name not in variants:
            raise UserError(f"{where(i, 'init.from_variant')}: field 'init.from_variant': unknown variant {name!r}; "
                            f"allowed: {', '.join(v for v in variants if v != point.variant)}")
        if name == point.variant:
            raise UserError(f"{where(i, 'init.from_variant')}: field 'init.from_variant': variant {name!r} cannot "
                            "start from itself")
        want = match_key(cfg)
        cands = [j for j, (q, c) in enumerate(built) if q.variant == name and match_key(c) == want]
        if not cands:
            raise UserError(f"{where(i, 'init.from_variant')}: field 'init.from_variant': variant {name!r} has no "
                            f"trial with seed {cfg.seed}, model {cfg.model!r} and the same training data "
                            f"(dataset {cfg.dataset.name!r}, options, train_subset, holdout) as {point.variant!r}")
        if len(cands) > 1:
            raise UserError(f"{where(i, 'init.from_variant')}: field 'init.from_variant': variant {name!r} has "
                            f"{len(cands)} trials with seed {cfg.seed} and this dataset/model (a grid or sweep applies "
                            "to it too); allowed: exactly one parent, e.g. list the fine-tuning points as variants")
        j = cands[0]
        if j in visiting:
            raise UserError(f"{where(i, 'init.from_variant')}: field 'init.from_variant': variants form a cycle "
                            f"through {name!r}")
        if j not in keys:
            visiting.add(j)
            try:
                parent = resolve(j)
            finally:
                visiting.discard(j)
            keys[j] = parent.fingerprint(version_of(parent.dataset))
        return keys[j]

    return [(built[i][0], resolve(i)) for i in range(len(built))]


def parent_of(cfg: TrialConfig) -> str | None:
    """The key of the trial whose final weights this one starts from (None: from scratch or a fixed file)."""
    return cfg.init.parent_key
