"""Readers: known answers on written files, real recordings, and malformed-file errors."""

import bz2
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from frisson.errors import DataError, ParameterError
from frisson.physio import io

DATA = Path(__file__).resolve().parent.parent / "data" / "external"


def _bids(folder: Path, data: np.ndarray, sidecar: dict | None, name="sub-01_physio") -> Path:
    tsv = folder / f"{name}.tsv.gz"
    with gzip.open(tsv, "wt") as f:
        for row in data:
            f.write("\t".join("n/a" if np.isnan(v) else f"{v:.6f}" for v in row) + "\n")
    if sidecar is not None:
        (folder / f"{name}.json").write_text(json.dumps(sidecar))
    return tsv


# ----------------------------------------------------------------------------- kinds
@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("EDA100C", "eda"),
        ("GSR", "eda"),
        ("skin conductance", "eda"),
        ("BVP", "ppg"),
        ("cardiac", "ppg"),
        ("Pleth", "ppg"),
        ("ECG lead II", "ecg"),
        ("EKG", "ecg"),
        ("respiratory", "resp"),
        ("RSP100C", "resp"),
        ("trigger", "trigger"),
        ("temperature", None),
        ("x_pulse", "ppg"),
        ("speaker", None),  # 'eda' inside a word does not match
    ],
)
def test_channel_kind_from_names(name, kind):
    assert io.channel_kind(name) == kind


# ------------------------------------------------------------------------------ BIDS
def test_bids_reader_recovers_rate_start_units_and_values(tmp_path):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((500, 3))
    sidecar = {
        "SamplingFrequency": 50.0,
        "StartTime": -2.5,
        "Columns": ["cardiac", "respiratory", "eda"],
        "eda": {"Units": "uS"},
    }
    physio = io.read_bids_physio(_bids(tmp_path, data, sidecar))
    assert set(physio) == {"ppg", "resp", "eda"}
    eda = physio["eda"]
    assert eda.rate_hz == 50.0 and eda.start_s == -2.5 and eda.n_times == 500
    assert eda.names == ("eda",) and eda.units == ("uS",) and physio["ppg"].units is None
    np.testing.assert_allclose(eda.values[:, 0], data[:, 2], atol=1e-6)
    np.testing.assert_allclose(physio["ppg"].times_s[[0, -1]], [-2.5, -2.5 + 499 / 50])
    # kinds override the guess; two channels of one kind are keyed by name
    again = io.read_bids_physio(tmp_path / "sub-01_physio.tsv.gz", kinds={"cardiac": "eda"})
    assert set(again) == {"cardiac", "eda", "resp"}
    # read_physio dispatches to the BIDS reader
    assert set(io.read_physio(tmp_path / "sub-01_physio.tsv.gz")) == {"ppg", "resp", "eda"}


def test_bids_partial_nan_is_kept_for_quality_checks(tmp_path):
    data = np.ones((20, 1))
    data[5] = np.nan
    sidecar = {"SamplingFrequency": 10, "StartTime": 0, "Columns": ["gsr"]}
    eda = io.read_bids_physio(_bids(tmp_path, data, sidecar))["eda"]
    assert np.isnan(eda.values[5, 0]) and np.isfinite(eda.values[6, 0])


@pytest.mark.parametrize(
    ("sidecar", "data", "message"),
    [
        (None, np.ones((5, 1)), r"sidecar sub-01_physio\.json is missing"),
        ({"StartTime": 0, "Columns": ["gsr"]}, np.ones((5, 1)), r"\['SamplingFrequency'\] missing"),
        ({"SamplingFrequency": 10, "Columns": ["gsr"]}, np.ones((5, 1)), r"\['StartTime'\]"),
        ({"SamplingFrequency": 10, "StartTime": 0}, np.ones((5, 1)), r"\['Columns'\]"),
        (
            {"SamplingFrequency": -5, "StartTime": 0, "Columns": ["gsr"]},
            np.ones((5, 1)),
            "SamplingFrequency must be a positive number",
        ),
        (
            {"SamplingFrequency": 10, "StartTime": "soon", "Columns": ["gsr"]},
            np.ones((5, 1)),
            "StartTime must be a number",
        ),
        (
            {"SamplingFrequency": 10, "StartTime": 0, "Columns": ["gsr", "ppg"]},
            np.ones((5, 1)),
            r"TSV has 1 column\(s\) but .* lists 2 in Columns",
        ),
        (
            {"SamplingFrequency": 10, "StartTime": 0, "Columns": ["gsr", "ppg"]},
            np.column_stack([np.ones(5), np.full(5, np.nan)]),
            r"channel 'ppg' is all NaN .* channels=",
        ),
        ({"SamplingFrequency": 10, "StartTime": 0, "Columns": "gsr"}, np.ones((5, 1)), "list"),
    ],
)
def test_bids_malformed_files_name_the_file_and_the_field(tmp_path, sidecar, data, message):
    tsv = _bids(tmp_path, data, sidecar)
    with pytest.raises(DataError, match=message) as error:
        io.read_bids_physio(tsv)
    assert "sub-01_physio" in str(error.value)


