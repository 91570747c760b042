"""The ``soups:`` section of a study and its members: which finished trials are averaged together.

Model soups (Wortsman et al., ICML 2022, arXiv 2203.05482) average fine-tuned models that share one initialisation. A
study's soups are built per (training data, model, init) group: by default every trial that starts from another trial
(``init``) joins the group of its parent; ``variants`` picks members explicitly. Members are scored on the held-out
split of the *training* data (``dataset.holdout``), never on the test set or the -C/-P benchmarks.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import Field

from augmix_lab.config import StrictModel
from augmix_lab.errors import UserError

if TYPE_CHECKING:  # pragma: no cover
    from augmix_lab.study.expand import Trial
    from augmix_lab.study.schema import Study


class SoupHeldoutSpec(StrictModel):
    n: int | None = Field(None, ge=1, description="score on the first n held-out images; None = all of dataset.holdout")


class SoupsSpec(StrictModel):
    """``soups: {enabled: true, kinds: [uniform, greedy], heldout: {n: 500}}``."""

    enabled: bool = Field(False, description="build the soups after the study's trials (augmix-lab soup: always)")
    kinds: list[str] | None = Field(
        None,
        min_length=1,
        description="soup recipes of analysis.soups.SOUP_KINDS (uniform, greedy); None = every registered kind",
    )
    heldout: SoupHeldoutSpec = Field(default_factory=SoupHeldoutSpec)
    variants: list[str] | None = Field(None, description="members' variants; None = every trial that has an init")
    bn_images: int | None = Field(None, ge=1, description="training images to re-estimate BatchNorm on; None = all")
    min_members: int = Field(2, ge=2, description="smaller groups are skipped (a soup of one is that model)")


@dataclass(frozen=True)
class SoupGroup:
    """Trials whose weights may be averaged: same training data, model and init."""

    name: str
    init: str  # the shared parent's key (or checkpoint hash)
    members: tuple[Trial, ...]

    def soup_key(self, kind: str, spec: SoupsSpec) -> str:
        """Identity of one soup: kind, members, held-out and BatchNorm settings and evaluation settings."""
        payload = {
            "kind": kind,
            "members": sorted(t.key for t in self.members),
            "heldout": spec.heldout.n,
            "bn_images": spec.bn_images,
            "eval": self.members[0].eval_key,
        }
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def init_identity(trial: Trial) -> str:
    """A trial's init: its parent's key or its checkpoint's hash; a from-scratch trial is its own (random) init."""
    ident = trial.config.init.identity() if trial.config.init.is_set() else None
    if ident is None:
        return f"scratch:{trial.key}"
    return ident.get("parent") or f"sha256:{ident['sha256']}"


def _data_model(trial: Trial) -> tuple[Any, ...]:
    c = trial.config
    d = c.dataset
    return d.name, json.dumps(d.options, sort_keys=True), d.train_subset, d.holdout, c.model


def check_same_init(members: list[Trial]) -> None:
    """Refuse members with different inits: averaging unrelated networks fails (no shared loss basin)."""
    inits: dict[str, list[str]] = {}
    for t in members:
        inits.setdefault(init_identity(t), []).append(t.label)
    if len(inits) > 1:
        scratch = [lab for i, labs in inits.items() if i.startswith("scratch:") for lab in labs]
        why = f" ({', '.join(scratch)} trained from scratch: each has its own random init)" if scratch else ""
        raise UserError(
            f"soups: members have different inits{why}; a soup averages models fine-tuned from one shared init "
            "(Wortsman et al. 2022: soups of independently trained networks fail); allowed: members that start from "
            "one parent, e.g. init: {from_variant: base}"
        )


def soup_groups(trials: list[Trial], spec: SoupsSpec) -> list[SoupGroup]:
    """The study's soup groups with at least ``min_members`` trials, in a stable order."""
    if spec.variants is not None:
        chosen = [t for t in trials if t.variant in spec.variants]
        by_data: dict[tuple[Any, ...], list[Trial]] = {}
        for t in chosen:
            by_data.setdefault(_data_model(t), []).append(t)
        groups = list(by_data.values())
        for g in groups:
            check_same_init(g)
    else:
        by_init: dict[tuple[Any, ...], list[Trial]] = {}
        for t in trials:
            if t.config.init.is_set():
                by_init.setdefault(_data_model(t) + (init_identity(t),), []).append(t)
        groups = list(by_init.values())
    out = []
    for g in groups:
        if len(g) < spec.min_members:
            continue
        c = g[0].config
        ident = init_identity(g[0])
        out.append(
            SoupGroup(name=f"{c.dataset.name}-{c.model}-init{ident.split(':')[-1][:8]}", init=ident, members=tuple(g))
        )
    return out


def check_soups(study: Study, trials: list[Trial], force: bool = False) -> None:
    """Validate the soups section against the expanded trials before anything starts (no-op unless enabled/forced)."""
    from augmix_lab.analysis.soups import SOUP_KINDS

    spec: SoupsSpec = study.spec.soups
    for i, kind in enumerate(spec.kinds or []):
        if kind not in SOUP_KINDS:
            raise study.error([("soups", "kinds", i)], f"field 'soups.kinds': {SOUP_KINDS.unknown_message(kind)}")
    if not (spec.enabled or force):
        return
    variants = {t.variant for t in trials}
    for i, v in enumerate(spec.variants or []):
        if v not in variants:
            raise study.error(
                [("soups", "variants", i)],
                f"field 'soups.variants': unknown variant {v!r}; allowed: {', '.join(sorted(variants))}",
            )
    try:
        groups = soup_groups(trials, spec)
    except UserError as exc:
        raise study.error([("soups", "variants"), ("soups",)], str(exc)) from None
    if not groups:
        raise study.error(
            [("soups", "enabled"), ("soups",)],
            f"field 'soups.enabled': no group of {spec.min_members}+ trials sharing one init (same "
            "dataset and model); allowed: a fine-tuning sweep whose variants start from one base model "
            "with init: {from_variant: NAME} (soups of from-scratch networks fail)",
        )
    for g in groups:
        for t in g.members:
            holdout = t.config.dataset.holdout
            if holdout is None:
                raise study.error(
                    [("base", "dataset"), ("soups",)],
                    f"field 'dataset.holdout': soups choose members on a held-out split of the training "
                    f"data, but trial {t.label} has none; allowed: dataset.holdout: N (the last N "
                    "training images, never trained on)",
                )
            if spec.heldout.n is not None and spec.heldout.n > holdout:
                raise study.error(
                    [("soups", "heldout", "n")],
                    f"field 'soups.heldout.n': {spec.heldout.n} is more than dataset.holdout = "
                    f"{holdout}; "
                    f"allowed: 1..{holdout}",
                )
