"""The transition test's pseudo-transitions, drawn once per study for every step that needs them.

The ``epochs`` step of :func:`~frisson.pipelines.chills.run_study` and the
opt-in analyses (:mod:`frisson.pipelines._beyond`: heart rate at transitions,
chill hit rates) compare transitions with the same controls: one draw per song,
seeded ``config.seed + index`` over the songs in name order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from frisson._logging import logger
from frisson.errors import DataError
from frisson.structure import DEFAULT_TRANSITIONS

if TYPE_CHECKING:
    from frisson.events import PseudoTransitions

__all__ = ["SongEvents", "song_events", "transition_draws"]

#: Fewer pooled transitions than this: controls are drawn uniformly over each span.
_MIN_POOL = 5


@dataclass(frozen=True)
class SongEvents:
    """What the transition-locked analyses need of a song's latent analysis."""

    duration_s: float
    transitions_s: np.ndarray
    edge_s: float


def song_events(songs: dict, method: str = DEFAULT_TRANSITIONS) -> dict[str, SongEvents]:
    """Per song of :func:`~frisson.pipelines.chills.run_study`, its transitions and edge.

    ``method`` is the run's ``transition_method`` (the epoch test's transitions;
    default the tested detector, :data:`frisson.structure.DEFAULT_TRANSITIONS`).
    With the tested detector only the transitions that passed the song-wise test
    are returned (``times_s``): a song whose segmentation did not beat the null
    has none, and :func:`transition_draws` then gives it no controls either.
    """
    out = {}
    for name, song in songs.items():
        found = song.transitions[method]
        out[name] = SongEvents(
            float(song.duration_s), np.asarray(found.times_s), float(found.params.get("edge_s", 0))
        )
    return out


def transition_draws(config: Any, events: dict[str, SongEvents]) -> dict[str, PseudoTransitions]:
    """Per song, its :func:`~frisson.events.pseudo_transitions` (the same for every listener).

    Songs whose admissible span is empty (too short for the detector's edge,
    the epoch window and the onset window) are left out with a warning. A song
    without transitions (with the tested detector: its segmentation did not
    beat the null) gets an empty draw, no transitions and no controls, and
    keeps its place in the seeding (``config.seed + index`` over every song
    with a span): whether a song has transitions depends on its audio alone,
    and each song's controls match its own transitions in number and are the
    same for all its listeners, so the songs tested stay exchangeable under
    the null. With
    ``control_positions = "pooled"`` the controls follow the study's pooled
    transition positions (uniform when fewer than 5 transitions).
    """
    from frisson.events import admissible_span, pseudo_transitions, relative_positions

    spans = {}
    for name in sorted(events):
        try:
            spans[name] = admissible_span(
                events[name].duration_s,
                edge_s=events[name].edge_s,
                window_s=config.epoch_window_s,
                onset_exclude_s=config.onset_exclude_s,
            )
        except DataError as error:
            logger.warning("transition test: %s left out: %s", name, error)
    pool = None
    if config.control_positions != "uniform":
        pool = np.concatenate(
            [relative_positions(events[n].transitions_s, s) for n, s in spans.items()]
            or [np.array([])]
        )
        if pool.size < _MIN_POOL:
            logger.warning(
                "transition test: %d transitions in the study; controls drawn uniformly over "
                "each song's span",
                pool.size,
            )
            pool = None
    return {
        name: pseudo_transitions(
            events[name].transitions_s,
            duration_s=events[name].duration_s,
            span_s=spans[name],
            window_s=config.epoch_window_s,
            onset_exclude_s=config.onset_exclude_s,
            n_sets=config.n_control_sets,
            position_pool=pool,
            seed=config.seed + index,
        )
        for index, name in enumerate(sorted(spans))
    }
