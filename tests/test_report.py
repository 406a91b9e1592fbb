"""The study report and listening views: navigation, tables, data quality, provenance, payloads.

A tiny simulated study (3 songs x 6 listeners, mel encoder, ridge only) is run
once; the report's numbers are checked against what the study files and the
results say independently (hashes, validate(), the trials' own skin conductance).
"""

import hashlib
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from frisson.physio.eda import normalize_trial
from frisson.report._group import group_responses
from frisson.report._html import Section, page_html, table_html
from frisson.report._provenance import collect_provenance, relative_path
from frisson.report.listening import listening_payload, shown_transitions
from frisson.report.study_report import write_study_report
from frisson.study import read_study

sys.path.insert(0, str(Path(__file__).parent))  # tests/ is not a package (import-mode=importlib)
from _report_study import small_study_results

pytestmark = pytest.mark.slow


class _Page(HTMLParser):
    """Ids, links, image sources and script bodies of a page."""

    def __init__(self):
        super().__init__()
        self.ids, self.links, self.images, self.scripts, self._in_script = set(), [], [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and "href" in attrs:
            self.links.append(attrs["href"])
        if tag in ("img", "audio") and "src" in attrs:
            self.images.append(attrs["src"])
        if tag == "script":
            self._in_script = attrs.get("type", "")
            self.scripts.append([self._in_script, ""])

    def handle_data(self, data):
        if self._in_script is not None:
            self.scripts[-1][1] += data

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = None


def _parse(path):
    page = _Page()
    page.feed(path.read_text())
    return page


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    results = small_study_results(root)
    # A left-out trial as the pipeline records it (absolute path): the report must show it
    # relative to the output folder.
    physio = next((root / "study").rglob("*_physio.tsv.gz"))
    results.left_out.append(
        {"participant": "01", "stimulus": "piece-2.wav", "file": str(physio), "reason": "planted"}
    )
    results.files = write_study_report(results, results.config.output)
    return root, results


def test_table_html_sorts_numbers_by_value_and_keeps_every_column():
    frame = pd.DataFrame(
        {"song": ["b", "a"], "r": [0.123456, np.nan], "n": [3, 12], "headline_p_over_songs": [1, 0]}
    )
    out = table_html(frame)
    assert out.count("<th>") + out.count("<th class") == 4 and "headline_p_over_songs" in out
    assert "data-v='0.123456'>0.1235<" in out and "data-v='NaN'" in out
    assert "data-v='12'>12<" in out and "class='text'>b<" in out
    assert table_html(pd.DataFrame({"x": range(5)}), max_rows=2).count("<tr>") == 3  # head + 2


def test_page_links_resolve_and_sections_fold():
    page = page_html("T", [Section("One", "x", children=[Section("Two", "y", open=False)])])
    assert "href='#one'" in page and "id='one'" in page and "href='#two'" in page
    assert "<details open>" in page and "<details><summary>" in page


def test_provenance_hashes_paths_and_versions(tmp_path):
    import numpy

    data = tmp_path / "study" / "a.bin"
    data.parent.mkdir()
    data.write_bytes(b"frisson")
    record = collect_provenance(
        inputs=[data], output=tmp_path / "out", settings={"seed": 1}, argv=["/x/frisson", "run"]
    )
    assert record["inputs"] == [
        {"file": "../study/a.bin", "bytes": 7, "sha256": hashlib.sha256(b"frisson").hexdigest()}
    ]
    assert record["dependencies"]["numpy"] == numpy.__version__
    assert record["command"] == "frisson run" and record["settings"] == {"seed": 1}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", record["date_utc"])
    assert relative_path(tmp_path / "a" / "b.wav", tmp_path / "c") == "../a/b.wav"


def test_report_navigation_is_complete_and_offline(report):
    root, results = report
    out = results.config.output
    page = _parse(out / "report.html")
    anchors = [link[1:] for link in page.links if link.startswith("#")]
    assert len(anchors) >= 10 and set(anchors) <= page.ids
    for link in page.links:
        if not link.startswith("#"):
            assert not link.startswith(("http", "/")) and (out / link).is_file(), link
    assert page.images and all(src.startswith("data:image/png;base64,") for src in page.images)
    text = (out / "report.html").read_text()
    assert str(root) not in text  # every path relative
    assert "table class='sortable'" in text and "addEventListener('click'" in text
    for name in ("transition-locked", "model-predictions", "data-quality", "provenance"):
        assert f"id='{name}'" in text
    assert (out / "report.html").stat().st_size < 3e6


def test_data_quality_lists_every_study_problem_and_left_out_trial(report):
    _, results = report
    out = results.config.output
    problems = read_study(results.config.study).validate()
    table = pd.read_csv(out / "study_problems.tsv", sep="\t")
    assert len(table) == len(problems) > 0
    assert sorted(table["message"]) == sorted(p.message for p in problems)
    assert all(f.startswith("../study/") for f in table["file"])
    left = pd.read_csv(out / "left_out.tsv", sep="\t")
    assert left.loc[0, "reason"] == "planted" and left.loc[0, "file"].startswith("../study/sub-")
    text = (out / "report.html").read_text()
    assert f"{len(problems)} warning(s)" in text and "planted" in text


def test_provenance_and_settings_record_the_inputs(report):
    root, results = report
    out = results.config.output
    record = json.loads((out / "provenance.json").read_text())
    by_file = {entry["file"]: entry["sha256"] for entry in record["inputs"]}
    stimulus = results.config.study / "stimuli" / "piece-1.wav"
    assert (
        by_file["../study/stimuli/piece-1.wav"] == hashlib.sha256(stimulus.read_bytes()).hexdigest()
    )
    assert not any("derivatives" in f for f in by_file)  # ground truth is no input
    assert record["settings"]["encoder"] == "mel" and record["settings"]["study"] == "../study"
    assert record["settings"]["used"]["cnn"]["n_test"] == 1  # 2 lowered: a quarter of 6
    assert set(record["settings"]["songs"]) == set(results.songs)
    settings = json.loads((out / "settings.json").read_text())
    assert settings["n_surrogates"] == 49 and str(root) not in (out / "settings.json").read_text()


def test_listening_views_are_written_and_linked(report):
    _, results = report
    out = results.config.output
    for name in results.songs:
        folder = out / "songs" / name.removesuffix(".wav")
        page = _parse(folder / "listen.html")
        assert "audio.ogg" in page.images and (folder / "audio.ogg").stat().st_size > 10_000
        data = json.loads(next(body for kind, body in page.scripts if kind == "application/json"))
        assert data["duration_s"] == pytest.approx(results.songs[name].duration_s)
        assert [c["label"] for c in data["curves"]] == ["skin conductance", "heart rate"]
        assert f"songs/{name.removesuffix('.wav')}/listen.html" in (out / "report.html").read_text()


def test_group_skin_conductance_is_the_mean_and_t_interval_of_the_trials(report):
    _, results = report
    study = read_study(results.config.study)
    name = "piece-2.wav"
    group = group_responses(study, [name], rate_hz=10.0, heart=False)[name]
    curve = group.curves["skin conductance"]
    rows, chills = [], []
    for trial in study.trials(on_error="skip"):
        if trial.stimulus == name:
            eda = normalize_trial(trial.responses["eda"].interpolate_nan())
            grid = np.arange(0.0, trial.duration_s, 0.1)
            rows.append(np.interp(grid, eda.times_s, eda.values[:, 0]))
            chills += [
                t for kind, t in trial.events if kind == "chill" and 0 <= t <= trial.duration_s
            ]
    data = np.vstack([r[: curve.times_s.size] for r in rows])
    assert curve.n_listeners == 6 == len(rows)
    np.testing.assert_allclose(curve.mean, data.mean(axis=0))
    half = stats.t.ppf(0.975, 5) * data.std(axis=0, ddof=1) / np.sqrt(6)
    np.testing.assert_allclose(curve.ci_high - curve.mean, half)
    np.testing.assert_allclose(group.chills_s, np.sort(chills))


def test_listening_payload_carries_the_song_and_the_group(report):
    _, results = report
    name = "piece-1.wav"
    song = results.songs[name]
    group = group_responses(results.config.study, [name], heart=False)[name]
    data = listening_payload(song, group)
    pcs = song.pca.pcs
    np.testing.assert_allclose(data["pcs"]["pc1"], pcs.values[:, 0], atol=1e-4)
    assert data["pcs"]["dt"] == pytest.approx(1 / pcs.rate_hz)
    assert data["pcs"]["cluster"] == song.clusters.labels.values[:, 0].astype(int).tolist()
    found = shown_transitions(song)
    assert [t["time_s"] for t in data["transitions"]] == pytest.approx(found.times_s, abs=1e-3)
    (curve,) = data["curves"]
    assert curve["n"] == 6 and curve["dt"] == pytest.approx(0.1)
    np.testing.assert_allclose(curve["mean"], group.curves["skin conductance"].mean, atol=1e-4)
    assert data["spectrogram"]["png"].startswith("data:image/png;base64,")
    assert data["spectrogram"]["bands"] == song.spectrogram.n_channels


# ------------------------------------------------------------------ in a real browser
@pytest.fixture(scope="module")
def browser():
    """Headless Chromium (Debian's, driven by Playwright); skipped where either is missing."""
    import os
    import shutil

    playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    executable = os.environ.get("FRISSON_CHROMIUM") or shutil.which("chromium")
    if executable is None:
        pytest.skip("no chromium on PATH (apt-get install chromium; `make install` does it)")
    with playwright.sync_playwright() as driver:
        chromium = driver.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _open(browser, path, tmp_path, name, *, full_page=True):
    """Open a page; return it with its console errors (a list that fills as it runs)."""
    import os

    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    shots = os.environ.get("FRISSON_SCREENSHOTS")  # the docs' gallery
    for folder in (tmp_path, *([Path(shots)] if shots else [])):
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=full_page)
    return page, errors