def test_bids_non_numeric_cell_and_bad_json(tmp_path):
    tsv = tmp_path / "sub-02_physio.tsv.gz"
    with gzip.open(tsv, "wt") as f:
        f.write("1.0\n2.0\nabc\n")
    (tmp_path / "sub-02_physio.json").write_text(
        json.dumps({"SamplingFrequency": 10, "StartTime": 0, "Columns": ["gsr"]})
    )
    with pytest.raises(
        DataError, match=r"sub-02_physio.tsv.gz: column 'gsr' .*'abc' at data row 3"
    ):
        io.read_bids_physio(tsv)
    (tmp_path / "sub-02_physio.json").write_text("{not json")
    with pytest.raises(DataError, match=r"sub-02_physio.json: not valid JSON"):
        io.read_bids_physio(tsv)
    tsv.write_bytes(b"\x1f\x8b\x08garbage")  # a broken gzip stream
    (tmp_path / "sub-02_physio.json").write_text(
        json.dumps({"SamplingFrequency": 10, "StartTime": 0, "Columns": ["gsr"]})
    )
    with pytest.raises(DataError, match=r"sub-02_physio\.tsv\.gz: cannot be read"):
        io.read_bids_physio(tsv)
    with pytest.raises(DataError, match="no such file"):
        io.read_bids_physio(tmp_path / "sub-03_physio.tsv.gz")
    with pytest.raises(ParameterError, match=r"kinds\['gsr'\]='skin' is not valid"):
        io.read_bids_physio(
            _bids(
                tmp_path,
                np.ones((3, 1)),
                {"SamplingFrequency": 1, "StartTime": 0, "Columns": ["gsr"]},
                name="sub-04_physio",
            ),
            kinds={"gsr": "skin"},
        )


# --------------------------------------------------------------------------- CSV/TSV
def test_table_with_time_column_and_with_rate(tmp_path):
    t = 3.0 + np.arange(200) / 25.0
    path = tmp_path / "rec.tsv"
    lines = ["time\tEDA\tECG"] + [f"{ti:.4f}\t{np.sin(ti):.5f}\t{ti:.5f}" for ti in t]
    path.write_text("\n".join(lines))
    rec = io.read_table_physio(path, time_column="time", units={"EDA": "uS"})
    assert rec["eda"].rate_hz == pytest.approx(25.0) and rec["eda"].start_s == pytest.approx(3.0)
    np.testing.assert_allclose(rec["ecg"].values[:, 0], t, atol=1e-5)
    # a rate that agrees with the timestamps is accepted; without a time column it is required
    assert io.read_table_physio(path, time_column="time", rate_hz=25.1)["eda"].rate_hz == 25.1
    nohead = tmp_path / "rec.txt.bz2"
    nohead.write_bytes(bz2.compress(b"1 2\n3 4\n5 6\n"))
    rec = io.read_table_physio(nohead, rate_hz=2.0, columns=["ppg", "resp"], start_s=1.0)
    np.testing.assert_array_equal(rec["resp"].values[:, 0], [2, 4, 6])
    assert rec["ppg"].start_s == 1.0 and rec["ppg"].rate_hz == 2.0


