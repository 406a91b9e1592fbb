"""Lab formats: each written in the test in its real layout, read back to known numbers.

Empatica E4 session CSVs, OpenSignals (BITalino) text, XDF (written byte by byte
after the XDF 1.0 specification), EDF+ with annotations, AcqKnowledge markers,
WFDB (the MIT-BIH record in tests/data), npy and decimal-comma CSV; plus the
files a plain table reader used to corrupt silently.
"""

import json
import logging
import struct
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from frisson.errors import DataError
from frisson.physio import formats, io

T0 = 1_495_437_325.0  # 2017-05-22 07:15:25 UTC
DATA = Path(__file__).resolve().parent / "data"


# ------------------------------------------------------------------------- Empatica E4
def _e4_file(path: Path, rate: float, samples: np.ndarray, start: float = T0) -> np.ndarray:
    samples = np.asarray(samples, dtype=float).reshape(len(samples), -1)
    n = samples.shape[1]
    lines = [", ".join([f"{start:.6f}"] * n), ", ".join([f"{rate:.6f}"] * n)]
    lines += [", ".join(f"{v:.6f}" for v in row) for row in samples]
    path.write_text("\n".join(lines) + "\n")
    return samples


@pytest.fixture
def e4_session(tmp_path):
    folder = tmp_path / "e4"
    folder.mkdir()
    rng = np.random.default_rng(0)
    truth = {
        "EDA": _e4_file(folder / "EDA.csv", 4.0, 2 + 0.01 * np.arange(240)),
        "BVP": _e4_file(folder / "BVP.csv", 64.0, np.sin(np.arange(3840) / 10)),
        "TEMP": _e4_file(folder / "TEMP.csv", 4.0, 33 + 0 * np.arange(240)),
        "HR": _e4_file(folder / "HR.csv", 1.0, 70 + np.arange(50), start=T0 + 10),
        "ACC": _e4_file(folder / "ACC.csv", 32.0, rng.integers(-64, 64, (1920, 3))),
    }
    (folder / "tags.csv").write_text(f"{T0 + 5.25:.2f}\n{T0 + 30.5:.2f}\n")
    (folder / "IBI.csv").write_text(f"{T0:.6f}, IBI\n12.5, 0.84\n13.3, 0.80\n")
    return folder, truth


def test_e4_session_keeps_each_rate_start_and_marker(e4_session):
    folder, truth = e4_session
    rec = formats.read_e4(folder)
    assert rec.format == "e4" and rec.start_time == datetime.fromtimestamp(T0, UTC)
    assert rec.rates_hz() == {
        "eda": 4.0, "ppg": 64.0, "TEMP": 4.0, "HR": 1.0, "ACC_X": 32.0, "ACC_Y": 32.0,
        "ACC_Z": 32.0,
    }  # fmt: skip
    np.testing.assert_allclose(rec.channels["eda"].values[:, 0], truth["EDA"][:, 0], rtol=1e-12)
    assert rec.channels["eda"].units == ("uS",) and rec.channels["eda"].n_times == 240
    assert rec.channels["HR"].start_s == 10.0 and rec.channels["eda"].start_s == 0.0
    np.testing.assert_array_equal(rec.channels["ACC_Z"].values[:, 0], truth["ACC"][:, 2])
    tags = [(m.onset_s, m.label) for m in rec.markers if m.label == "tag"]
    assert tags == [(pytest.approx(5.25), "tag"), (pytest.approx(30.5), "tag")]
    ibis = [(m.onset_s, m.duration_s) for m in rec.markers if m.label == "ibi"]
    assert ibis == [(12.5, 0.84), (13.3, 0.80)]
    one = formats.read_recording(folder / "EDA.csv")  # detected from its first two rows
    assert one.format == "e4" and set(one.channels) == {"eda"}


def test_e4_files_are_refused_by_the_table_reader_and_malformed_ones_named(e4_session, tmp_path):
    folder, _ = e4_session
    for options in ({"rate_hz": 4.0}, {"rate_hz": 4.0, "columns": ["eda"]}):
        with pytest.raises(DataError, match=r"EDA.csv: an Empatica E4 file .*read_e4"):
            io.read_table_physio(folder / "EDA.csv", **options)
    bad = tmp_path / "EDA.csv"
    bad.write_text("EDA\n4.0\n0.1\n")
    with pytest.raises(DataError, match=r"row 1 is 'EDA', not a start time in Unix seconds"):
        formats.read_e4(bad)
    bad.write_text(f"{T0}\n-4\n0.1\n")
    with pytest.raises(DataError, match=r"row 2 is '-4', not a sampling rate"):
        formats.read_e4(bad)
    bad.write_text(f"{T0}\n4\n0.1\n0.2\nlost\n")
    with pytest.raises(DataError, match=r"row 5 \('lost'\) is not 1 number"):
        formats.read_e4(bad)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"no E4 channel file"):
        formats.read_e4(tmp_path / "empty")


