"""fiji_bridge: real ImageJ/Fiji from Python, and the "Einstein from noise" experiment.

Submodules (import what you need; nothing here starts Java):

- :mod:`fiji_bridge.imagej`  -- start ImageJ (Fiji via pyimagej, or ImageJ 1.x via scyjava) and the
  ImageJ steps; the only module that touches Java.
- :mod:`fiji_bridge.convert` -- numpy / xarray <-> ImagePlus.
- :mod:`fiji_bridge.noise`, :mod:`fiji_bridge.align` -- seeded noise and FFT alignment (numpy).
- :mod:`fiji_bridge.metrics` -- CC, Fourier-phase error, FRC.
- :mod:`fiji_bridge.experiment` -- the experiment end to end.
"""

__version__ = "0.1.0"
