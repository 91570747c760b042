"""Two-stage studies: resolve each trial's ``init`` (``from_variant`` or ``checkpoint``) and ``teacher``
(self-training: ``from_variant``, and the previous round of a ``teacher.rounds`` chain) during expansion.

A child trial's key depends on its parent's key (``init.parent_key``, ``teacher.parent_key``) or on its checkpoint
file's content (``init.sha256``), so changing the parent retrains the children, and identical two-stage trials dedup
like any other. Both relations share one resolver, so a cycle through any mix of them is found.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from augmix_lab.config import DatasetConfig, TrialConfig, file_sha256, tree_sha256
from augmix_lab.errors import UserError
from augmix_lab.study.schema import Study

ROUND_AXIS = "round"  # the axis of a self-training chain's trials (teacher.rounds > 1)


def data_key(cfg: TrialConfig) -> tuple[Any, ...]:
    """The training data: name, options, subset, holdout and labelled split."""
    d = cfg.dataset
    labelled = d.labelled.model_dump_json() if d.labelled is not None else None
    return d.name, repr(sorted(d.options.items())), d.train_subset, d.holdout, labelled


def match_key(cfg: TrialConfig) -> tuple[Any, ...]:
    """What a parent must share with its child: seed, model and the training data."""
    return (cfg.seed, cfg.model, *data_key(cfg))


def _with_init(cfg: TrialConfig, **update: Any) -> TrialConfig:
    return cfg.model_copy(update={"init": cfg.init.model_copy(update=update)})


def _with_teacher(cfg: TrialConfig, **update: Any) -> TrialConfig:
    return cfg.model_copy(update={"teacher": cfg.teacher.model_copy(update=update)})


def expand_rounds(
    built: list[tuple[Any, TrialConfig]], with_axis: Callable[[Any, int], Any]
) -> list[tuple[Any, TrialConfig]]:
    """Each trial with ``teacher.rounds`` N > 1 becomes N trials, ``teacher.round`` 1..N, axis ``round`` = r
    (``with_axis(point, r)`` returns the point with that axis); round r's teacher is round r - 1."""
    out = []
    for point, cfg in built:
        rounds = cfg.teacher.rounds if cfg.teacher.is_set() else 1
        if rounds == 1:
            out.append((point, cfg))
            continue
        out += [(with_axis(point, r), _with_teacher(cfg, round=r)) for r in range(1, rounds + 1)]
    return out


def resolve_inits(
    study: Study, built: list[tuple[Any, TrialConfig]], version_of: Callable[[DatasetConfig], str]
) -> list[tuple[Any, TrialConfig]]:
    """Fill ``init.parent_key`` / ``init.sha256`` and ``teacher.parent_key`` of every trial that has them; parents
    before children.

    ``built`` holds (expansion point, config) pairs; a point has ``variant``, ``seed``, ``axes`` and
    ``origin(study, dotted)`` (candidate YAML paths for error lines). Raises ``UserError`` for an unknown or ambiguous
    parent, a cycle (through inits, teachers or both), a missing checkpoint file, or both kinds of init at once.
    """
    if not any(cfg.init.is_set() or cfg.teacher.is_set() for _, cfg in built):
        return built
    resolver = _InitResolver(study, built, version_of)
    return [(built[i][0], resolver.resolve(i)) for i in range(len(built))]


