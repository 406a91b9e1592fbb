"""The official BIDS validator (bids-validator-deno, PyPI) run from the tests.

The schema ships with the package, so it runs offline. A test that needs it skips
with the install command when it is absent.
"""

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

#: Warning codes (and subcodes) a simulated dataset keeps, with the reason.
JUSTIFIED_WARNINGS = {
    # Scanner and site metadata: there is no scanner or site behind simulated data.
    "SIDECAR_KEY_RECOMMENDED": {
        "CogAtlasID", "CogPOID", "InstitutionAddress", "InstitutionName",
        "InstitutionalDepartmentName", "CoilCombinationMethod", "DeviceSerialNumber",
        "DwellTime", "EchoTime", "FlipAngle", "MRAcquisitionType", "MagneticFieldStrength",
        "Manufacturer", "ManufacturersModelName", "MatrixCoilMode",
        "NonlinearGradientCorrection", "PhaseEncodingDirection", "PulseSequenceDetails",
        "PulseSequenceType", "ReceiveCoilActiveElements", "ReceiveCoilName",
        "ScanningSequence", "SequenceName", "SequenceVariant", "SoftwareVersions",
        "StationName", "TotalReadoutTime",
    },
    # No HED tags are used; the simulation has no source dataset.
    "JSON_KEY_RECOMMENDED": {"HEDVersion", "SourceDatasets"},
    # One author: the simulator.
    "TOO_FEW_AUTHORS": {None},
    # The tests' runs are seconds long, far shorter than a real fMRI design.
    "SUSPICIOUSLY_SHORT_EVENT_DESIGN": {None},
}  # fmt: skip


def _validator() -> str:
    found = shutil.which("bids-validator-deno") or str(
        Path(sys.executable).with_name("bids-validator-deno")
    )
    if not Path(found).is_file():
        pytest.skip(
            "the official BIDS validator is not installed: pip install bids-validator-deno "
            "(it is in the dev extra)"
        )
    return found


def validate(root: Path) -> list[dict]:
    """The validator's issues for a dataset folder (every row of every TSV checked)."""
    result = subprocess.run(
        [_validator(), str(root), "--format", "json", "--max-rows", "-1"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"bids-validator-deno gave no JSON report: {result.stderr[-2000:]}")
    return report["issues"]["issues"]


def error_summary(issues, severity):
    return Counter(
        (i["code"], i.get("subCode"), i.get("location"))
        for i in issues
        if i["severity"] == severity
    )


def unjustified_warnings(issues):
    return sorted(
        {
            (i["code"], i.get("subCode"))
            for i in issues
            if i["severity"] == "warning"
            and i.get("subCode") not in JUSTIFIED_WARNINGS.get(i["code"], set())
        },
        key=str,
    )
