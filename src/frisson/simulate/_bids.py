"""The study-level files of every simulated BIDS dataset: participants and description."""

from __future__ import annotations

from pathlib import Path


def write_dataset_files(root: Path, participant_rows: list[dict], *, name: str) -> None:
    """Write ``participants.tsv`` (one row per participant) and ``dataset_description.json``."""
    import json

    import pandas as pd

    from frisson import __version__

    pd.DataFrame(participant_rows).to_csv(root / "participants.tsv", sep="\t", index=False)
    (root / "dataset_description.json").write_text(
        json.dumps(
            {
                "Name": name,
                "BIDSVersion": "1.9.0",
                "DatasetType": "raw",
                "GeneratedBy": [{"Name": "frisson", "Version": __version__}],
            },
            indent=2,
        )
    )