class _InitResolver:
    """Resolves the inits of ``built`` (memoised, depth first through parents, cycles detected)."""

    def __init__(
        self, study: Study, built: list[tuple[Any, TrialConfig]], version_of: Callable[[DatasetConfig], str]
    ) -> None:
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
        cfg = self._resolve_init(i)
        if not cfg.teacher.is_set():
            return cfg
        teacher = cfg.teacher
        if teacher.parent_key is not None or teacher.labels_file is not None:
            raise self.error(
                i,
                "teacher",
                "parent_key and labels_file are filled in by the study and its driver; "
                "allowed: from_variant and the labelling/loss options",
            )
        if teacher.from_variant is None:
            raise self.error(i, "teacher", "a student needs teacher.from_variant (the variant that labels its pool)")
        if teacher.round > teacher.rounds:
            raise self.error(
                i,
                "teacher.round",
                f"{teacher.round} is filled in by the study (rounds: {teacher.rounds}); do not set it",
            )
        return _with_teacher(cfg, parent_key=self.parent_key(i, "teacher"))

    def _resolve_init(self, i: int) -> TrialConfig:
        cfg = self.built[i][1]
        init = cfg.init
        if init.from_variant is not None and init.checkpoint is not None:
            raise self.error(i, "init", "give one of from_variant or checkpoint, not both")
        if init.parent_key is not None or init.sha256 is not None:
            raise self.error(
                i, "init", "parent_key and sha256 are filled in by the study; allowed: from_variant or checkpoint"
            )
        if init.checkpoint is not None:
            path = Path(init.checkpoint).expanduser()
            path = path if path.is_absolute() else (self.study.path.resolve().parent / path)
            if not path.is_file():
                raise self.error(
                    i,
                    "init.checkpoint",
                    f"no such file {str(path)!r}; allowed: an existing final.pt "
                    "or state-dict file (relative to the study file)",
                )
            return _with_init(cfg, checkpoint=str(path), sha256=file_sha256(path))
        if init.from_variant is not None:
            return _with_init(cfg, parent_key=self.parent_key(i, "init"))
        return cfg

    def parent_index(self, i: int, relation: str) -> int:
        """The one trial of the named variant with this trial's seed and training data (and model: an init always,
        a teacher when several match); a teacher of round r > 1 is the same variant's round r - 1."""
        point, cfg = self.built[i]
        if relation == "teacher" and cfg.teacher.round > 1:
            return self.previous_round(i)
        name = cfg.init.from_variant if relation == "init" else cfg.teacher.from_variant
        dotted = f"{relation}.from_variant"
        if name not in self.variants:
            raise self.error(
                i,
                dotted,
                f"unknown variant {name!r}; allowed: {', '.join(v for v in self.variants if v != point.variant)}",
            )
        if name == point.variant:
            raise self.error(
                i,
                dotted,
                f"variant {name!r} cannot start from itself"
                if relation == "init"
                else f"variant {name!r} cannot teach itself (use teacher.rounds for a chain)",
            )
        same_data = cfg.init.same_data if relation == "init" else True
        want = (cfg.seed, *data_key(cfg)) if same_data else (cfg.seed,)
        cands = [
            j
            for j, (q, c) in enumerate(self.built)
            if q.variant == name
            and ((c.seed, *data_key(c)) if same_data else (c.seed,)) == want
            and (c.teacher.round == c.teacher.rounds or not c.teacher.is_set())
        ]  # a chain teaches from its end
        if relation == "init" or len(cands) > 1:
            cands = [j for j in cands if self.built[j][1].model == cfg.model]
        if relation == "teacher" and len(cands) > 1:  # a grid over both: the teacher at the student's grid point
            same_point = [j for j in cands if _axes(self.built[j][0]) == _axes(point)]
            cands = same_point or cands
        if not cands:
            data = (
                f"the same training data (dataset, options, train_subset, holdout, labelled) as {point.variant!r}"
                if same_data
                else "any training data"
            )
            raise self.error(
                i,
                dotted,
                f"variant {name!r} has no trial with seed {cfg.seed}"
                f"{f', model {cfg.model!r}' if relation == 'init' else ''} and {data}",
            )
        if len(cands) > 1:
            raise self.error(
                i,
                dotted,
                f"variant {name!r} has {len(cands)} trials with seed {cfg.seed} and this "
                "dataset/model (a grid or sweep applies to it too); allowed: exactly one "
                "parent, e.g. list the points as variants",
            )
        return cands[0]

    def previous_round(self, i: int) -> int:
        """Round r - 1 of this trial's chain (same variant, seed and other axes)."""
        point, cfg = self.built[i]
        want = cfg.teacher.round - 1
        cands = [
            j
            for j, (q, c) in enumerate(self.built)
            if q.variant == point.variant
            and q.seed == point.seed
            and c.teacher.round == want
            and _axes(q) == _axes(point)
        ]
        if len(cands) != 1:  # pragma: no cover - expand_rounds makes exactly one per round
            raise self.error(i, "teacher.rounds", f"round {want} of variant {point.variant!r} not found")
        return cands[0]

    def parent_key(self, i: int, relation: str) -> str:
        j = self.parent_index(i, relation)
        if j in self.visiting or j == i:
            raise self.error(
                i, f"{relation}.from_variant", f"variants form a cycle through {self.built[j][0].variant!r}"
            )
        if j not in self.keys:
            self.visiting.add(j)
            try:
                parent = self.resolve(j)
            finally:
                self.visiting.discard(j)
            self.keys[j] = parent.fingerprint(self.version_of(parent.dataset))
        return self.keys[j]


def _axes(point: Any) -> str:
    """A point's axis values but the round, comparable (JSON)."""
    return json.dumps({k: v for k, v in point.axes.items() if k != ROUND_AXIS}, sort_keys=True, default=str)


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
            raise UserError(
                f"{where}: field 'pretrained': no such file or folder {str(path)!r} (relative to the study "
                "file); allowed: a weights file or a folder with config.json and weights"
            )
        cfg = cfg.model_copy(update={"pretrained": str(path), "pretrained_sha256": tree_sha256(path)})
        try:
            convention = input_convention(cfg.model, cfg.pretrained)
        except UserError as exc:
            raise UserError(f"{where}: {exc}") from None
        want = int(convention["input_size"][-1]) if convention else None
        size = planned_image_size(cfg.dataset.name, cfg.dataset.options)
        if want is not None and size is not None and (cfg.resize or size) != want:
            got = f"resize: {cfg.resize}" if cfg.resize else f"dataset {cfg.dataset.name!r} has {size}x{size} images"
            raise UserError(
                f"{where}: field 'pretrained': the weights expect {want}x{want} inputs (their pretrained "
                f"config's input_size), but {got}; set resize: {want} (resizes every input) or use "
                f"data of that size"
            )
        out.append((point, cfg))
    return out


def parent_of(cfg: TrialConfig) -> str | None:
    """The key of the trial whose final weights this one starts from (None: from scratch or a fixed file)."""
    return cfg.init.parent_key


def teacher_of(cfg: TrialConfig) -> str | None:
    """The key of the trial whose pseudo-labels this one (a self-training student) learns from."""
    return cfg.teacher.parent_key


def parents_of(cfg: TrialConfig) -> tuple[str, ...]:
    """Every trial that must finish before this one starts: its init's parent and its teacher."""
    return tuple(k for k in (parent_of(cfg), teacher_of(cfg)) if k is not None)
