"""The study-level files of every simulated BIDS dataset: description, README, participants."""

from __future__ import annotations

from pathlib import Path

#: What every simulated study's README says about itself, before its own layout.
_README_HEAD = """# {name}

A synthetic dataset written by frisson's simulator (`frisson {command}`). Every
response in it was composed by the simulator from the stimuli in `stimuli/`, so
its ground truth is known: it lies in `derivatives/ground_truth/` (the planted
parameters, seed and per-stimulus truth). It holds no data from any person.

`stim_file` in the events tables is relative to `stimuli/`, as BIDS asks.
"""

#: Column descriptions of the participants tables the simulators write.
PARTICIPANT_COLUMNS = {
    "absorption": {
        "Description": "Simulated trait absorption score, correlated 0.6 with the participant's "
        "response gain (the planted individual difference).",
        "Units": "score (0-34)",
    },
    "trait": {
        "Description": "Simulated trait score (mean 50, sd 10) that scales the listener's "
        "structure-locked responses (StudyParams.trait_scaling; 0: it scales nothing).",
        "Units": "score",
    },
}


def task_sidecars(task: str, description: str, suffixes: tuple[str, ...]) -> dict[str, dict]:
    """Top-level ``task-<task>_<suffix>.json`` sidecars every run of the task inherits."""
    from frisson import __version__

    common = {
        "TaskName": task,
        "TaskDescription": description,
        "Instructions": "None: the listener is simulated.",
    }
    out = {f"task-{task}_{suffix}.json": dict(common) for suffix in suffixes}
    out[f"task-{task}_events.json"] = {
        **common,
        "StimulusPresentation": {
            "SoftwareName": "frisson simulator",
            "SoftwareVersion": __version__,
        },
        "stim_file": {"Description": "The stimulus presented, relative to stimuli/."},
    }
    return out


def write_dataset_files(
    root: Path,
    participant_rows: list[dict],
    *,
    name: str,
    command: str,
    layout: str,
    sidecars: dict[str, dict],
) -> None:
    """Write the description, README, participants table and top-level task sidecars."""
    import json

    from frisson._io import atomic_write_text
    from frisson.study import write_dataset_files as write

    readme = _README_HEAD.format(name=name, command=command) + "\n## Layout\n\n" + layout
    write(
        root,
        participant_rows,
        name=name,
        readme=readme,
        authors=["frisson simulator"],
        participant_columns=PARTICIPANT_COLUMNS,
        license_name="CC0",
    )
    for filename, sidecar in sidecars.items():
        atomic_write_text(root / filename, json.dumps(sidecar, indent=2))