def test_listening_view_plays_seeks_and_moves_the_cursor(report, browser, tmp_path):
    _, results = report
    name = "piece-2.wav"
    song = results.songs[name]
    path = results.config.output / "songs" / "piece-2" / "listen.html"
    page, errors = _open(browser, path, tmp_path, "listening-view")
    page.wait_for_function("document.getElementById('audio').readyState >= 1", timeout=20_000)
    assert page.evaluate("document.getElementById('audio').duration") == pytest.approx(
        song.duration_s, abs=0.05
    )
    spec = "#p-spec canvas.overlay"
    width = page.evaluate(f"document.querySelector('{spec}').width")
    plot_w = width - 62 - 14  # the view's left and right margins
    assert float(page.get_attribute(spec, "data-cursor-x")) == pytest.approx(62.0)
    page.evaluate(
        "new Promise(done => { const a = document.getElementById('audio');"
        " a.addEventListener('seeked', () => done(), {once: true}); a.currentTime = 20; })"
    )
    page.wait_for_timeout(100)
    expected = 62 + 20 / song.duration_s * plot_w
    for panel in ("p-spec", "p-pcs", "p-var", "p-curve-0", "p-curve-1"):
        x = float(page.get_attribute(f"#{panel} canvas.overlay", "data-cursor-x"))
        assert x == pytest.approx(expected, abs=0.15), panel
    pcs = song.pca.pcs
    index = int(page.get_attribute("#p-plane canvas.overlay", "data-index"))
    assert index == round((20 - pcs.start_s) * pcs.rate_hz)
    box = page.locator("#p-pcs canvas.overlay").bounding_box()
    page.mouse.click(box["x"] + 62 + 0.75 * plot_w, box["y"] + 40)
    page.wait_for_timeout(300)
    seconds_per_px = song.duration_s / plot_w
    assert page.evaluate("document.getElementById('audio').currentTime") == pytest.approx(
        0.75 * song.duration_s, abs=2 * seconds_per_px
    )
    assert errors == []


