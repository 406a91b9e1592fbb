"""A test encoder with known layer structure (no audio model)."""

from __future__ import annotations

import numpy as np

from frisson._check import check_int, check_positive
from frisson.audio import Audio
from frisson.errors import ParameterError
from frisson.timeseries import TimeSeries

__all__ = ["SyntheticLayersEncoder"]


class SyntheticLayersEncoder:
    """A test encoder whose layers are smooth random features with a known layer structure.

    Not a model of hearing: each layer is a band of smooth Gaussian noise
    seeded by the audio's SHA-256, so the same audio always gives the same
    features and different audio gives independent ones. Layer ``k`` is
    ``correlation * rotate(layer k-1) + sqrt(1 - correlation**2) * new noise``,
    so neighbouring layers share variance as those of a deep network do, and
    layers further apart share less (``correlation ** distance``). Use it to
    test layer-wise encoding (planted-layer recovery) and for power analyses
    that should not depend on a real network; register it with
    ``register_encoder("synthetic-layers", SyntheticLayersEncoder)`` to use it
    by name.

    Parameters
    ----------
    n_layers : int
        Number of layers (``layer1`` ... ``layerN``, input side first).
    n_features : int
        Features per layer.
    rate_hz : float
        Frames per second; frame ``k`` is centred on ``(k + 0.5) / rate_hz`` s.
    timescale_s : float
        Standard deviation of the Gaussian kernel that smooths the noise in time.
    correlation : float
        Canonical correlation between neighbouring layers, in [0, 1).

    Examples
    --------
    >>> import numpy as np
    >>> from frisson.audio import audio_from_array
    >>> audio = audio_from_array(np.random.default_rng(0).standard_normal(8000 * 20), 8000)
    >>> embedding = SyntheticLayersEncoder(n_layers=3, n_features=4).encode(audio)
    >>> embedding.layer_names, embedding["layer2"].values.shape
    (('layer1', 'layer2', 'layer3'), (200, 4))

    """

    input_rate_hz = 22050.0

    def __init__(
        self,
        *,
        n_layers: int = 4,
        n_features: int = 8,
        rate_hz: float = 10.0,
        timescale_s: float = 1.5,
        correlation: float = 0.5,
    ) -> None:
        self.name = "synthetic-layers"
        self.n_layers = check_int("n_layers", n_layers, minimum=1)
        self.n_features = check_int("n_features", n_features, minimum=1)
        self.rate_hz = check_positive("rate_hz", rate_hz)
        self.timescale_s = check_positive("timescale_s", timescale_s)
        self.correlation = check_positive("correlation", correlation, allow_zero=True)
        if self.correlation >= 1:
            raise ParameterError(f"correlation must lie in [0, 1), got {correlation!r}.")
        self.layers = tuple(f"layer{k + 1}" for k in range(self.n_layers))
        self.default_layer = self.layers[-1]

    def config(self) -> dict[str, object]:
        """Every setting that changes the output."""
        return {
            "n_layers": self.n_layers,
            "n_features": self.n_features,
            "rate_hz": self.rate_hz,
            "timescale_s": self.timescale_s,
            "correlation": self.correlation,
        }

    def layer_info(self) -> list:
        """Rate, start and width of every layer."""
        from frisson.encoders import LayerInfo

        return [
            LayerInfo(name, self.rate_hz, 0.5 / self.rate_hz, self.n_features, "smooth noise")
            for name in self.layers
        ]

    def weights_status(self) -> tuple[bool, str]:
        """No weights: always available."""
        return True, "none needed"

    def encode(self, audio: Audio, *, layers=None):
        """Features of ``audio`` (depend only on its hash and duration)."""
        from scipy.ndimage import gaussian_filter1d

        from frisson.encoders import Embedding, resolve_layers

        names = resolve_layers(self, layers)
        n = int(np.floor(audio.duration_s * self.rate_hz))
        if n < 2:
            raise ParameterError(f"{audio.source}: too short for {self.rate_hz:g} frames/s.")
        rng = np.random.default_rng(int(audio.sha256[:15], 16))
        sigma = self.timescale_s * self.rate_hz
        out, previous = {}, None
        c = self.correlation
        for name in self.layers:
            noise = gaussian_filter1d(rng.standard_normal((n, self.n_features)), sigma, axis=0)
            noise = (noise - noise.mean(axis=0)) / noise.std(axis=0)
            if previous is None:
                values = noise
            else:
                rotation, _ = np.linalg.qr(rng.standard_normal((self.n_features,) * 2))
                values = c * previous @ rotation + np.sqrt(1 - c**2) * noise
            previous = values
            if name in names:
                out[name] = TimeSeries(
                    values.astype(np.float32),
                    self.rate_hz,
                    start_s=0.5 / self.rate_hz,
                    names=[f"{name}_{i:02d}" for i in range(self.n_features)],
                )
        return Embedding(self.name, self.config(), audio.sha256, out)
