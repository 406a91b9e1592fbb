"""The song pipeline: the chills study's latent-trajectory analysis of one song.

:func:`analyze_song` combines the library's layers (audio, encoders, features,
latent) and returns a :class:`SongAnalysis`; it writes nothing.
:func:`frisson.report.write_song_analysis` saves its tables and figure.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from frisson import latent, structure
from frisson._check import check_int, check_positive
from frisson._logging import logger
from frisson.audio import Audio, load_audio
from frisson.encoders import DEFAULT_ENCODER, get_encoder
from frisson.errors import DataError
from frisson.features import compute_features
from frisson.timeseries import TimeSeries

if TYPE_CHECKING:
    from frisson.store import EmbeddingStore

__all__ = ["SongAnalysis", "analyze_song", "read_boundaries"]


@dataclass(frozen=True)
class SongAnalysis:
    """Everything :func:`analyze_song` computed for one song.

    Attributes
    ----------
    source : str
        The audio file (or label).
    duration_s : float
        Length of the audio.
    encoder, layer : str
        Which representation was analysed.
    smoothed : TimeSeries
        The layer after :func:`~frisson.latent.sliding_mean`.
    pca : TrajectoryPCA
        Within-song PCA of ``smoothed``.
    clusters : GapClusters
        K-means clusters in the PC1-PC2 plane, k (1 allowed) by the gap statistic
        against surrogates (:func:`frisson.structure.cluster_with_null`).
    transitions : dict of str to Transitions
        By method: ``"tested_novelty"`` (the default,
        :data:`frisson.structure.DEFAULT_TRANSITIONS`: the Laplacian
        segmentation's boundaries, kept when the song's segmentation beats
        surrogates, :func:`frisson.structure.significant_segmentation`),
        ``"pc1_variance"`` (the poster's) and ``"foote_novelty"`` (untested
        novelty peaks).
    features : TimeSeries
        Acoustic features at the PC rate.
    correlations : FeatureCorrelations
        Lagged PC-feature correlations with surrogate p-values.
    spectrogram : TimeSeries
        A 64-band log-mel spectrogram for display.
    reference_boundaries_s : ndarray or None
        Known boundaries, if given.
    boundary_scores : dict of str to list of BoundaryScores
        Per method, when reference boundaries were given (else empty).
    params : dict
        All settings, for the report.

    """

    source: str
    duration_s: float
    encoder: str
    layer: str
    smoothed: TimeSeries = field(repr=False)
    pca: latent.TrajectoryPCA = field(repr=False)
    clusters: latent.Clusters = field(repr=False)
    transitions: dict[str, latent.Transitions] = field(repr=False)
    features: TimeSeries = field(repr=False)
    correlations: latent.FeatureCorrelations = field(repr=False)
    spectrogram: TimeSeries = field(repr=False)
    reference_boundaries_s: np.ndarray | None = None
    boundary_scores: dict[str, list[latent.BoundaryScores]] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def default_transitions(self) -> structure.SignificantTransitions:
        """The transitions reported and used downstream (``transitions["tested_novelty"]``)."""
        return self.transitions[structure.DEFAULT_TRANSITIONS]

    def summary(self) -> str:
        """A few lines for the terminal."""
        evr = self.pca.explained_variance_ratio
        clusters = self.clusters
        null = getattr(clusters, "p", None)
        lines = [
            f"{self.source}: {self.duration_s:.1f} s, encoder {self.encoder} layer {self.layer} "
            f"({self.smoothed.n_channels} dims, smoothed to {self.smoothed.rate_hz:.2f} Hz)",
            f"PCA: PC1 {100 * evr[0]:.1f} %, PC2 {100 * evr[1]:.1f} %, "
            f"first {evr.size} PCs {100 * evr.sum():.1f} % of variance",
            f"clusters: k = {clusters.n_clusters} by the gap statistic"
            + ("" if null is None else f" (vs surrogates p = {null:.3g})"),
        ]
        for method, found in self.transitions.items():
            p = getattr(found, "p", None)
            times = ", ".join(
                f"{t:.1f}" if p is None else f"{t:.1f} (p={q:.3g})"
                for t, q in zip(found.times_s, found.times_s if p is None else p, strict=True)
            )
            lines.append(f"transitions ({method}): {found.times_s.size} at [{times}] s")
        for method, scores in self.boundary_scores.items():
            shown = ", ".join(f"F({s.window_s:g} s) = {s.f_measure:.2f}" for s in scores)
            lines.append(f"vs reference ({method}): {shown}")
        table = self.correlations.to_frame()
        strongest = table.loc[table["r"].abs().idxmax()]
        lines.append(
            f"strongest PC-feature link: {strongest.pc} ~ {strongest.feature}, "
            f"r = {strongest.r:.2f} at lag {strongest.lag_s:+.2f} s (p = {strongest.p:.3g})"
        )
        return "\n".join(lines)


def analyze_song(
    audio: Audio | str | os.PathLike,
    *,
    encoder: str = DEFAULT_ENCODER,
    encoder_params: dict[str, Any] | None = None,
    layer: str | None = None,
    window_s: float = structure.POSTER_WINDOW_S,
    hop_s: float = structure.POSTER_HOP_S,
    window_frames: int | None = None,
    hop_frames: int | None = None,
    n_components: int = 10,
    k_max: int = 8,
    variance_window_s: float = 4.0,
    novelty_kernel_s: float = 8.0,
    transition_min_segment_s: float = 5.0,
    transition_alpha: float = 0.05,
    n_transition_surrogates: int = 199,
    min_distance_s: float = 5.0,
    edge_s: float = 5.0,
    n_pcs_correlated: int = 3,
    lag_range_s: tuple[float, float] = (-2.0, 2.0),
    n_surrogates: int = 1000,
    reference_boundaries_s: Sequence[float] | None = None,
    store: EmbeddingStore | None = None,
    seed: int = 0,
) -> SongAnalysis:
    """Latent-trajectory analysis of one song, as in the chills study.

    Encode -> sliding mean -> within-song PCA -> clusters (k by the gap
    statistic) -> transitions (the default: section boundaries of the
    smoothed latent, the song's segmentation tested against surrogates; plus
    the poster's PC1 variance and untested Foote novelty) ->
    acoustic features -> lagged PC-feature correlations with surrogate p-values
    -> (optional) boundary scores.

    Parameters
    ----------
    audio : Audio or path
        The song.
    encoder : str
        Registry name of the encoder (see :func:`frisson.encoders.list_encoders`);
        default ``musicnn-msd``, the pretrained tagger (layer ``cnn3``, 62.5 frames/s).
        ``mel`` is the fast non-neural baseline (86.13 frames/s).
    encoder_params : dict, optional
        Settings passed to :func:`frisson.encoders.get_encoder`.
    layer : str, optional
        Encoder layer; default the encoder's ``default_layer``.
    window_s, hop_s : float
        Sliding-mean window and hop in seconds (default the poster's 1.161 s and
        0.0464 s: 100 and 4 frames of DAC), rounded to the encoder's frames.
    window_frames, hop_frames : int, optional
        The same in encoder frames; when given they replace ``window_s`` / ``hop_s``.
    n_components : int
        PCs kept.
    k_max : int
        Largest cluster count tried (k = 1 .. k_max, by the gap statistic).
    variance_window_s, novelty_kernel_s, min_distance_s, edge_s : float
        Transition settings (see :func:`~frisson.latent.variance_transitions`
        and :func:`~frisson.latent.novelty_transitions`).
    transition_min_segment_s, transition_alpha, n_transition_surrogates : float, float, int
        The default detector's shortest section (s), song-wise level and
        surrogates (see :func:`frisson.structure.significant_segmentation`).
    n_pcs_correlated : int
        Leading PCs correlated with the features.
    lag_range_s : (float, float)
        Lags of the PC-feature correlations (positive = feature leads).
    n_surrogates : int
        Surrogates per correlation test.
    reference_boundaries_s : sequence of float, optional
        Known section boundaries; when given, transitions are scored against them.
    store : EmbeddingStore, optional
        The embedding store: the layer is read from it when stored (keyed by the
        audio's SHA-256 and the encoder's configuration) and written to it
        otherwise, so changing an analysis setting never re-encodes the audio.
    seed : int
        Seed of clustering and surrogates.

    Returns
    -------
    SongAnalysis

    Examples
    --------
    >>> from frisson.simulate import synth_piece
    >>> piece = synth_piece(n_sections=3, section_s=(12.0, 12.0), seed=0)
    >>> result = analyze_song(piece.audio, encoder="mel", n_surrogates=99,
    ...                       reference_boundaries_s=piece.boundaries_s)
    >>> result.boundary_scores["pc1_variance"][1].f_measure
    1.0
    >>> result.default_transitions.times_s.round(1), result.default_transitions.p
    (array([12.8, 22.8]), array([0.015, 0.015]))
    >>> round(result.boundary_scores["tested_novelty"][1].f_measure, 2)  # F at 3 s
    1.0

    """
    enc = get_encoder(encoder, **(encoder_params or {}))
    layer = layer or enc.default_layer
    # Checked before any audio is decoded or encoded, under the names the caller used.
    check_positive("window_s", window_s)
    check_positive("hop_s", hop_s)
    for name, frames in (("window_frames", window_frames), ("hop_frames", hop_frames)):
        if frames is not None:
            check_int(name, frames, minimum=1)
    check_int("n_components", n_components, minimum=1)
    check_int("n_surrogates", n_surrogates, minimum=1)
    check_positive("variance_window_s", variance_window_s)
    check_positive("novelty_kernel_s", novelty_kernel_s)
    check_positive("edge_s", edge_s, allow_zero=True)
    # Between the ignored edges there must be room for the longest transition window.
    min_duration_s = 2 * edge_s + max(variance_window_s, novelty_kernel_s)
    if not isinstance(audio, Audio):
        audio = load_audio(audio, min_duration_s=min_duration_s)
    elif audio.duration_s < min_duration_s:
        raise DataError(
            f"{audio.source}: lasts {audio.duration_s:.2f} s, shorter than the minimum of "
            f"{min_duration_s:.2f} s for this analysis (the longest transition window plus "
            "edge_s at both ends); use a longer excerpt or smaller windows."
        )
    embedding = _encode(enc, audio, layer, store)
    frame_rate_hz = embedding[layer].rate_hz
    try:
        window, hop = structure.smoothing_frames(frame_rate_hz, window_s, hop_s)
        window, hop = window_frames or window, hop_frames or hop
        smoothed = latent.sliding_mean(embedding[layer], window_frames=window, hop_frames=hop)
        pca = latent.trajectory_pca(smoothed, n_components=n_components)
        clusters = structure.cluster_with_null(pca.pcs, k_max=k_max, seed=seed)
        tested = {"alpha": transition_alpha, "seed": seed, "n_surrogates": n_transition_surrogates}
        tested["min_segment_s"] = transition_min_segment_s
        transitions = _transitions(
            smoothed,
            pca.pcs,
            tested,
            variance_window_s=variance_window_s,
            novelty_kernel_s=novelty_kernel_s,
            min_distance_s=min_distance_s,
            edge_s=edge_s,
        )
    except DataError as error:
        raise DataError(f"{audio.source}: {error}") from None
    logger.info("computing acoustic features")
    features = compute_features(audio, rate_hz=pca.pcs.rate_hz)
    n_missing = np.isnan(features.values).sum(axis=0)
    if n_missing.any():
        # e.g. the spectral centroid of digital silence is undefined
        gaps = ", ".join(
            f"{n} {name}" for n, name in zip(n_missing, features.names, strict=True) if n
        )
        logger.warning("%s: interpolating undefined feature samples (%s)", audio.source, gaps)
        features = features.interpolate_nan()
    logger.info("testing PC-feature correlations (%d surrogates shared by all pairs)", n_surrogates)
    correlations = latent.feature_correlations(
        pca.pcs,
        features,
        n_pcs=n_pcs_correlated,
        lag_range_s=lag_range_s,
        n_surrogates=n_surrogates,
        seed=seed,
    )
    scores: dict[str, list[latent.BoundaryScores]] = {}
    reference = None
    if reference_boundaries_s is not None:
        reference = np.asarray(reference_boundaries_s, dtype=float)
        for method, found in transitions.items():
            scores[method] = latent.score_boundaries(
                found.times_s, reference, duration_s=audio.duration_s
            )
    params = {
        "encoder": encoder,
        "encoder_config": enc.config(),
        "layer": layer,
        "window_s": window / frame_rate_hz,
        "hop_s": hop / frame_rate_hz,
        "window_frames": window,
        "hop_frames": hop,
        "n_components": n_components,
        "k_max": k_max,
        "clusters": {"k": clusters.n_clusters, "p": clusters.p, "method": "gap statistic"},
        "transitions": {m: t.params for m, t in transitions.items()},
        "correlations": correlations.params,
        "seed": seed,
    }
    return SongAnalysis(
        source=audio.source,
        duration_s=audio.duration_s,
        encoder=encoder,
        layer=layer,
        smoothed=smoothed,
        pca=pca,
        clusters=clusters,
        transitions=transitions,
        features=features,
        correlations=correlations,
        spectrogram=_display_spectrogram(audio),
        reference_boundaries_s=reference,
        boundary_scores=scores,
        params=params,
    )


def _transitions(
    smoothed: TimeSeries,
    pcs: TimeSeries,
    tested: dict[str, Any],
    *,
    variance_window_s: float,
    novelty_kernel_s: float,
    min_distance_s: float,
    edge_s: float,
) -> dict[str, latent.Transitions]:
    """The default (tested) transitions first, then the poster's and untested novelty."""
    return {
        structure.DEFAULT_TRANSITIONS: structure.significant_segmentation(
            smoothed, edge_s=edge_s, **tested
        ),
        "pc1_variance": latent.variance_transitions(
            pcs, window_s=variance_window_s, min_distance_s=min_distance_s, edge_s=edge_s
        ),
        "foote_novelty": latent.novelty_transitions(
            pcs, kernel_s=novelty_kernel_s, min_distance_s=min_distance_s, edge_s=edge_s
        ),
    }


def _encode(enc, audio: Audio, layer: str, store: EmbeddingStore | None):
    if store is not None and store.has(audio.sha256, enc, layers=[layer]):
        logger.info("reading %s %s of %s from the store", enc.name, layer, audio.source)
        return store.get(audio.sha256, enc, layers=[layer])
    logger.info("encoding %s with %s (layer %s)", audio.source, enc.name, layer)
    embedding = enc.encode(audio, layers=[layer])
    if store is not None:
        store.put(embedding, source=str(audio.source), duration_s=audio.duration_s)
    return embedding


def _display_spectrogram(audio: Audio) -> TimeSeries:
    from frisson.encoders.mel import MelEncoder

    return MelEncoder(n_mels=64, hop_samples=512).encode(audio)["logmel"]


def read_boundaries(path: str | os.PathLike) -> np.ndarray:
    r"""Read boundary times from a TSV/CSV with a ``time_s`` column (or one bare column).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "b.tsv"
    >>> _ = p.write_text("time_s\tlabel\n12.5\tchorus\n30\tverse\n")
    >>> read_boundaries(p)
    array([12.5, 30. ])

    """
    import pandas as pd

    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: boundary file not found; check the path.")
    sep = "," if path.suffix.lower() == ".csv" else "\t"
    fix = "give a TSV/CSV text file with a 'time_s' column of boundary times in seconds"
    try:
        path.read_bytes().decode("utf-8")
        table = pd.read_csv(path, sep=sep)
    except UnicodeDecodeError:
        raise DataError(f"{path}: holds binary or non-UTF-8 bytes; {fix}.") from None
    except (pd.errors.EmptyDataError, pd.errors.ParserError) as error:
        reason = str(error).strip().splitlines()[0]
        raise DataError(f"{path}: cannot be read as a table ({reason}); {fix}.") from None
    if "time_s" in table.columns:
        column = table["time_s"]
    elif table.shape[1] == 1:
        column = pd.read_csv(path, sep=sep, header=None).iloc[:, 0]
    else:
        raise DataError(
            f"{path}: needs a 'time_s' column of boundary times in seconds; "
            f"found columns {list(table.columns)}."
        )
    times = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float)
    if not np.isfinite(times).all():
        raise DataError(f"{path}: 'time_s' holds values that are not numbers; {fix}.")
    if (times < 0).any():
        raise DataError(
            f"{path}: 'time_s' holds negative times ({times.min():g} s); boundaries are "
            "seconds from the start of the song, >= 0."
        )
    return np.sort(times)
