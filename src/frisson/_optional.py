"""Optional dependencies: which extra brings each one, and one clear error when it is missing.

``pip install frisson`` installs the core (audio, features, encoders in PyTorch with
the default musicnn tagger, latent analysis, physiology, studies, the chills
pipeline, reports). Heavier or narrower dependencies come with extras:

* ``frisson[codecs]``: transformers, huggingface_hub, safetensors (the DAC and
  EnCodec codecs, ``hf:<repo>`` models such as MERT and CLAP);
* ``frisson[fmri]``: nibabel, himalaya (BOLD images, ridge encoding models, the
  layer-wise encoding study);
* ``frisson[formats]``: pyedflib, bioread, pyxdf, wfdb (EDF/BDF, AcqKnowledge, XDF and
  WFDB physiology files);
* ``frisson[dask]``: dask, distributed, bokeh (``--scheduler``: scale-out on a Dask
  cluster, :mod:`frisson.distributed`);
* ``frisson[all]``: every extra above.

Modules import these through :func:`import_optional` inside the functions that
need them, so ``import frisson`` and every core feature work without them, and a
feature used without its extra fails with :class:`MissingExtraError` naming the
command that installs it.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from frisson.errors import FrissonError

__all__ = ["EXTRAS", "MissingExtraError", "extra_of", "import_optional"]

#: Top-level package -> (the frisson extra that installs it, what needs it).
EXTRAS: dict[str, tuple[str, str]] = {
    "transformers": ("codecs", "the neural codecs (DAC, EnCodec) and hf:<repo> encoders"),
    "huggingface_hub": ("codecs", "the neural codecs (DAC, EnCodec) and hf:<repo> encoders"),
    "safetensors": ("codecs", "the neural codecs (DAC, EnCodec) and hf:<repo> encoders"),
    "nibabel": ("fmri", "BOLD images (NIfTI) and the fMRI encoding study"),
    "himalaya": ("fmri", "ridge encoding models (frisson.models.encoding)"),
    "nilearn": ("fmri", "cleaning preprocessed BOLD, GLMs and brain maps"),
    "pyedflib": ("formats", "EDF/BDF physiology files"),
    "bioread": ("formats", "BIOPAC AcqKnowledge (.acq) files"),
    "pyxdf": ("formats", "XDF (Lab Streaming Layer) recordings"),
    "wfdb": ("formats", "WFDB (PhysioNet) records"),
    "dask": ("dask", "scale-out on a Dask cluster (--scheduler, frisson.distributed)"),
    "distributed": ("dask", "scale-out on a Dask cluster (--scheduler, frisson.distributed)"),
    "bokeh": ("dask", "the Dask dashboard"),
}


class MissingExtraError(FrissonError, ModuleNotFoundError):
    """An optional dependency is not installed; the message names the extra that brings it."""


def extra_of(module: str) -> str:
    """The frisson extra that installs ``module`` (a dotted name is looked up by its top level).

    Examples
    --------
    >>> extra_of("himalaya.ridge")
    'fmri'

    """
    top = module.partition(".")[0]
    if top not in EXTRAS:
        raise KeyError(f"{top!r} is not an optional dependency of frisson; known: {sorted(EXTRAS)}")
    return EXTRAS[top][0]


def import_optional(module: str) -> ModuleType:
    """Import an optional dependency, or say which frisson extra installs it.

    Parameters
    ----------
    module : str
        Dotted module name whose top level is a key of :data:`EXTRAS`
        (``"nibabel"``, ``"himalaya.ridge"``, ``"transformers"``).

    Returns
    -------
    module
        The imported module.

    Raises
    ------
    MissingExtraError
        If the package is not installed (also a ``ModuleNotFoundError``).

    Examples
    --------
    >>> import_optional("himalaya.ridge").__name__
    'himalaya.ridge'

    """
    extra = extra_of(module)
    top = module.partition(".")[0]
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name is not None and error.name.partition(".")[0] != top:
            raise  # the package is there but one of its own dependencies is missing
        raise MissingExtraError(
            f'{EXTRAS[top][1]} need {top}, which is not installed: pip install "frisson[{extra}]"',
            name=top,
        ) from None