def test_report_contents_resolve_and_tables_sort_in_the_browser(report, browser, tmp_path):
    _, results = report
    report_html = results.config.output / "report.html"
    page, errors = _open(browser, report_html, tmp_path, "study-report", full_page=False)
    targets = page.eval_on_selector_all("nav.toc a", "links => links.map(a => a.hash.slice(1))")
    assert len(targets) >= 10
    assert page.evaluate(f"{targets}.every(id => document.getElementById(id) !== null)")
    column = "#songs table.sortable"
    header = page.locator(f"{column} th", has_text="duration_s").first
    index = page.evaluate(
        f"Array.from(document.querySelector('{column}').tHead.rows[0].cells)"
        ".findIndex(c => c.textContent === 'duration_s')"
    )
    read = (
        f"Array.from(document.querySelector('{column}').tBodies[0].rows)"
        f".map(r => parseFloat(r.cells[{index}].dataset.v))"
    )
    header.click()
    up = page.evaluate(read)
    header.click()
    down = page.evaluate(read)
    assert up == sorted(up) and down == sorted(up, reverse=True) and len(up) == 3
    song = page.locator("#song-piece-1 > details")
    assert song.get_attribute("open") is None
    page.locator("#song-piece-1 > details > summary").click()
    assert song.get_attribute("open") == ""
    assert errors == []


def test_study_problems_are_those_the_run_carried_else_read_again(report, monkeypatch):
    import dataclasses

    from frisson.report._provenance import study_problems
    from frisson.study import Study

    _, results = report
    carried = results.problems
    assert carried and sorted(p.message for p in carried) == sorted(
        p.message for p in read_study(results.config.study).validate()
    )
    calls = []
    monkeypatch.setattr(Study, "validate", lambda self: calls.append(1) or ["read again"])
    assert study_problems(results) == carried and calls == []
    assert study_problems(dataclasses.replace(results, problems=None)) == ["read again"]
    assert calls == [1]
    missing = dataclasses.replace(results, problems=None)
    missing.config = dataclasses.replace(results.config, study=results.config.output / "nowhere")
    assert study_problems(missing) == []
