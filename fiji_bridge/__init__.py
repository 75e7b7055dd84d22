"""fiji_bridge: real ImageJ/Fiji from Python, and the "Einstein from noise" experiment.

Public entry points (loaded on first use: importing ``fiji_bridge`` starts no Java and imports
neither xarray nor the ImageJ layer):

- :func:`einstein_from_noise` and :class:`ExperimentConfig` -- the experiment end to end
  (:mod:`fiji_bridge.experiment`).
- :func:`run_study` -- the Monte Carlo study of the bias (:mod:`fiji_bridge.study`).

Modules, one job each:

- :mod:`fiji_bridge.imagej` -- the only package that touches Java: which ImageJ, the session,
  the ImageJ steps, FHT, macros, numpy/xarray <-> ImagePlus (:mod:`fiji_bridge.imagej.convert`).
- :mod:`fiji_bridge.checks` -- the one copy of every argument check.
- :mod:`fiji_bridge.noise`, :mod:`fiji_bridge.align`, :mod:`fiji_bridge.engine`,
  :mod:`fiji_bridge.metrics`, :mod:`fiji_bridge.controls`, :mod:`fiji_bridge.particles` -- numpy
  only: seeded noise, FFT alignment, streaming, CC / phase error / FRC, controls, your images.
- :mod:`fiji_bridge.philox`, :mod:`fiji_bridge.fourier_noise`, :mod:`fiji_bridge.fourier_engine`
  -- the counter-based generator, the noise drawn in Fourier space and the streaming engine that
  aligns it with one FFT per image (numba kernels, compiled on first use).
- :mod:`fiji_bridge.reference` -- the reference prepared by ImageJ.
- :mod:`fiji_bridge.experiment`, :mod:`fiji_bridge.study` -- the experiment and the study.
- :mod:`fiji_bridge.io`, :mod:`fiji_bridge.figures` -- files (one atomic writer) and figures.
- :mod:`fiji_bridge.cli`, :mod:`fiji_bridge.doctor` -- the ``einstein-from-noise`` command.
"""

from importlib import import_module

__version__ = "0.1.0"

__all__ = ["ExperimentConfig", "__version__", "einstein_from_noise", "run_study"]

# name -> module that defines it; loaded on first access (PEP 562).
_LAZY = {
    "ExperimentConfig": "fiji_bridge.config",
    "einstein_from_noise": "fiji_bridge.experiment",
    "run_study": "fiji_bridge.study",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fiji_bridge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