def test_table_timing_modes_on_a_jittery_clock(tmp_path):
    rng = np.random.default_rng(1)
    n = 1000
    t = np.arange(n) / 100.0 + np.round(rng.uniform(0, 0.03, n), 3)  # 0-30 ms clock jitter
    t = np.maximum.accumulate(t)
    path = tmp_path / "jitter.csv"
    path.write_text("t,ppg\n" + "\n".join(f"{ti:.3f},{ti:.3f}" for ti in t))
    with pytest.raises(DataError, match=r"jitter.csv: timestamps in 't' depart from a regular"):
        io.read_table_physio(path, time_column="t")
    mean = io.read_table_physio(path, time_column="t", timing="mean_rate")["ppg"]
    assert mean.rate_hz == pytest.approx((n - 1) / (t[-1] - t[0]))
    grid = io.read_table_physio(path, time_column="t", timing="interpolate", rate_hz=100.0)["ppg"]
    # the channel holds its own timestamp, so interpolation at the grid times returns them
    np.testing.assert_allclose(grid.values[:, 0], grid.times_s, atol=1e-9)
    assert io.read_table_physio(path, time_column="t", max_jitter_s=0.05)["ppg"].n_times == n


@pytest.mark.parametrize(
    ("text", "kwargs", "error", "message"),
    [
        (
            "t,gsr\n0,1\n1,2\n0.5,3\n",
            {"time_column": "t"},
            DataError,
            r"goes backwards at data row 3",
        ),
        (
            "t,gsr\n0,1\n0.01,2\n0.02,3\n",
            {"time_column": "t", "rate_hz": 1000.0},
            DataError,
            r"rate_hz=1000 disagrees with the timestamps in 't'.*100 samples/s",
        ),
        ("t,gsr\n0,1\n1,2\n", {"time_column": "time"}, DataError, r"no time column 'time'"),
        ("t,gsr\n0,1\n1,x\n", {"time_column": "t"}, DataError, r"column 'gsr' .*'x' at data row 2"),
        ("t,gsr\n0,n/a\n1,n/a\n", {"time_column": "t"}, DataError, r"'gsr' is all NaN"),
        ("t,gsr\n", {"time_column": "t"}, DataError, "no samples"),
        ("", {"rate_hz": 1.0}, DataError, "no samples"),
        ("t,gsr\n0,1\n1,2\n", {}, ParameterError, r"give rate_hz .* or time_column"),
        ("t,gsr\n0,1\n,2\n", {"time_column": "t"}, DataError, r"time column 't' is empty at data"),
        ("t,gsr\n0,1\n0,2\n", {"time_column": "t"}, DataError, "never advances"),
        ("gsr\n1\n2\n", {"rate_hz": 1.0, "channels": ["ppg"]}, ParameterError, "does not have"),
        ("a,b\n1,2\n", {"rate_hz": 1.0, "columns": ["x"]}, DataError, "2 columns but columns="),
    ],
)
def test_table_malformed_files(tmp_path, text, kwargs, error, message):
    path = tmp_path / "bad.csv"
    path.write_text(text)
    with pytest.raises(error, match=message) as raised:
        io.read_table_physio(path, **kwargs)
    assert "bad.csv" in str(raised.value)


# ------------------------------------------------------------------------------- EDF
def _write_edf(path: Path, signals, labels, rates, dims):
    pyedflib = pytest.importorskip("pyedflib")
    headers = [
        {
            "label": label,
            "dimension": dim,
            "sample_frequency": rate,
            "physical_min": float(np.floor(sig.min())) - 1,
            "physical_max": float(np.ceil(sig.max())) + 1,
            "digital_min": -32768,
            "digital_max": 32767,
            "transducer": "",
            "prefilter": "",
        }
        for sig, label, rate, dim in zip(signals, labels, rates, dims, strict=True)
    ]
    pyedflib.highlevel.write_edf(str(path), signals, headers)


def test_edf_round_trip_keeps_per_channel_rates_and_units(tmp_path):
    t_ecg, t_eda = np.arange(2560) / 256.0, np.arange(320) / 32.0
    ecg, eda = np.sin(2 * np.pi * 1.2 * t_ecg), 5 + 0.1 * t_eda
    path = tmp_path / "rec.edf"
    _write_edf(path, [ecg, eda], ["ECG", "GSR"], [256, 32], ["mV", "uS"])
    rec = io.read_physio(path)
    assert rec["ecg"].rate_hz == 256 and rec["eda"].rate_hz == 32
    assert rec["eda"].units == ("uS",) and rec["ecg"].names == ("ECG",)
    # 16-bit quantisation of a +-2 mV range: about 6e-5 per step
    np.testing.assert_allclose(rec["ecg"].values[:, 0], ecg, atol=1e-4)
    np.testing.assert_allclose(rec["eda"].values[:, 0], eda, atol=1e-3)