# ------------------------------------------------------------------ OpenSignals / BITalino
def _opensignals(path: Path, data: np.ndarray, *, rate=100, sensors=("EDA", "ECG")):
    mac = "00:07:80:3B:46:61"
    labels = [f"A{i + 1}" for i in range(len(sensors))]
    header = {
        mac: {
            "sensor": list(sensors), "device name": mac, "column": ["nSeq", "I1", "I2", "O1",
            "O2", *labels], "sync interval": 2, "time": "14:25:35.621", "comments": "",
            "device connection": f"BTH{mac}", "channels": [1, 2], "date": "2017-11-16",
            "mode": 0, "digital IO": [0, 0, 1, 1], "firmware version": 52, "device": "bitalino_rev",
            "position": 0, "sampling rate": rate, "label": labels, "resolution": [10, 10],
            "special": [{}, {}],
        }
    }  # fmt: skip
    lines = ["# OpenSignals Text File Format", "# " + json.dumps(header), "# EndOfHeader"]
    lines += ["\t".join(str(int(v)) for v in row) for row in data]
    path.write_text("\n".join(lines) + "\n")


def _bitalino_rows(n, rng):
    sequence = np.arange(n) % 16
    analog = rng.integers(0, 1024, (n, 2))
    return np.column_stack([sequence, np.zeros((n, 4)), analog])


def test_opensignals_channels_rate_start_and_lost_samples(tmp_path, caplog):
    rng = np.random.default_rng(1)
    rows = _bitalino_rows(500, rng)
    path = tmp_path / "opensignals_000780 3B4661_2017-11-16_14-25-35.txt"
    _opensignals(path, rows)
    rec = formats.read_recording(path)
    assert rec.format == "opensignals" and rec.rates_hz() == {"eda": 100.0, "ecg": 100.0}
    np.testing.assert_array_equal(rec.channels["eda"].values[:, 0], rows[:, 5])
    np.testing.assert_array_equal(rec.channels["ecg"].values[:, 0], rows[:, 6])
    assert rec.channels["eda"].units == ("ADC",)
    assert rec.start_time == datetime(2017, 11, 16, 14, 25, 35, 621000)
    assert not [r for r in caplog.records if "lost" in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="frisson"):
        _opensignals(path, np.delete(rows, [100, 101, 102], axis=0))
        formats.read_opensignals(path)
    assert any("about 3 sample(s) lost" in r.getMessage() for r in caplog.records)


def test_opensignals_malformed_and_misread_files(tmp_path):
    rng = np.random.default_rng(2)
    path = tmp_path / "rec.txt"
    _opensignals(path, _bitalino_rows(50, rng)[:, :6])  # one analog column cut off
    with pytest.raises(DataError, match=r"rows have 6 values but the header lists 7 column"):
        formats.read_opensignals(path)
    _opensignals(path, _bitalino_rows(50, rng))
    with pytest.raises(DataError, match=r"an OpenSignals \(BITalino\) text file.*read_opensignals"):
        io.read_table_physio(path, rate_hz=100.0)
    text = path.read_text().splitlines()
    path.write_text("\n".join([text[0], "# {not json", *text[2:]]))
    with pytest.raises(DataError, match=r"line 2 should be the JSON header"):
        formats.read_opensignals(path)
    # The headerless export: 2 rows (one per channel) of 400 samples, read as a table.
    wide = tmp_path / "wide.txt"
    wide.write_text("\n".join(" ".join(str(v) for v in rng.integers(0, 1024, 400)) for _ in "ab"))
    with pytest.raises(DataError, match=r"1 row\(s\) of samples but 400 columns: .*transposed"):
        io.read_table_physio(wide, rate_hz=100.0)
    headerless = tmp_path / "headerless.csv"
    headerless.write_text("1.5,2.0\n2.5,2.1\n3.5,2.2\n4.5,2.3\n")
    with pytest.raises(DataError, match=r"row 1 holds numbers \(1.5, 2.0...\), not column names"):
        io.read_table_physio(headerless, rate_hz=100.0)
    assert io.read_table_physio(headerless, rate_hz=100.0, columns=["a", "b"])["a"].n_times == 4


