"""The interactive listening view of one song: hear it while its analysis scrolls past.

One HTML page per song, ``listen.html``, beside a compressed copy of the song
(``audio.ogg``, Vorbis, mono). The audio plays in the page; a cursor moves over
the spectrogram, the latent trajectory (PC1, PC2, clusters as a colour band,
transitions), the sliding variance of PC1, and the group's skin conductance and
heart rate (mean and CI over listeners, reported chills marked); a point moves
along the PC1-PC2 plane. Clicking any plot seeks the audio there. Everything is
inlined (about 100 lines of JavaScript drawing on canvases, the data as JSON);
nothing is fetched from a network.
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from frisson._io import atomic_write
from frisson._logging import logger
from frisson.errors import FrissonError
from frisson.report._html import Section, page_html, table_html

if TYPE_CHECKING:
    from frisson.pipelines.song import SongAnalysis
    from frisson.report._group import GroupResponses

__all__ = [
    "listening_payload",
    "shown_transitions",
    "write_audio_preview",
    "write_listening_view",
]

#: Axis label of each detector's curve in the view.
_CURVE_LABELS = {
    "pc1_variance": "PC1 variance",
    "foote_novelty": "novelty",
    "tested_novelty": "novelty",
}

#: Longest spectrogram image (time columns) and most points per curve sent to the page.
MAX_COLUMNS = 1600
MAX_POINTS = 4000

VIEW_CSS = """
<style>
.player { position: sticky; top: 0; background: #fff; z-index: 2; padding: 0.4em 0;
  border-bottom: 1px solid #ddd; } .player audio { width: 100%; }
.panel { position: relative; width: 100%; margin: 0.2em 0; }
.panel canvas, .plane canvas { position: absolute; left: 0; top: 0; }
.panel canvas.overlay, .plane canvas.overlay { cursor: crosshair; }
.plane { position: relative; width: 100%; max-width: 34rem; }
.legend span { display: inline-block; margin-right: 1em; font-size: 0.85em; }
</style>
"""


def _view_js() -> str:
    """The page's JavaScript (``listening.js``, shipped in the package)."""
    from importlib.resources import files

    return files("frisson.report").joinpath("listening.js").read_text(encoding="utf-8")


def shown_transitions(song: SongAnalysis):
    """The transitions a report shows for a song: its default detector's, else PC1 variance.

    A song analysis that names its default transitions (``default_transitions``,
    those used downstream) shows those; older analyses show ``pc1_variance``.
    The object has ``times_s``, ``strength``, ``method``, ``curve``, ``to_frame()``
    and, where the detector tests its peaks, ``p``.
    """
    try:
        return song.default_transitions
    except (AttributeError, KeyError):  # an analysis from before default transitions
        return song.transitions["pc1_variance"]


def _rounded(values: np.ndarray, digits: int = 4) -> list:
    """JSON-ready numbers (NaN as null) rounded to ``digits`` decimals."""
    values = np.round(np.asarray(values, dtype=float), digits)
    return [None if not np.isfinite(v) else float(v) for v in values]


def _series(times_s: np.ndarray, **columns: np.ndarray) -> dict:
    """Samples on a regular grid as ``t0``, ``dt`` and columns, thinned to :data:`MAX_POINTS`."""
    step = max(1, int(np.ceil(times_s.size / MAX_POINTS)))
    dt = float(times_s[1] - times_s[0]) if times_s.size > 1 else 1.0
    out = {"t0": float(times_s[0]), "dt": dt * step}
    for name, values in columns.items():
        out[name] = _rounded(np.asarray(values)[::step])
    return out


def _spectrogram_png(song: SongAnalysis) -> dict:
    """The log-mel spectrogram as a PNG data URL (one pixel per band and column)."""
    from matplotlib import image

    spec = song.spectrogram
    values = spec.values
    step = max(1, int(np.ceil(values.shape[0] / MAX_COLUMNS)))
    if step > 1:
        n = values.shape[0] // step * step
        values = values[:n].reshape(-1, step, values.shape[1]).mean(axis=1)
    buffer = io.BytesIO()
    low, high = np.percentile(spec.values, 5), spec.values.max()
    image.imsave(buffer, values.T[::-1], cmap="magma", vmin=low, vmax=high, format="png")
    data = base64.b64encode(buffer.getvalue()).decode()
    return {
        "png": f"data:image/png;base64,{data}",
        "t0": float(spec.start_s),
        "t1": float(spec.start_s + values.shape[0] * step / spec.rate_hz),
        "bands": int(spec.n_channels),
    }


def listening_payload(
    song: SongAnalysis, group: GroupResponses | None = None, *, trail_s: float = 5.0
) -> dict:
    """The data the listening view draws, as JSON-ready values.

    Parameters
    ----------
    song : SongAnalysis
        From :func:`frisson.pipelines.analyze_song`.
    group : GroupResponses, optional
        The listeners' skin conductance / heart rate and chills for this song.
    trail_s : float
        Length of the trail behind the moving point in the PC1-PC2 plane.

    Returns
    -------
    dict
        ``duration_s``, ``spectrogram`` (PNG data URL, ``t0``, ``t1``, ``bands``),
        ``pcs`` (``t0``, ``dt``, ``pc1``, ``pc2``, ``cluster``), ``variance``,
        ``transitions`` (``time_s``, ``strength``, ``p`` or None), ``method``,
        ``curves`` (``label``, ``unit``, ``n``, ``mean``, ``low``, ``high`` on
        ``t0``/``dt``),
        ``chills_s`` and ``trail_s``.

    Examples
    --------
    >>> from frisson.pipelines import analyze_song
    >>> from frisson.simulate import synth_piece
    >>> song = analyze_song(synth_piece(n_sections=3, seed=0).audio, encoder="mel",
    ...                     n_surrogates=19)
    >>> data = listening_payload(song)
    >>> len(data["pcs"]["pc1"]) == song.pca.pcs.n_times, data["curves"]
    (True, [])

    """
    pcs = song.pca.pcs
    pc2 = pcs.values[:, 1] if pcs.n_channels > 1 else np.zeros(pcs.n_times)
    found = shown_transitions(song)
    p_values = getattr(found, "p", None)
    p_values = np.full(found.times_s.size, np.nan) if p_values is None else np.asarray(p_values)
    payload = {
        "duration_s": float(song.duration_s),
        "spectrogram": _spectrogram_png(song),
        "pcs": {
            "t0": float(pcs.start_s),
            "dt": 1.0 / pcs.rate_hz,
            "pc1": _rounded(pcs.values[:, 0]),
            "pc2": _rounded(pc2),
            "cluster": [int(k) for k in song.clusters.labels.values[:, 0]],
        },
        "variance": {
            **_series(found.curve.times_s, v=found.curve.values[:, 0]),
            "label": _CURVE_LABELS.get(found.method, found.method),
        },
        "transitions": [
            {
                "time_s": round(float(t), 3),
                "strength": round(float(s), 3),
                "p": None if not np.isfinite(q) else float(q),
            }
            for t, s, q in zip(found.times_s, found.strength, p_values, strict=True)
        ],
        "method": found.method,
        "curves": [],
        "chills_s": [],
        "trail_s": float(trail_s),
    }
    if group is not None:
        for label, curve in group.curves.items():
            entry = _series(curve.times_s, mean=curve.mean, low=curve.ci_low, high=curve.ci_high)
            payload["curves"].append(
                {"label": label, "unit": curve.unit, "n": curve.n_listeners, **entry}
            )
        payload["chills_s"] = _rounded(group.chills_s, 2)
    return payload


def write_audio_preview(source: str | os.PathLike, path: str | os.PathLike) -> Path:
    """A small mono Ogg Vorbis copy of a song for the page (22.05 kHz).

    Parameters
    ----------
    source : path
        Any audio file :func:`frisson.audio.load_audio` reads.
    path : path
        The ``.ogg`` written (atomically).

    Returns
    -------
    Path
        ``path``.

    """
    import soundfile

    from frisson.audio import load_audio

    audio = load_audio(source, rate_hz=22050.0)
    samples = np.clip(audio.samples, -1.0, 1.0)
    return atomic_write(
        Path(path),
        lambda p: soundfile.write(p, samples, 22050, format="OGG", subtype="VORBIS"),
    )


def _stats_html(song: SongAnalysis, stats: dict | None) -> str:
    import pandas as pd

    found = shown_transitions(song)
    body = table_html(found.to_frame(), caption=f"Transitions ({found.method})")
    if stats:
        body += table_html(pd.DataFrame([stats]), caption="This song in the study's tests")
    if getattr(found, "p", None) is None:
        body += (
            "<p class='note'>These transitions carry no p of their own: the study tests them "
            "together (transition-locked vs pseudo-transition skin conductance, songs as the "
            "random factor; ISC near transitions against every shift of the ISC series). "
            "The row above gives this song's part in those tests.</p>"
        )
    return body


def write_listening_view(
    song: SongAnalysis,
    folder: str | os.PathLike,
    *,
    group: GroupResponses | None = None,
    audio: str | os.PathLike | None = None,
    stats: dict | None = None,
    title: str | None = None,
) -> list[Path]:
    """Write ``listen.html`` (and ``audio.ogg``) for one song into ``folder``.

    Parameters
    ----------
    song : SongAnalysis
        The song's latent analysis.
    folder : path
        Output folder (created).
    group : GroupResponses, optional
        The group's responses (:func:`frisson.report.group_responses`).
    audio : path, optional
        The song's audio (default ``song.source`` when it is a file); a compressed
        copy is written beside the page. Without audio the plots still seek.
    stats : dict, optional
        This song's numbers in the study's tests (shown as a table).
    title : str, optional
        Page title (default: the audio file's name).

    Returns
    -------
    list of Path
        The files written.

    Examples
    --------
    >>> import tempfile
    >>> from frisson.pipelines import analyze_song
    >>> from frisson.simulate import synth_piece
    >>> song = analyze_song(synth_piece(n_sections=3, seed=0).audio, encoder="mel",
    ...                     n_surrogates=19)
    >>> [p.name for p in write_listening_view(song, tempfile.mkdtemp())]
    ['listen.html']

    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    source = Path(audio) if audio is not None else Path(str(song.source))
    audio_tag = "<p class='note'>No audio file: the plots still seek and animate.</p>"
    if source.is_file():
        try:
            written.append(write_audio_preview(source, folder / "audio.ogg"))
            audio_tag = "<audio id='audio' controls preload='auto' src='audio.ogg'></audio>"
        except (FrissonError, RuntimeError, OSError) as error:
            logger.warning("%s: no audio in the listening view (%s)", source, error)
    if "id='audio'" not in audio_tag:
        audio_tag += "<audio id='audio'></audio>"
    payload = listening_payload(song, group)
    data = json.dumps(payload, separators=(",", ":")).replace("</", "<\\/")
    name = title or Path(str(song.source)).name
    legend = (
        "<p class='legend'><span style='color:#111'>&#9632; PC1</span>"
        "<span style='color:#1f77b4'>&#9632; PC2</span>"
        "<span style='color:#c0392b'>- - transitions</span>"
        "<span style='color:#8e44ad'>&#9646; reported chills</span>"
        "<span>band under the PCs: cluster</span>"
        "<span style='color:#e67e22'>| now</span></p>"
    )
    curves = "".join(
        f"<div class='panel' id='p-curve-{i}'></div>" for i in range(len(payload["curves"]))
    )
    group_note = ""
    if payload["curves"]:
        group_note = (
            "<p class='note'>"
            + "; ".join(
                f"{html.escape(c['label'])}: mean and 95 % CI over {c['n']} listeners ({c['unit']})"
                for c in payload["curves"]
            )
            + ".</p>"
        )
    listen = (
        f"{VIEW_CSS}<div class='player'>{audio_tag} <b id='clock'>0.0 s</b></div>{legend}"
        "<div class='panel' id='p-spec'></div><div class='panel' id='p-pcs'></div>"
        f"<div class='panel' id='p-var'></div>{curves}{group_note}"
        "<p><b>PC1-PC2 plane</b> (colour: cluster; the point follows the music, "
        f"with its last {payload['trail_s']:g} s)</p><div class='plane' id='p-plane'></div>"
        "<p class='note'>Click any plot to seek the audio there.</p>"
        f"<script type='application/json' id='frisson-data'>{data}</script>"
    )
    sections = [
        Section("Listen", listen),
        Section("Transitions and tests", _stats_html(song, stats)),
        Section(
            "About this view",
            f"<p>{html.escape(song.encoder)} layer {html.escape(str(song.layer))}; "
            f"{song.pca.pcs.rate_hz:.2f} Hz trajectory, k = {song.clusters.n_clusters} "
            "clusters. Offline: the audio is audio.ogg beside this page.</p>",
            open=False,
        ),
    ]
    page = page_html(f"Listening view: {name}", sections, script=_view_js())
    written.append(atomic_write(folder / "listen.html", lambda p: Path(p).write_text(page)))
    return written
