"""Model soups (Wortsman et al., ICML 2022, arXiv 2203.05482): uniform and greedy weight averaging of fine-tuned
members that share one initialisation, plus BatchNorm re-estimation after averaging.

Soup kinds are a registry (``SOUP_KINDS``): a recipe is one function ``(members, score, member_accuracies) ->
SoupResult`` under ``@register_soup_kind(name, order=, marker=)``; the study's ``soups.kinds`` is checked against it and
the report orders (and marks) soups by it. torch is imported where weights are averaged, so the study and the report
read the registry without it.

Integer buffers (BatchNorm ``num_batches_tracked``, any index table) are never averaged — a mean of counters means
nothing — they are copied from the first member (the best one in a greedy soup); ``recompute_batchnorm`` then resets
the BatchNorm counters and statistics anyway.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from augmix_lab.errors import UserError
from augmix_lab.registry import Registry

if TYPE_CHECKING:
    import torch

StateDict = Mapping[str, "torch.Tensor"]


@dataclass(frozen=True)
class SoupMember:
    """One soup ingredient: a trial's final weights and the identities that must match across a soup."""

    name: str
    state_dict: StateDict
    init: str  # study-level init identity (e.g. the base checkpoint's hash); from-scratch runs each have their own
    arch: str = ""  # model name/config identity; members must agree


def check_compatible(members: Sequence[SoupMember]) -> None:
    """Refuse members that cannot be averaged: different inits (no shared basin), architectures, keys or shapes."""
    if not members:
        raise UserError(
            "soups: no members to average; allowed: one or more finished trials of one (dataset, model, init)"
        )
    names = [m.name for m in members]
    if len(set(names)) != len(names):
        raise UserError(f"soups: duplicate member names {sorted(n for n in set(names) if names.count(n) > 1)}")
    first = members[0]
    # soups need one shared init: unrelated from-scratch networks average badly (Wortsman et al.; arXiv 2301.10092)
    inits = sorted({m.init for m in members})
    if len(inits) > 1:
        by = {i: [m.name for m in members if m.init == i] for i in inits}
        raise UserError(
            f"soups: members have different inits {by}; allowed: members fine-tuned from one shared init "
            "(use init: {from_variant: ...} so a sweep branches from one base model)"
        )
    archs = sorted({m.arch for m in members})
    if len(archs) > 1:
        by = {a: [m.name for m in members if m.arch == a] for a in archs}
        raise UserError(f"soups: members have different architectures {by}; allowed: one model per soup")
    keys = set(first.state_dict)
    for m in members[1:]:
        if set(m.state_dict) != keys:
            diff = sorted(keys.symmetric_difference(m.state_dict))[:5]
            raise UserError(f"soups: member {m.name!r} has different weight names than {first.name!r} (e.g. {diff})")
        for k, v in m.state_dict.items():
            ref = first.state_dict[k]
            if v.shape != ref.shape or v.dtype != ref.dtype:
                raise UserError(
                    f"soups: member {m.name!r} weight {k!r} is {v.dtype}{tuple(v.shape)}, "
                    f"{first.name!r} has {ref.dtype}{tuple(ref.shape)}; members must share one "
                    "architecture"
                )


def uniform_soup(state_dicts: Sequence[StateDict]) -> dict[str, torch.Tensor]:
    """Mean of all members' floating-point weights (the paper's uniform soup; model-soups main.py); integer buffers
    are copied from member 0."""
    import torch

    if not state_dicts:
        raise UserError("soups: uniform_soup needs at least one state dict")
    first = state_dicts[0]
    out: dict[str, torch.Tensor] = {}
    for k, ref in first.items():
        if ref.is_floating_point() or ref.is_complex():
            # accumulate in float64 so a long soup of float16/float32 weights does not drift
            acc = torch.zeros(
                ref.shape, dtype=torch.float64 if not ref.is_complex() else torch.complex128, device=ref.device
            )
            for sd in state_dicts:
                acc += sd[k].to(device=ref.device, dtype=acc.dtype)
            out[k] = (acc / len(state_dicts)).to(ref.dtype)
        else:
            out[k] = ref.clone()  # counters/indices are not averaged (module docstring)
    return out


def greedy_soup(
    members: Sequence[SoupMember],
    heldout_accuracy_fn: Callable[[StateDict], float],
    *,
    member_accuracies: Mapping[str, float] | None = None,
    strict: bool = False,
) -> tuple[dict[str, torch.Tensor], list[str], list[dict[str, Any]]]:
    """Greedy soup, the paper's Algorithm 1: sort members by held-out accuracy (descending), start from the best, add
    each next one only if the soup's held-out accuracy does not drop (``>=``, as Algorithm 1 states).

    ``strict=True`` uses the released code's ``>`` (mlfoundations/model-soups main.py) instead. ``heldout_accuracy_fn``
    gets a state dict and returns its accuracy (fraction) on the held-out split of the *training* data; it must score
    a soup exactly as the final soup is scored (e.g. re-estimate BatchNorm first). ``member_accuracies`` skips
    re-scoring the members. Returns (soup state dict, chosen member names in order, history rows).
    """
    check_compatible(members)
    acc = {
        m.name: float(member_accuracies[m.name])
        if member_accuracies and m.name in member_accuracies
        else float(heldout_accuracy_fn(m.state_dict))
        for m in members
    }
    # stable sort: ties keep the given order, so the result is deterministic
    ordered = sorted(members, key=lambda m: -acc[m.name])
    chosen = [ordered[0]]
    soup = uniform_soup([ordered[0].state_dict])
    best = acc[ordered[0].name]
    history: list[dict[str, Any]] = [
        {"name": ordered[0].name, "member_accuracy": best, "soup_accuracy": best, "accepted": True}
    ]
    for m in ordered[1:]:
        candidate = uniform_soup([c.state_dict for c in chosen] + [m.state_dict])
        cand_acc = float(heldout_accuracy_fn(candidate))
        accepted = cand_acc > best if strict else cand_acc >= best
        history.append(
            {"name": m.name, "member_accuracy": acc[m.name], "soup_accuracy": cand_acc, "accepted": accepted}
        )
        if accepted:
            chosen.append(m)
            soup, best = candidate, cand_acc
    return soup, [c.name for c in chosen], history