# ------------------------------------------------------------------------------------ XDF
def _varlen(n: int) -> bytes:
    return struct.pack("<BB", 1, n) if n < 256 else struct.pack("<BI", 4, n)


def _chunk(tag: int, content: bytes) -> bytes:
    body = struct.pack("<H", tag) + content
    return struct.pack("<BI", 4, len(body)) + body


def _stream_header(sid, name, kind, n, rate, fmt, labels=(), units=()) -> bytes:
    channels = "".join(
        f"<channel><label>{label}</label><unit>{unit}</unit></channel>"
        for label, unit in zip(labels, units, strict=True)
    )
    xml = (
        f'<?xml version="1.0"?><info><name>{name}</name><type>{kind}</type>'
        f"<channel_count>{n}</channel_count><nominal_srate>{rate}</nominal_srate>"
        f"<channel_format>{fmt}</channel_format><source_id>{name}</source_id>"
        f"<created_at>0</created_at><desc><channels>{channels}</channels></desc></info>"
    )
    return _chunk(2, struct.pack("<I", sid) + xml.encode())


def _samples(sid, stamps, values, fmt) -> bytes:
    body = struct.pack("<I", sid) + _varlen(len(stamps))
    for stamp, row in zip(stamps, values, strict=True):
        body += struct.pack("<Bd", 8, stamp)
        if fmt == "string":
            for text in row:
                body += _varlen(len(text.encode())) + text.encode()
        else:
            body += struct.pack(f"<{len(row)}f", *row)
    return _chunk(3, body)


def _write_xdf(path: Path, streams) -> None:
    """``streams``: (name, kind, rate, fmt, labels, units, stamps, values) per stream."""
    out = b"XDF:" + _chunk(1, b'<?xml version="1.0"?><info><version>1.0</version></info>')
    for sid, (name, kind, rate, fmt, labels, units, _, values) in enumerate(streams, 1):
        n = len(values[0])
        out += _stream_header(sid, name, kind, n, rate, fmt, labels, units)
    for sid, (*_, fmt, _, _, stamps, values) in enumerate(streams, 1):
        out += _samples(sid, stamps, values, fmt)
    path.write_bytes(out)


def test_xdf_streams_at_their_rates_offsets_and_markers(tmp_path):
    t = 1000.0  # LSL clock
    eda = 5 + 0.01 * np.arange(64)
    ppg = np.sin(np.arange(256) / 8)
    streams = [
        ("Shimmer", "GSR", 32, "float32", ["GSR"], ["uS"], t + 0.5 + np.arange(64) / 32,
         eda[:, None]),
        ("Pleth", "PPG", 128, "float32", ["PPG"], ["a.u."], t + np.arange(256) / 128,
         ppg[:, None]),
        ("PsychoPy", "Markers", 0, "string", ["m"], [""], [t + 0.25, t + 1.75],
         [["song-1 start"], ["chill"]]),
    ]  # fmt: skip
    path = tmp_path / "session.xdf"
    _write_xdf(path, streams)
    rec = formats.read_recording(path)
    assert rec.format == "xdf" and rec.rates_hz() == {"eda": 32.0, "ppg": 128.0}
    assert rec.channels["eda"].start_s == pytest.approx(0.5, abs=1e-6)
    assert rec.channels["ppg"].start_s == pytest.approx(0.0, abs=1e-6)
    assert rec.channels["eda"].units == ("uS",)
    np.testing.assert_allclose(rec.channels["eda"].values[:, 0], eda, rtol=1e-6)
    np.testing.assert_allclose(rec.channels["ppg"].values[:, 0], ppg, atol=1e-6)
    assert [(round(m.onset_s, 6), m.label) for m in rec.markers] == [
        (0.25, "song-1 start"), (1.75, "chill"),
    ]  # fmt: skip


