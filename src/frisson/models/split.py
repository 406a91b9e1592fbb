"""Participant and song splits for training, early stopping and testing; training pairs.

The chills study trained on 30 participants and tested on 10 others
(:func:`split_participants`); smaller studies rotate the test participants
through folds (:func:`participant_folds`). A participant's trials never
appear on two sides of a split.

Test participants of a participant split heard the training songs, so a
model can score well there by memorising each song's mean response from any
input that tells the songs' moments apart. :func:`song_folds` splits the songs
too, for predictions on music the model never saw
(:func:`frisson.models.evaluate.predict_held_out_songs`); the headline score
holds out both (:func:`frisson.models.evaluate.evaluate_chills_models`).
:func:`held_out_truths` collects the test participants' targets per song,
the form the scoring functions take.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from frisson._check import check_int, rng_from_seed
from frisson.errors import DataError, ParameterError
from frisson.models._pairs import Pair
from frisson.timeseries import TimeSeries

__all__ = [
    "ParticipantSplit",
    "SongFold",
    "build_pairs",
    "held_out_truths",
    "participant_folds",
    "song_folds",
    "split_participants",
]


@dataclass(frozen=True)
class ParticipantSplit:
    """Disjoint participant sets: fit on ``train``, stop early on ``validation``, score ``test``.

    Attributes
    ----------
    train, validation, test : tuple of str
        Participant labels, each sorted.

    """

    train: tuple[str, ...]
    validation: tuple[str, ...]
    test: tuple[str, ...]


def _unique(labels: Iterable[str], what: str = "participants") -> list[str]:
    if isinstance(labels, str):
        raise ParameterError(f"{what} must be a list of labels, got the string {labels!r}.")
    unique = sorted({str(label) for label in labels})
    if not unique:
        raise DataError(f"{what} is empty.")
    return unique


def split_participants(
    participants: Iterable[str], *, n_test: int = 10, n_validation: int = 5, seed: int = 0
) -> ParticipantSplit:
    """One random split into train, validation and test participants.

    With 40 participants and the defaults: 10 test participants, and the
    study's 30 training participants split into 25 that fit the weights and 5
    whose loss stops training early. Labels are de-duplicated and sorted before
    the seeded draw, so the split depends only on the set of labels and the seed.

    Parameters
    ----------
    participants : iterable of str
        Participant labels (repeats, e.g. one per trial, are merged).
    n_test : int
        Test participants (default 10).
    n_validation : int
        Validation participants, taken from the non-test ones (default 5; 0
        for none).
    seed : int
        Seed of the draw.

    Returns
    -------
    ParticipantSplit

    Raises
    ------
    ParameterError
        If fewer than ``n_test + n_validation + 1`` participants are given.

    Examples
    --------
    >>> split = split_participants([f"{i:02d}" for i in range(40)], seed=0)
    >>> len(split.train), len(split.validation), len(split.test)
    (25, 5, 10)

    """
    labels = _unique(participants)
    n_test = check_int("n_test", n_test, minimum=1)
    n_validation = check_int("n_validation", n_validation, minimum=0)
    needed = n_test + n_validation + 1
    if len(labels) < needed:
        raise ParameterError(
            f"split_participants needs at least n_test + n_validation + 1 = {needed} "
            f"participants, got {len(labels)}; lower n_test or n_validation, or use "
            "participant_folds for a small study."
        )
    order = rng_from_seed(seed).permutation(len(labels))
    chosen = [labels[i] for i in order]
    test = chosen[:n_test]
    validation = chosen[n_test : n_test + n_validation]
    train = chosen[n_test + n_validation :]
    return ParticipantSplit(tuple(sorted(train)), tuple(sorted(validation)), tuple(sorted(test)))


def participant_folds(
    participants: Iterable[str], *, n_folds: int = 5, n_validation: int = 1, seed: int = 0
) -> list[ParticipantSplit]:
    """K folds over participants: each is a test participant in exactly one fold.

    The test sets are scikit-learn's ``KFold`` (shuffled, seeded) over the
    sorted unique labels, the same as ``GroupKFold`` with one group per
    participant. In each fold, ``n_validation`` of the remaining participants
    (drawn with the same seed) are held out for early stopping.

    Parameters
    ----------
    participants : iterable of str
        Participant labels (repeats are merged).
    n_folds : int
        Number of folds (>= 2, at most the number of participants).
    n_validation : int
        Validation participants per fold (default 1; 0 for none).
    seed : int
        Seed of the fold assignment and of the validation draws.

    Returns
    -------
    list of ParticipantSplit
        One per fold.

    Examples
    --------
    >>> folds = participant_folds(["a", "b", "c", "d", "e", "f"], n_folds=3, seed=0)
    >>> sorted(p for fold in folds for p in fold.test)
    ['a', 'b', 'c', 'd', 'e', 'f']
    >>> [len(fold.train) for fold in folds]
    [3, 3, 3]

    """
    from sklearn.model_selection import KFold

    labels = _unique(participants)
    n_folds = check_int("n_folds", n_folds, minimum=2)
    n_validation = check_int("n_validation", n_validation, minimum=0)
    if n_folds > len(labels):
        raise ParameterError(
            f"n_folds={n_folds} exceeds the {len(labels)} participants; use at most "
            f"{len(labels)} folds."
        )
    rng = rng_from_seed(seed)
    folds = []
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=int(rng.integers(2**31)))
    for rest, test in splitter.split(labels):
        if rest.size < n_validation + 1:
            raise ParameterError(
                f"A fold keeps {rest.size} non-test participants, fewer than n_validation + 1 "
                f"= {n_validation + 1}; use fewer folds or a smaller n_validation."
            )
        picked = rng.permutation(rest)
        validation, train = picked[:n_validation], picked[n_validation:]
        folds.append(
            ParticipantSplit(
                tuple(sorted(labels[i] for i in train)),
                tuple(sorted(labels[i] for i in validation)),
                tuple(sorted(labels[i] for i in test)),
            )
        )
    return folds


@dataclass(frozen=True)
class SongFold:
    """Songs to train on and songs to predict, disjoint.

    Attributes
    ----------
    train, test : tuple of str
        Song names, each sorted.

    """

    train: tuple[str, ...]
    test: tuple[str, ...]


def song_folds(
    songs: Iterable[str], *, n_folds: int | None = None, seed: int = 0
) -> list[SongFold]:
    """K folds over songs: each song is predicted by a model that never heard it.

    scikit-learn's ``KFold`` (shuffled, seeded) over the sorted unique song
    names; ``n_folds=None`` leaves one song out per fold.

    Parameters
    ----------
    songs : iterable of str
        Song names (repeats are merged).
    n_folds : int, optional
        Number of folds (2 .. number of songs); default one per song.
    seed : int
        Seed of the fold assignment.

    Returns
    -------
    list of SongFold

    Examples
    --------
    >>> [fold.test for fold in song_folds(["b", "a", "c"])]
    [('a',), ('b',), ('c',)]

    """
    from sklearn.model_selection import KFold

    names = _unique(songs, "songs")
    if len(names) < 2:
        raise DataError(f"song_folds needs at least 2 songs, got {names}.")
    if n_folds is None:
        return [SongFold(tuple(n for n in names if n != name), (name,)) for name in names]
    n_folds = check_int("n_folds", n_folds, minimum=2)
    if n_folds > len(names):
        raise ParameterError(
            f"n_folds={n_folds} exceeds the {len(names)} songs; use at most {len(names)} folds."
        )
    seed = int(rng_from_seed(seed).integers(2**31))
    splitter = KFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return [
        SongFold(tuple(sorted(names[i] for i in train)), tuple(sorted(names[i] for i in test)))
        for train, test in splitter.split(names)
    ]


def build_pairs(
    inputs: Mapping[str, TimeSeries],
    targets: Mapping[tuple[str, str], TimeSeries],
    participants: Sequence[str],
    *,
    songs: Sequence[str] | None = None,
) -> list[Pair]:
    """``(inputs[song], targets[participant, song])`` for every available participant x song.

    Parameters
    ----------
    inputs : mapping of str to TimeSeries
        Per song, the input series (an embedding layer or acoustic features).
    targets : mapping of (str, str) to TimeSeries
        Per ``(participant, song)``, the target series. Missing trials are
        skipped (a participant may lack a song).
    participants : sequence of str
        Whose trials to take (e.g. ``split.train``).
    songs : sequence of str, optional
        Which songs (default: every song of ``inputs``).

    Returns
    -------
    list of (TimeSeries, TimeSeries)
        Ordered by participant, then song.

    Raises
    ------
    DataError
        If no trial is found.

    Examples
    --------
    >>> from frisson.models import planted_study
    >>> study = planted_study(n_participants=3, n_songs=2, duration_s=20.0, rate_hz=10.0)
    >>> len(build_pairs(study.inputs, study.targets, ["p01", "p02"]))
    4

    """
    songs = list(inputs) if songs is None else list(songs)
    missing = [s for s in songs if s not in inputs]
    if missing:
        raise DataError(f"songs {missing} have no input series; inputs has {sorted(inputs)}.")
    pairs = [
        (inputs[song], targets[participant, song])
        for participant in participants
        for song in songs
        if (participant, song) in targets
    ]
    if not pairs:
        raise DataError(
            f"No target for participants {list(participants)} x songs {songs}; "
            "targets are keyed by (participant, song)."
        )
    return pairs


def held_out_truths(
    targets: Mapping[tuple[str, str], TimeSeries],
    participants: Sequence[str],
    *,
    songs: Sequence[str] | None = None,
) -> dict[str, list[TimeSeries]]:
    """Per song, the target series of ``participants`` (e.g. ``split.test``), to score against.

    Parameters
    ----------
    targets : mapping of (str, str) to TimeSeries
        Per ``(participant, song)``, the target series; missing trials are skipped.
    participants : sequence of str
        Whose targets (the held-out participants).
    songs : sequence of str, optional
        Which songs, in this order (default: every song of ``targets``, in
        order of first appearance).

    Returns
    -------
    dict of str to list of TimeSeries
        ``{song: [targets[p, song] for p in participants if present]}``.

    Raises
    ------
    DataError
        If a song has no target of any of ``participants``.

    Examples
    --------
    >>> from frisson.models import planted_study
    >>> study = planted_study(n_participants=3, n_songs=2, duration_s=20.0, rate_hz=10.0)
    >>> {song: len(series) for song, series in held_out_truths(study.targets, ["p03"]).items()}
    {'song-1': 1, 'song-2': 1}

    """
    if isinstance(participants, str):
        raise ParameterError(
            f"participants must be a list of labels, got the string {participants!r}."
        )
    songs = list(dict.fromkeys(s for _, s in targets)) if songs is None else list(songs)
    truths = {
        song: [targets[p, song] for p in participants if (p, song) in targets] for song in songs
    }
    empty = [song for song, series in truths.items() if not series]
    if empty:
        raise DataError(
            f"No target of participants {list(participants)} for songs {empty}; targets are "
            "keyed by (participant, song)."
        )
    return truths
