"""A trial's datasets as MLflow run inputs: the training set and every benchmark it was scored on.

MLflow shows run inputs in the runs table's Dataset column and filters by them (``dataset.name``, ``dataset.digest``,
``dataset.context`` in search filters). Each record is plain data; ``to_mlflow`` turns it into MLflow's
``DatasetInput`` (entity ``Dataset`` + the ``mlflow.data.context`` input tag, mlflow/data/dataset.py conventions).
The store keeps one dataset per (experiment, name, digest), so the digest hashes everything that makes the data
differ: the dataset's version string, and for a benchmark also its source and the cells evaluated.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from augmix_lab.tracking.tags import TRACKING_TAGS

CONTEXT_TRAIN = "train"
CONTEXT_EVAL = "eval"
SOURCE_TYPE = "augmix_lab"  # MLflow's column allows 36 chars; the UI shows the JSON source as text for unknown types
DIGEST_CHARS = 12  # MLflow allows 36 (MAX_DATASET_DIGEST_SIZE); its own digests are 8-10 hex chars
_BENCHMARK_SUFFIX = {"C": "-C", "P": "-P"}  # dataset "cifar10" + benchmark "C" -> "cifar10-C" (Hendrycks & Dietterich)


@dataclass(frozen=True)
class DatasetRecord:
    """One dataset a trial used: its name, what identifies its content, where it came from and its role."""

    name: str
    version: str  # the content identity; hashed into the digest
    context: str  # CONTEXT_TRAIN | CONTEXT_EVAL
    source: Mapping[str, Any]  # JSON-able: origin, options, the benchmark's source (released/generated/on_the_fly)
    profile: Mapping[str, Any] = field(default_factory=dict)  # JSON-able summary (cells, images)

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.version.encode()).hexdigest()[:DIGEST_CHARS]

    def to_mlflow(self) -> Any:
        from mlflow.entities import Dataset, DatasetInput, InputTag

        dataset = Dataset(
            name=self.name,
            digest=self.digest,
            source_type=SOURCE_TYPE,
            source=json.dumps(dict(self.source), sort_keys=True, default=str),
            profile=json.dumps(dict(self.profile), sort_keys=True, default=str) if self.profile else None,
        )
        return DatasetInput(dataset=dataset, tags=[InputTag(key=TRACKING_TAGS.data_context, value=self.context)])


def training_record(
    name: str, version: str, options: Mapping[str, Any] | None = None, origin: str | None = None
) -> DatasetRecord:
    """The training set (its clean test split is scored too; MLflow keeps one input per dataset and run)."""
    source = {"dataset": name, "options": dict(options or {}), **({"origin": origin} if origin else {})}
    return DatasetRecord(name=name, version=version, context=CONTEXT_TRAIN, source=source)


def benchmark_records(name: str, version: str, table: Any) -> list[DatasetRecord]:
    """One record per benchmark in a scorecard's tidy table (``benchmark``, ``corruption``, ``severity``, ``source``,
    ``n`` columns): ``<name>-C`` / ``<name>-P`` with the source(s) its rows came from and the cells evaluated."""
    if table is None or "benchmark" not in table:
        return []
    records = []
    for bench in sorted({str(b) for b in table["benchmark"].dropna()} - {"clean"}):
        rows = table[table["benchmark"].astype(str) == bench]
        sources = sorted({str(s) for s in rows["source"].dropna()}) if "source" in rows else []
        cells = sorted({(str(c), int(s)) for c, s in zip(rows["corruption"], rows["severity"])})
        identity = json.dumps({"version": version, "benchmark": bench, "sources": sources, "cells": cells})
        images = int(rows["n"].fillna(0).sum()) if "n" in rows else None
        profile = {
            "cells": len(cells),
            "corruptions": len({c for c, _ in cells}),
            "severities": sorted({s for _, s in cells}),
            **({"images": images} if images is not None else {}),
        }
        records.append(
            DatasetRecord(
                name=f"{name}{_BENCHMARK_SUFFIX.get(bench, '-' + bench)}",
                version=identity,
                context=CONTEXT_EVAL,
                source={"dataset": name, "benchmark": bench, "source": "+".join(sources) or "unknown"},
                profile=profile,
            )
        )
    return records
