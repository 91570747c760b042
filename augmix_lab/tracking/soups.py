"""Model soups in the store: one run per soup (tag ``augmix_lab.role = soup``), nested under the study's parent run.

A soup run carries its kind, its members (trial keys), the held-out accuracies that chose them and the greedy history,
plus the same final scorecard metrics and artifacts as a trial run (``TrialLogger.log_scorecard``), so the report can
put soups beside trials. ``finished_soups`` lets a re-run skip soups already built; ``soup_results`` is what the report
reads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from augmix_lab.evaluation.registry import (
    HELDOUT_ACCURACY,
    HELDOUT_ACCURACY_BEST_MEMBER,
    HELDOUT_ACCURACY_MEMBERS_MEAN,
    SOUP_CANDIDATES,
    SOUP_SIZE,
)
from augmix_lab.tracking.lookup import experiment_id, search_runs, tag_filter
from augmix_lab.tracking.records import TRACKING_TAGS, limit_tag
from augmix_lab.tracking.store import call_with_retries, make_client
from augmix_lab.tracking.tags import ROLE_SOUP
from augmix_lab.tracking.trial import TrialLogger

HISTORY_ARTIFACT = "soup/history.json"
MEMBERS_ARTIFACT = "soup/members.json"
SOUP_CHECKPOINT_DIR = "checkpoints"


def _soup_runs(client: Any, exp_id: str, study: str | None) -> list[Any]:
    """The experiment's soup runs (of one study), oldest first, through the one pager (``lookup.search_runs``)."""
    flt = tag_filter(TRACKING_TAGS.role, ROLE_SOUP)
    return search_runs(client, [exp_id], flt + (f" and {tag_filter(TRACKING_TAGS.study, study)}" if study else ""))


def finished_soups(uri: str, experiment: str, study: str) -> dict[str, str]:
    """``{soup_key: run_id}`` of this study's FINISHED soup runs (newest wins)."""
    client = make_client(uri)
    exp_id = experiment_id(client, experiment)
    if exp_id is None:
        return {}
    return {
        r.data.tags[TRACKING_TAGS.soup_key]: r.info.run_id
        for r in _soup_runs(client, exp_id, study)
        if r.info.status == "FINISHED" and TRACKING_TAGS.soup_key in r.data.tags
    }


def start_soup_run(
    uri: str,
    experiment_id: str,
    parent_id: str,
    *,
    study: str,
    soup_key: str,
    kind: str,
    group: str,
    init: str,
    candidates: Sequence[str],
    eval_key: str,
) -> str:
    """Create the soup's run (driver side, like trial runs); an unfinished run of the same soup is reused."""
    client = make_client(uri)
    t = TRACKING_TAGS
    tags = {
        t.role: ROLE_SOUP,
        t.study: study,
        t.soup_key: soup_key,
        t.soup_kind: kind,
        t.soup_group: group,
        t.soup_init: init,
        t.eval_key: eval_key,
        t.soup_candidates: limit_tag(json.dumps(list(candidates))),
        t.parent_run_id: parent_id,
    }
    old = [
        r
        for r in _soup_runs(client, experiment_id, study)
        if r.data.tags.get(TRACKING_TAGS.soup_key) == soup_key and r.info.status != "FINISHED"
    ]
    if old:
        run_id = old[-1].info.run_id
        call_with_retries(client.update_run, run_id, status="RUNNING")
        for k, v in tags.items():
            call_with_retries(client.set_tag, run_id, k, v)
        return run_id
    run = call_with_retries(client.create_run, experiment_id, run_name=f"soup-{kind}-{group}", tags=tags)
    return run.info.run_id


def log_soup(
    uri: str,
    run_id: str,
    *,
    members: Sequence[str],
    member_heldout: Mapping[str, float],
    heldout_accuracy: float,
    history: Sequence[Mapping[str, Any]],
    summary: Mapping[str, float],
    table: Any,
    checkpoint: str | Path | None = None,
) -> None:
    """Record a built soup: members, held-out accuracies, greedy history, scorecard; then mark the run FINISHED."""
    client = make_client(uri)
    accs = [float(member_heldout[k]) for k in member_heldout]
    call_with_retries(client.set_tag, run_id, TRACKING_TAGS.soup_members, limit_tag(json.dumps(list(members))))
    logger = TrialLogger(uri, run_id)
    extra = {
        HELDOUT_ACCURACY: heldout_accuracy,
        SOUP_SIZE: len(members),
        SOUP_CANDIDATES: len(accs),
        HELDOUT_ACCURACY_BEST_MEMBER: max(accs),
        HELDOUT_ACCURACY_MEMBERS_MEAN: sum(accs) / len(accs),
    }
    logger.log_scorecard({**summary, **extra}, table)
    call_with_retries(client.log_text, run_id, json.dumps([dict(h) for h in history], indent=1), HISTORY_ARTIFACT)
    call_with_retries(
        client.log_text,
        run_id,
        json.dumps(
            {"members": list(members), "member_heldout_accuracy": dict(member_heldout)}, indent=1, sort_keys=True
        ),
        MEMBERS_ARTIFACT,
    )
    if checkpoint is not None:
        call_with_retries(client.log_artifact, run_id, str(checkpoint), SOUP_CHECKPOINT_DIR)
    logger.set_status("FINISHED")


def fail_soup(uri: str, run_id: str, reason: str) -> None:
    TrialLogger(uri, run_id).set_status("FAILED", reason)


def soup_results(uri: str, experiment: str, study: str | None = None) -> list[dict[str, Any]]:
    """Every FINISHED soup of the experiment (optionally one study): kind, group, init, members, held-out accuracies,
    greedy history and final metrics (``metrics``: the scorecard keys of docs/architecture.md plus
    ``heldout_accuracy``, a fraction)."""
    client = make_client(uri)
    exp_id = experiment_id(client, experiment)
    if exp_id is None:
        return []
    out = []
    for r in _soup_runs(client, exp_id, study):
        if r.info.status != "FINISHED":
            continue
        tags = r.data.tags
        history = json.loads(_read_text(client, r.info.run_id, HISTORY_ARTIFACT) or "[]")
        members_doc = json.loads(_read_text(client, r.info.run_id, MEMBERS_ARTIFACT) or "{}")
        out.append(
            {
                "run_id": r.info.run_id,
                "study": tags.get(TRACKING_TAGS.study),
                "kind": tags.get(TRACKING_TAGS.soup_kind),
                "group": tags.get(TRACKING_TAGS.soup_group),
                "init": tags.get(TRACKING_TAGS.soup_init),
                "soup_key": tags.get(TRACKING_TAGS.soup_key),
                "members": json.loads(tags.get(TRACKING_TAGS.soup_members, "[]")),
                "candidates": json.loads(tags.get(TRACKING_TAGS.soup_candidates, "[]")),
                "member_heldout_accuracy": members_doc.get("member_heldout_accuracy", {}),
                "history": history,
                "metrics": dict(r.data.metrics),
            }
        )
    return out


def _read_text(client: Any, run_id: str, path: str) -> str | None:
    import tempfile

    try:
        with tempfile.TemporaryDirectory(prefix="augmix-lab-soup-") as tmp:
            local = call_with_retries(client.download_artifacts, run_id, path, tmp)
            return Path(local).read_text()
    except Exception:  # noqa: BLE001 - a soup logged without the artifact: report what the tags say
        return None
