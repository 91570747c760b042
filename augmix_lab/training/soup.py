"""Build and score model soups from trials' final checkpoints (torch side; MLflow is the caller's business).

Recipe (Wortsman et al., ICML 2022, "Model soups", Sec. 3 and Algorithm 1): the uniform soup averages every member; the
greedy soup sorts members by held-out accuracy, starts from the best and adds the next one only if the soup's held-out
accuracy does not drop (``>=``). Held-out accuracy is measured on the last ``dataset.holdout`` training images (never
trained on); the test set and -C/-P never influence the choice. After averaging, BatchNorm statistics are re-estimated
on the (non-held-out) training images — also for every candidate inside the greedy loop, and for the members
themselves, so every held-out number is measured the same way. Each soup is then scored like a trial
(``evaluation.evaluate_model``: clean, -C, -P, calibration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch

from augmix_lab.analysis.soups import SoupMember, check_compatible, greedy_soup, recompute_batchnorm, uniform_soup
from augmix_lab.config import TrialConfig
from augmix_lab.device import resolve_device
from augmix_lab.errors import UserError
from augmix_lab.models import create_model
from augmix_lab.training.checkpoint import load_checkpoint
from augmix_lab.training.step import amp_dtype

HELDOUT_BATCH = 500


@dataclass(frozen=True)
class SoupIngredient:
    """A finished trial offered to a soup: its key, config, final checkpoint and init identity."""

    key: str
    config: TrialConfig
    checkpoint: Path
    init: str
    label: str = ""


@dataclass
class BuiltSoup:
    kind: str
    members: list[str]  # trial keys (greedy: in the order added)
    heldout_accuracy: float  # fraction in [0, 1]
    member_heldout: dict[str, float]
    history: list[dict[str, Any]]
    state_dict: dict[str, torch.Tensor] = field(repr=False)
    scorecard: Any = None


@torch.no_grad()
def heldout_accuracy(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor, mean: Sequence[float],
                     std: Sequence[float], device: torch.device) -> float:
    """Top-1 accuracy (fraction) of ``model`` on held-out uint8 images, normalised like training."""
    from augmix_lab.augment import normalize

    model.eval()
    right = torch.zeros((), dtype=torch.int64, device=device)
    for i in range(0, len(labels), HELDOUT_BATCH):
        x = normalize(images[i:i + HELDOUT_BATCH].to(device), mean, std)
        right += (model(x).argmax(1) == labels[i:i + HELDOUT_BATCH].to(device)).sum()
    return int(right) / max(1, len(labels))


def _load_members(ingredients: Sequence[SoupIngredient], version: str) -> list[SoupMember]:
    members = []
    for ing in ingredients:
        state = load_checkpoint(ing.checkpoint)
        if "config" not in state:
            raise UserError(f"{ing.checkpoint}: a resumable last.pt, not a final checkpoint")
        if state.get("fingerprint") != ing.config.fingerprint(version) or state.get("data_version") != version:
            raise UserError(f"{ing.checkpoint}: belongs to trial {state.get('fingerprint')} on data "
                            f"{state.get('data_version')!r}, not to soup member {ing.key} on {version!r}")
        members.append(SoupMember(name=ing.key, state_dict=state["model"], init=ing.init, arch=ing.config.model))
    return members


def build_soups(ingredients: Sequence[SoupIngredient], kinds: Sequence[str], *, heldout_n: int | None = None,
                bn_images: int | None = None, data_root: str | Path | None = None,
                evaluate: bool = True) -> list[BuiltSoup]:
    """The requested soups (``uniform``, ``greedy``) of one group, each BN-re-estimated and (optionally) evaluated."""
    from augmix_lab.data.holdout import split_holdout
    from augmix_lab.training.trainer import subset_dataset

    if not ingredients:
        raise UserError("soups: no members to average")
    cfg = ingredients[0].config
    if cfg.dataset.holdout is None:
        raise UserError(f"field 'dataset.holdout': soup member {ingredients[0].label or ingredients[0].key} has no "
                        "held-out split of the training data; allowed: dataset.holdout: N")
    device = resolve_device(cfg.device)
    from augmix_lab.data import load_dataset

    full = subset_dataset(load_dataset(cfg.dataset.name, root=cfg.dataset.root or data_root, **cfg.dataset.options),
                          cfg.dataset.train_subset, cfg.dataset.test_subset)
    ds, h_images, h_labels = split_holdout(full, cfg.dataset.holdout)
    if heldout_n is not None:
        h_images, h_labels = h_images[:heldout_n], h_labels[:heldout_n]
    bn_source = ds.train_images[:bn_images] if bn_images is not None else ds.train_images
    members = _load_members(ingredients, ds.version)
    check_compatible(members)  # different inits / architectures are refused here, before any averaging
    model = create_model(cfg.model, ds.num_classes, cfg.norm).to(device)

    def load(sd: Any) -> torch.nn.Module:
        model.load_state_dict(sd)
        # BN statistics of an average are not the average of statistics: re-estimate (paper Sec. 3; swa_utils.update_bn)
        return recompute_batchnorm(model, bn_source, mean=ds.mean, std=ds.std, device=device)

    def score(sd: Any) -> float:
        return heldout_accuracy(load(sd), h_images, h_labels, ds.mean, ds.std, device)

    member_acc = {m.name: score(m.state_dict) for m in members}
    out: list[BuiltSoup] = []
    for kind in kinds:
        if kind == "uniform":
            sd = uniform_soup([m.state_dict for m in members])
            names, history = [m.name for m in members], []
            acc = score(sd)
        elif kind == "greedy":
            sd, names, history = greedy_soup(members, score, member_accuracies=member_acc)
            acc = [h for h in history if h["accepted"]][-1]["soup_accuracy"]  # ">=": the last accepted is the best
        else:
            raise UserError(f"field 'soups.kinds': unknown soup kind {kind!r}; allowed: uniform, greedy")
        load(sd)
        final_sd = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}  # with re-estimated BN
        scorecard = None
        if evaluate:
            from augmix_lab.evaluation import evaluate_model

            model.eval()
            scorecard = evaluate_model(model, ds, cfg.eval, device=device, data_root=cfg.dataset.root or data_root,
                                       autocast_dtype=amp_dtype(cfg.train.amp, device))
        out.append(BuiltSoup(kind=kind, members=names, heldout_accuracy=acc, member_heldout=dict(member_acc),
                             history=history, state_dict=final_sd, scorecard=scorecard))
    return out
