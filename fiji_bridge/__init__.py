"""fiji_bridge: real ImageJ/Fiji from Python, and the "Einstein from noise" experiment.

Submodules (import what you need; nothing here starts Java):

- :mod:`fiji_bridge.imagej`  -- start ImageJ (Fiji via pyimagej, or ImageJ 1.x via scyjava) and the
  ImageJ steps; the only module that touches Java.
- :mod:`fiji_bridge.convert` -- numpy / xarray <-> ImagePlus.
- :mod:`fiji_bridge.noise`, :mod:`fiji_bridge.align` -- seeded noise and FFT alignment (numpy).
- :mod:`fiji_bridge.philox`, :mod:`fiji_bridge.fourier_noise`, :mod:`fiji_bridge.fourier_engine`
  -- the counter-based generator, the noise drawn in Fourier space, and the streaming engine
  (numba kernels).
- :mod:`fiji_bridge.metrics` -- CC, Fourier-phase error, FRC.
- :mod:`fiji_bridge.experiment` -- the experiment end to end.
"""

__version__ = "0.1.0"


def __getattr__(name: str):
    # fiji_bridge.einstein_from_noise, without importing xarray or the ImageJ layer at import
    # time (PEP 562).
    if name == "einstein_from_noise":
        from fiji_bridge.experiment import einstein_from_noise

        return einstein_from_noise
    raise AttributeError(f"module 'fiji_bridge' has no attribute {name!r}")