def test_xdf_with_a_wrong_nominal_rate_is_refused(tmp_path):
    stamps = 10 + np.arange(200) / 2048  # recorded at 2048 Hz, declared 1024 Hz
    streams = [("ECG", "ECG", 1024, "float32", ["ECG"], ["mV"], stamps, np.zeros((200, 1)))]
    path = tmp_path / "wrong.xdf"
    _write_xdf(path, streams)
    with pytest.raises(DataError, match=r"nominal rate 1024 Hz .* advance at 2048 Hz"):
        formats.read_xdf(path)
    path.write_bytes(b"XDF:garbage")
    with pytest.raises(DataError, match=r"not a readable XDF file|no stream holds samples"):
        formats.read_xdf(path)


# ------------------------------------------------------------------------ EDF+ and ACQ
def test_edf_annotations_become_markers_at_per_channel_rates(tmp_path):
    pyedflib = pytest.importorskip("pyedflib")
    ecg = np.sin(2 * np.pi * 1.2 * np.arange(2560) / 256.0)
    eda = 5 + 0.01 * np.arange(160)
    headers = [
        {"label": label, "dimension": dim, "sample_frequency": rate, "physical_min": -10.0,
         "physical_max": 10.0, "digital_min": -32768, "digital_max": 32767, "transducer": "",
         "prefilter": ""}
        for label, dim, rate in (("ECG", "mV", 256), ("GSR", "uS", 16))
    ]  # fmt: skip
    start = datetime(2024, 3, 1, 9, 30, 0)
    header = {"startdate": start, "annotations": [[1.5, 0, "song-1"], [4.25, 2.0, "chill"]]}
    path = tmp_path / "rec.edf"
    pyedflib.highlevel.write_edf(str(path), [ecg, eda], headers, header)
    rec = formats.read_recording(path)
    assert rec.format == "edf" and rec.rates_hz() == {"ecg": 256.0, "eda": 16.0}
    assert rec.start_time == start
    assert [(m.onset_s, m.duration_s, m.label) for m in rec.markers] == [
        (1.5, 0.0, "song-1"), (4.25, 2.0, "chill"),
    ]  # fmt: skip
    np.testing.assert_allclose(rec.channels["eda"].values[:, 0], eda, atol=1e-3)


def test_acqknowledge_event_markers(tmp_path, monkeypatch):
    """bioread cannot write .acq files: its reader is replaced by the object it returns."""
    bioread = pytest.importorskip("bioread")

    class Channel:
        def __init__(self, name, rate, data, units):
            self.name, self.samples_per_second, self.data, self.units = name, rate, data, units

    class Marker:
        def __init__(self, time_index, text):
            self.time_index, self.text = time_index, text

    class Datafile:
        def __init__(self):
            self.channels = [
                Channel("EDA100C", 2000.0, np.full(4000, 5.0), "microsiemens"),
                Channel("PPG100C", 500.0, np.zeros(1000), "Volts"),
            ]
            self.event_markers = [Marker(0.5, "song-1 start"), Marker(1.25, "")]

    monkeypatch.setattr(bioread, "read_file", lambda path: Datafile())
    path = tmp_path / "rec.acq"
    path.write_bytes(b"placeholder")
    rec = formats.read_recording(path)
    assert rec.format == "acq" and rec.rates_hz() == {"eda": 2000.0, "ppg": 500.0}
    assert [(m.onset_s, m.label) for m in rec.markers] == [(0.5, "song-1 start"), (1.25, "marker")]


# ----------------------------------------------------------------------- WFDB, npy, CSV
def test_wfdb_record_from_physionet():
    rec = formats.read_recording(DATA / "mitdb" / "100.hea")
    assert rec.format == "wfdb" and rec.rates_hz() == {"MLII": 360.0, "V5": 360.0}
    assert rec.channels["MLII"].n_times == 650000 and rec.channels["MLII"].units == ("mV",)


def test_npy_and_transposed_npy(tmp_path):
    path = tmp_path / "rec.npy"
    data = np.column_stack([np.linspace(1, 2, 500), np.zeros(500)])
    np.save(path, data)
    rec = formats.read_recording(path, rate_hz=50.0, names=["GSR", "PPG"])
    assert rec.rates_hz() == {"eda": 50.0, "ppg": 50.0}
    np.testing.assert_array_equal(rec.channels["eda"].values[:, 0], data[:, 0])
    np.save(path, data.T)
    with pytest.raises(DataError, match=r"shape \(2, 500\) looks transposed"):
        formats.read_npy(path, rate_hz=50.0, names=["GSR", "PPG"])


