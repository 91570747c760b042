"""Two-stage studies: resolve each trial's ``init`` (``from_variant`` or ``checkpoint``) during expansion.

A child trial's key depends on its parent's key (``init.parent_key``) or on its checkpoint file's content
(``init.sha256``), so changing the parent retrains the children, and identical two-stage trials dedup like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from augmix_lab.config import DatasetConfig, TrialConfig, file_sha256, tree_sha256
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
    resolver = _InitResolver(study, built, version_of)
    return [(built[i][0], resolver.resolve(i)) for i in range(len(built))]


class _InitResolver:
    """Resolves the inits of ``built`` (memoised, depth first through parents, cycles detected)."""

    def __init__(self, study: Study, built: list[tuple[Any, TrialConfig]],
                 version_of: Callable[[DatasetConfig], str]) -> None:
        self.study, self.built, self.version_of = study, built, version_of
        self.variants = sorted({p.variant for p, _ in built})
        self.out: list[TrialConfig | None] = [None] * len(built)
        self.keys: dict[int, str] = {}
        self.visiting: set[int] = set()

    def where(self, i: int, dotted: str) -> str:
        return self.study.lines.where(*self.built[i][0].origin(self.study, dotted))

    def error(self, i: int, dotted: str, message: str) -> UserError:
        return UserError(f"{self.where(i, dotted)}: field '{dotted}': {message}")

    def resolve(self, i: int) -> TrialConfig:
        if self.out[i] is None:
            self.out[i] = self._resolve(i)
        return self.out[i]  # type: ignore[return-value]

    def _resolve(self, i: int) -> TrialConfig:
        cfg = self.built[i][1]
        init = cfg.init
        if init.from_variant is not None and init.checkpoint is not None:
            raise self.error(i, "init", "give one of from_variant or checkpoint, not both")
        if init.parent_key is not None or init.sha256 is not None:
            raise self.error(i, "init", "parent_key and sha256 are filled in by the study; allowed: from_variant or "
                                        "checkpoint")
        if init.checkpoint is not None:
            path = Path(init.checkpoint).expanduser()
            path = path if path.is_absolute() else (self.study.path.resolve().parent / path)
            if not path.is_file():
                raise self.error(i, "init.checkpoint", f"no such file {str(path)!r}; allowed: an existing final.pt "
                                                       "or state-dict file (relative to the study file)")
            return _with_init(cfg, checkpoint=str(path), sha256=file_sha256(path))
        if init.from_variant is not None:
            return _with_init(cfg, parent_key=self.parent_key(i))
        return cfg

    def parent_index(self, i: int) -> int:
        """The one trial of the named variant with this trial's seed, model and training data."""
        point, cfg = self.built[i]
        name, dotted = cfg.init.from_variant, "init.from_variant"
        if name not in self.variants:
            raise self.error(i, dotted, f"unknown variant {name!r}; allowed: "
                                        f"{', '.join(v for v in self.variants if v != point.variant)}")
        if name == point.variant:
            raise self.error(i, dotted, f"variant {name!r} cannot start from itself")
        want = match_key(cfg)
        cands = [j for j, (q, c) in enumerate(self.built) if q.variant == name and match_key(c) == want]
        if not cands:
            raise self.error(i, dotted, f"variant {name!r} has no trial with seed {cfg.seed}, model {cfg.model!r} "
                                        f"and the same training data (dataset {cfg.dataset.name!r}, options, "
                                        f"train_subset, holdout) as {point.variant!r}")
        if len(cands) > 1:
            raise self.error(i, dotted, f"variant {name!r} has {len(cands)} trials with seed {cfg.seed} and this "
                                        "dataset/model (a grid or sweep applies to it too); allowed: exactly one "
                                        "parent, e.g. list the fine-tuning points as variants")
        return cands[0]

    def parent_key(self, i: int) -> str:
        j = self.parent_index(i)
        if j in self.visiting:
            raise self.error(i, "init.from_variant", f"variants form a cycle through {self.built[j][0].variant!r}")
        if j not in self.keys:
            self.visiting.add(j)
            try:
                parent = self.resolve(j)
            finally:
                self.visiting.discard(j)
            self.keys[j] = parent.fingerprint(self.version_of(parent.dataset))
        return self.keys[j]


def resolve_pretrained(study: Study, built: list[tuple[Any, TrialConfig]]) -> list[tuple[Any, TrialConfig]]:
    """``pretrained`` weights made absolute (relative to the study file) with their digest, and their input size
    checked against the dataset's: a mismatch is an error unless the trial sets ``resize`` to the weights' size."""
    from augmix_lab.data.base import planned_image_size
    from augmix_lab.models.timm_models import input_convention

    out = []
    for point, cfg in built:
        if cfg.pretrained is None:
            out.append((point, cfg))
            continue
        where = study.lines.where(*point.origin(study, "pretrained"))
        path = Path(cfg.pretrained).expanduser()
        path = path if path.is_absolute() else study.path.resolve().parent / path
        if not path.exists():
            raise UserError(f"{where}: field 'pretrained': no such file or folder {str(path)!r} (relative to the study "
                            "file); allowed: a weights file or a folder with config.json and weights")
        cfg = cfg.model_copy(update={"pretrained": str(path), "pretrained_sha256": tree_sha256(path)})
        try:
            convention = input_convention(cfg.model, cfg.pretrained)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        want = int(convention["input_size"][-1]) if convention else None
        size = planned_image_size(cfg.dataset.name, cfg.dataset.options)
        if want is not None and size is not None and (cfg.resize or size) != want:
            got = f"resize: {cfg.resize}" if cfg.resize else f"dataset {cfg.dataset.name!r} has {size}x{size} images"
            raise UserError(f"{where}: field 'pretrained': the weights expect {want}x{want} inputs (their pretrained "
                            f"config's input_size), but {got}; set resize: {want} (resizes every input) or use "
                            f"data of that size")
        out.append((point, cfg))
    return out


def parent_of(cfg: TrialConfig) -> str | None:
    """The key of the trial whose final weights this one starts from (None: from scratch or a fixed file)."""
    return cfg.init.parent_key
