"""Submitting a result: the file ``tfbench evaluate --save`` writes into ``results/``."""

from __future__ import annotations

import re
from pathlib import Path

from tfbench.errors import TfbenchError
from tfbench.results import ResultRecord


def result_file_name(record: ResultRecord) -> str:
    """File name for ``results/``: dataset, split, protocol, model, date and commit."""
    stamp = re.sub(r"[^0-9T]", "", record.date[:19])
    commit = record.git_commit[:8] if record.git_commit else "nocommit"
    parts = [record.dataset, record.split, record.protocol, record.model, stamp, commit]
    return "__".join(re.sub(r"[^A-Za-z0-9._-]+", "-", part) for part in parts) + ".json"


def save_result(record: ResultRecord, root: Path) -> Path:
    """Write ``record`` into ``<root>/results/`` (what ``tfbench evaluate --save`` does);
    refuses to overwrite a different record of the same name."""
    path = Path(root) / "results" / result_file_name(record)
    if path.exists() and ResultRecord.load(path).to_dict() != record.to_dict():
        raise TfbenchError(f"{path} already holds another result; move it away or re-run (a new date gives a new name)")
    return record.save(path)