@dataclass
class SoupResult:
    """What a recipe returns: the soup's weights, its members (in the order added), its held-out accuracy (fraction)
    and the recipe's history rows (greedy: one per candidate)."""

    state_dict: dict[str, torch.Tensor] = field(repr=False)
    members: list[str]
    accuracy: float
    history: list[dict[str, Any]] = field(default_factory=list)


SoupRecipe = Callable[[Sequence[SoupMember], Callable[[StateDict], float], Mapping[str, float]], SoupResult]
SOUP_KINDS: Registry[SoupRecipe] = Registry("soup kind")


def register_soup_kind(name: str, *, order: int, marker: str = "*") -> Callable[[SoupRecipe], SoupRecipe]:
    """``@register_soup_kind("uniform", order=0, marker="s")`` on ``recipe(members, score, member_accuracies)``:
    ``score`` maps a state dict to its held-out accuracy exactly as the final soup is scored; ``order`` places the
    kind in the study's default list and the report; ``marker`` is its matplotlib marker in the soups plot."""
    return SOUP_KINDS.register(name, order=order, marker=marker)


def soup_kinds() -> list[str]:
    """Every registered soup kind, in ``order`` (the default of the study's ``soups.kinds``)."""
    return sorted(SOUP_KINDS.names(), key=lambda k: (SOUP_KINDS.meta(k)["order"], k))


@register_soup_kind("uniform", order=0, marker="s")
def uniform_recipe(
    members: Sequence[SoupMember], score: Callable[[StateDict], float], member_accuracies: Mapping[str, float]
) -> SoupResult:
    """Every member averaged (the paper's uniform soup)."""
    sd = uniform_soup([m.state_dict for m in members])
    return SoupResult(sd, [m.name for m in members], float(score(sd)))


@register_soup_kind("greedy", order=1, marker="*")
def greedy_recipe(
    members: Sequence[SoupMember], score: Callable[[StateDict], float], member_accuracies: Mapping[str, float]
) -> SoupResult:
    """Algorithm 1 (``>=``): the last accepted candidate's accuracy is the soup's."""
    sd, names, history = greedy_soup(members, score, member_accuracies=member_accuracies)
    return SoupResult(sd, names, [h for h in history if h["accepted"]][-1]["soup_accuracy"], history)


def _bn_modules(model: torch.nn.Module) -> list[torch.nn.modules.batchnorm._BatchNorm]:
    import torch

    return [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]


def recompute_batchnorm(
    model: torch.nn.Module,
    images_uint8: torch.Tensor,
    normalize_fn: Callable[[torch.Tensor], torch.Tensor],
    *,
    batch_size: int = 256,
    device: torch.device | str | None = None,
) -> torch.nn.Module:
    """Re-estimate every BatchNorm's running statistics on (training) images after weight averaging, in place.

    Like torch.optim.swa_utils.update_bn (reset stats, train-mode forward without grad), but each batch is weighted by
    its size (momentum = batch / images seen) so the running mean equals the exact mean over all images even when the
    last batch is short; the running variance is the size-weighted mean of the per-batch unbiased variances.
    ``images_uint8`` is N×3×H×W uint8; ``normalize_fn`` (uint8 batch on device -> model input) is the scorer's
    (``evaluation.Scorer.inputs``: the one normaliser). Mode and momenta are restored afterwards.
    """
    import torch

    if batch_size < 1:
        raise UserError(f"recompute_batchnorm: batch_size={batch_size}; allowed: >= 1")
    bns = _bn_modules(model)
    if not bns:
        return model  # nothing to re-estimate
    if len(images_uint8) == 0:
        raise UserError("recompute_batchnorm: no training images to estimate BatchNorm statistics from")
    if device is None:
        device = next(iter(model.parameters()), torch.empty(0)).device
    was_training, momenta = model.training, [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
    model.train()
    seen = 0
    try:
        with torch.no_grad():
            for i in range(0, len(images_uint8), batch_size):
                batch = torch.as_tensor(images_uint8[i : i + batch_size]).to(device, non_blocking=True)
                seen += len(batch)
                for bn in bns:
                    bn.momentum = len(batch) / seen  # running = (1 - b/seen) * running + (b/seen) * batch stat
                model(normalize_fn(batch))
    finally:
        for bn, mom in zip(bns, momenta):
            bn.momentum = mom
        model.train(was_training)
    return model
