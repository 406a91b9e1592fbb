"""A small simulated study analysed by the opt-in chills/heart/individual analyses (for tests)."""

from frisson.pipelines._beyond import SongEvents, beyond_analyses
from frisson.pipelines._cache import StepCache
from frisson.pipelines.chills import RunConfig, _physiology_step
from frisson.simulate import StudyParams, simulate_study, synth_piece
from frisson.study import read_study


def simulated(tmp_path_factory, params: StudyParams, seed: int, analyses: tuple[str, ...]):
    """Simulate, read and analyse one small study (5 songs of about 60 s, 2 boundaries each)."""
    root = tmp_path_factory.mktemp("beyond")
    for i in range(5):
        piece = synth_piece(n_sections=3, section_s=(18.0, 22.0), rate_hz=8000, seed=400 + i)
        piece.write(root / "stimuli" / f"p{i}.wav")
    sim = simulate_study(root / "stimuli", root / "study", params=params, seed=seed)
    study = read_study(root / "study")
    config = RunConfig(
        study=root / "study",
        output=root / "out",
        decomposition="highpass",
        n_permutations=1000,
        analyses=analyses,
        seed=seed,
    )
    trials, _ = _physiology_step(StepCache(root / "cache"), config, study, False)
    events = {n: SongEvents(t.duration_s, t.boundaries_s, 0.0) for n, t in sim.drives.items()}
    return sim, study, beyond_analyses(config, study, events, trials)