def test_decimal_comma_csv(tmp_path):
    path = tmp_path / "export.csv"
    path.write_text("Zeit;GSR\n0,0;2,5\n0,5;2,75\n1,0;3,0\n")
    rec = io.read_table_physio(path, time_column="Zeit", decimal=",")
    assert rec["eda"].rate_hz == 2.0
    np.testing.assert_array_equal(rec["eda"].values[:, 0], [2.5, 2.75, 3.0])


def test_unknown_format_is_named():
    with pytest.raises(DataError, match=r"unknown recording format; give format="):
        formats.detect_format("recording.mat")


# --------------------------------------------------------------------- rate plausibility
def _ecg_like(rate_hz, seconds=40.0, bpm=70.0, width_s=0.02, seed=5):
    """Narrow pulses at beats ``bpm`` apart with 3 % interval jitter, plus a T wave and noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    beats = np.cumsum(60 / bpm * (1 + 0.03 * rng.standard_normal(int(seconds * bpm / 60) + 2)))
    signal = np.zeros_like(t)
    for beat in beats:
        signal += np.exp(-0.5 * ((t - beat) / width_s) ** 2)
        signal += 0.3 * np.exp(-0.5 * ((t - beat - 0.25) / (4 * width_s)) ** 2)
    return signal + 0.02 * rng.standard_normal(t.size)


def test_heart_rate_recovers_the_planted_rate_and_flags_a_halved_sampling_rate():
    from frisson.timeseries import TimeSeries

    ecg = _ecg_like(2048.0)
    assert formats.heart_rate_bpm(TimeSeries(ecg, 2048.0)) == pytest.approx(70, rel=0.04)
    ppg = _ecg_like(64.0, bpm=88.0, width_s=0.12)
    assert formats.heart_rate_bpm(TimeSeries(ppg, 64.0)) == pytest.approx(88, rel=0.04)
    formats.check_heart_rate("ok.xdf", {"ecg": TimeSeries(ecg, 2048.0, names=["ECG"])})
    wrong = {"ecg": TimeSeries(ecg, 1024.0, names=["ECG"])}  # pyphysio's 1024 for a 2048 Hz file
    with pytest.raises(DataError) as caught:
        formats.check_heart_rate("rec.xdf", wrong)
    message = str(caught.value)
    assert message.startswith("rec.xdf: at 1024 Hz the ecg channel 'ECG' beats at 3")
    assert "at 2048 Hz it would be" in message
    bpm = float(message.split("beats at ")[1].split(" bpm")[0])
    assert bpm == pytest.approx(35, rel=0.04)
    noise = TimeSeries(np.random.default_rng(0).standard_normal(64 * 30), 64.0, names=["PPG"])
    assert formats.heart_rate_bpm(noise) is None  # not periodic: no verdict


def test_import_refuses_a_recording_at_an_implausible_rate(tmp_path):
    from frisson.study import import_recording
    from frisson.timeseries import TimeSeries

    recording = formats.Recording(
        tmp_path / "rec.xdf", "xdf", {"ecg": TimeSeries(_ecg_like(2048.0), 1024.0, names=["ECG"])}
    )
    with pytest.raises(DataError, match=r"rec.xdf: at 1024 Hz the ecg channel"):
        import_recording(recording, tmp_path / "study", participant="01", task="music")
    assert not (tmp_path / "study").exists()
    paths = import_recording(
        recording, tmp_path / "study", participant="01", task="music", check_rate=False
    )
    assert [p.name for p in paths] == [
        "sub-01_task-music_events.tsv", "sub-01_task-music_recording-ecg_physio.tsv.gz",
    ]  # fmt: skip


def test_heart_rate_of_a_real_ecg_matches_its_beat_annotations():
    """MIT-BIH record 100: the cardiologists' beat labels give the oracle."""
    wfdb = pytest.importorskip("wfdb")
    rec = formats.read_wfdb(DATA / "mitdb" / "100")
    annotation = wfdb.rdann(str(DATA / "mitdb" / "100"), "atr")
    beats_s = annotation.sample[np.isin(annotation.symbol, ["N", "A", "V"])] / 360.0
    first = beats_s[beats_s < 120.0]
    oracle_bpm = 60.0 / np.median(np.diff(first))
    assert formats.heart_rate_bpm(rec.channels["MLII"]) == pytest.approx(oracle_bpm, rel=0.03)