def test_edf_malformed_files(tmp_path):
    garbage = tmp_path / "garbage.edf"
    garbage.write_bytes(b"0       this is not an EDF header" * 10)
    with pytest.raises(DataError, match=r"garbage.edf: not a readable EDF/BDF file"):
        io.read_edf(garbage)
    good = tmp_path / "good.bdf"
    _write_edf(good, [np.zeros(512)], ["ECG"], [256], ["mV"])
    truncated = tmp_path / "truncated.bdf"
    truncated.write_bytes(good.read_bytes()[:400])
    with pytest.raises(DataError, match=r"truncated.bdf: not a readable EDF/BDF file"):
        io.read_edf(truncated)
    with pytest.raises(DataError, match="no such file"):
        io.read_edf(tmp_path / "missing.edf")


# ---------------------------------------------------------------------- AcqKnowledge
def test_acqknowledge_malformed_file(tmp_path):
    path = tmp_path / "broken.acq"
    path.write_bytes(b"\x00\x01" * 300)
    with pytest.raises(DataError, match=r"broken.acq: not a readable AcqKnowledge file"):
        io.read_physio(path)


def test_acqknowledge_channels_become_series(tmp_path, monkeypatch):
    # bioread reads but cannot write .acq files; check the mapping on its channel objects.
    import types

    import bioread

    channel = types.SimpleNamespace
    fake = types.SimpleNamespace(
        channels=[
            channel(
                name="EDA100C",
                units="microsiemens",
                samples_per_second=62.5,
                data=np.linspace(1, 2, 125),
            ),
            channel(name="PPG100C", units="Volts", samples_per_second=250.0, data=np.ones(500)),
        ]
    )
    monkeypatch.setattr(bioread, "read_file", lambda _: fake)
    path = tmp_path / "rec.acq"
    path.write_bytes(b"placeholder")
    rec = io.read_acqknowledge(path)
    assert rec["eda"].rate_hz == 62.5 and rec["eda"].units == ("microsiemens",)
    assert rec["ppg"].n_times == 500 and rec["ppg"].duration_s == 2.0


def test_unknown_format(tmp_path):
    path = tmp_path / "rec.mat"
    path.write_bytes(b"")
    with pytest.raises(DataError, match=r"rec.mat: unknown physiology format '.mat'"):
        io.read_physio(path)


# ------------------------------------------------------------------- real recordings
def _require(path: Path) -> Path:
    if not path.is_file():
        pytest.fail(
            f"{path} is missing: run `make install` or `python scripts/fetch_physio_data.py`"
        )
    return path


def test_real_pyphysio_recording_reads_at_2048_hz():
    rec = io.read_table_physio(
        _require(DATA / "pyphysio" / "medical.txt.bz2"),
        rate_hz=2048.0,
        columns=["ecg", "eda", "bvp", "resp"],
    )
    assert set(rec) == {"ecg", "eda", "ppg", "resp"}
    assert rec["ecg"].n_times == 245760 and rec["ecg"].duration_s == 120.0


def test_real_heartpy_timers_give_heartpys_documented_rates():
    data2 = io.read_table_physio(
        _require(DATA / "heartpy" / "data2.csv"),
        time_column="timer",
        time_unit="ms",
        kinds={"hr": "ppg"},
    )
    # HeartPy documents 116.996 Hz (n / span); the sample spacing gives (n - 1) / span.
    assert data2["ppg"].rate_hz == pytest.approx(116.996, abs=0.01)
    path3 = _require(DATA / "heartpy" / "data3.csv")
    with pytest.raises(DataError, match="depart from a regular"):
        io.read_table_physio(path3, time_column="datetime", time_unit="datetime")
    data3 = io.read_table_physio(
        path3, time_column="datetime", time_unit="datetime", timing="mean_rate", kinds={"hr": "ppg"}
    )
    assert data3["ppg"].rate_hz == pytest.approx(100.420, abs=0.01)  # HeartPy: 100.420
