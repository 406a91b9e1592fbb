"""What frisson writes is valid BIDS: 0 errors from the official validator (bids-validator-deno).

The validator is the PyPI package ``bids-validator-deno`` (the schema ships with it,
so it runs offline). Warnings the simulators leave are the ones a synthetic dataset
cannot honestly fill (scanner hardware, institution, Cognitive Atlas terms, HED) and
are listed in :data:`JUSTIFIED_WARNINGS`; any other warning fails the test.
"""

import gzip
import sys
from collections import Counter
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _bids_validator import error_summary, unjustified_warnings, validate
from frisson.simulate import (
    FmriParams,
    StudyParams,
    simulate_fmri_study,
    simulate_study,
    synth_piece,
)


@pytest.fixture(scope="module")
def stimuli(tmp_path_factory):
    folder = tmp_path_factory.mktemp("stimuli")
    for i in range(2):
        piece = synth_piece(n_sections=3, section_s=(6.0, 6.0), rate_hz=8000, seed=i)
        piece.write(folder / f"song-{i + 1}.wav")
    return folder


def test_simulated_chills_study_is_valid_bids(stimuli, tmp_path):
    params = StudyParams(n_participants=2, ratings_rate_hz=5.0)
    sim = simulate_study(stimuli, tmp_path / "chills", params=params, progress_bar=False)
    issues = validate(sim.root)
    assert error_summary(issues, "error") == Counter()
    assert unjustified_warnings(issues) == []


def test_simulated_fmri_study_is_valid_bids(stimuli, tmp_path):
    params = FmriParams(n_participants=2)
    sim = simulate_fmri_study(stimuli, tmp_path / "fmri", params=params, progress_bar=False)
    issues = validate(sim.root)
    assert error_summary(issues, "error") == Counter()
    assert unjustified_warnings(issues) == []


def test_validator_catches_what_frisson_used_to_write(stimuli, tmp_path):
    """The test can fail: the old stim_file (stimuli/x.wav) and gzip headers are flagged."""
    params = StudyParams(n_participants=1, ratings_rate_hz=None)
    sim = simulate_study(stimuli, tmp_path / "old", params=params, progress_bar=False)
    events = next(sim.root.glob("sub-01/beh/*_events.tsv"))
    text = events.read_text().replace("\tsong-", "\tstimuli/song-")
    events.write_text(text)
    physio = next(sim.root.glob("sub-01/beh/*_physio.tsv.gz"))
    data = gzip.decompress(physio.read_bytes())
    with gzip.GzipFile(physio, "wb", mtime=1_700_000_000) as handle:  # names the file, dates it
        handle.write(data)
    codes = {(i["severity"], i["code"]) for i in validate(sim.root)}
    assert ("error", "STIMULUS_FILE_MISSING") in codes
    assert ("warning", "GZIP_HEADER_MTIME") in codes
    assert ("warning", "GZIP_HEADER_FILENAME") in codes


def test_physio_gzip_header_has_no_name_or_time(stimuli, tmp_path):
    params = StudyParams(n_participants=1, ratings_rate_hz=None)
    sim = simulate_study(stimuli, tmp_path / "gz", params=params, progress_bar=False)
    raw = next(sim.root.glob("sub-01/beh/*_physio.tsv.gz")).read_bytes()
    flags, mtime = raw[3], int.from_bytes(raw[4:8], "little")
    assert flags & 0x08 == 0  # FNAME not set
    assert mtime == 0


def test_each_physio_file_gets_only_its_own_sidecar(stimuli, tmp_path):
    """recording- labels: BIDS inheritance (as pybids applies it) gives no file another's rate."""
    from frisson._bids import applicable_sidecars, inherited_metadata

    params = StudyParams(n_participants=1, ratings_rate_hz=5.0)
    sim = simulate_study(stimuli, tmp_path / "labels", params=params, progress_bar=False)
    physio = sorted(sim.root.glob("sub-01/beh/*_physio.tsv.gz"))
    assert [p.name.split("_")[2] for p in physio] == ["recording-physio", "recording-ratings"]
    for path in physio:
        own = path.with_name(path.name.replace(".tsv.gz", ".json"))
        assert applicable_sidecars(path) == [own]
    rates = [inherited_metadata(p)["SamplingFrequency"] for p in physio]
    assert rates == [100.0, 5.0]
    try:
        import bids
    except ImportError:
        pass
    else:  # the reference implementation agrees (it gave ratings 100 Hz before the labels)
        layout = bids.BIDSLayout(sim.root, validate=False)
        assert [layout.get_metadata(str(p))["SamplingFrequency"] for p in physio] == rates
    # Without the label, the main file's sidecar would apply to the ratings file too.
    old = physio[0].with_name("sub-01_task-listening_physio.json")
    old.write_text(physio[0].with_name(physio[0].name.replace(".tsv.gz", ".json")).read_text())
    assert old in applicable_sidecars(physio[1])
