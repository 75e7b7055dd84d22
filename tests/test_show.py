"""Results in ImageJ windows (``fiji_bridge.imagej.show``, ``run --show``), for real under Xvfb.

Each case runs in its own process with its own Xvfb playing the user's screen ($DISPLAY set
before ImageJ starts, ``display="existing"``).  A second thread plays the user: it looks at the
windows (WindowManager), takes a screenshot (java.awt.Robot) and closes ImageJ's main window
the way the window manager's close button does (WINDOW_CLOSING).
"""

from __future__ import annotations

import json
import shutil
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.subprocess

# Runs inside the subprocess: start an Xvfb "screen", then a user thread that waits for the
# windows, records them, screenshots the display and closes ImageJ.
USER = r"""
import atexit, json, os, sys, threading, time
from fiji_bridge.imagej.display import start_xvfb
screen = start_xvfb(width=1024, height=768)  # the user's screen; dies with this process
os.environ["DISPLAY"] = screen.display
atexit.register(screen.stop)  # registered before Java: runs after scyjava stopped the JVM
seen = {}

def user(expected, shot):
    from fiji_bridge.imagej import current, screenshot
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        handle = current()
        if handle is not None:
            wm = handle.WindowManager
            imps = [wm.getImage(t) for t in expected]
            if all(i is not None and i.getWindow() is not None and i.getWindow().isShowing()
                   for i in imps):
                break
        time.sleep(0.1)
    else:
        print("USER: windows never appeared", flush=True)
        return
    time.sleep(1.0)  # let the layout and the repaint finish before the screenshot
    for title, imp in zip(expected, imps):
        stack = imp.getStack()
        seen[title] = {"slices": int(imp.getStackSize()),
                       "labels": [str(stack.getSliceLabel(i) or "")
                                  for i in range(1, imp.getStackSize() + 1)],
                       "bounds": [int(v) for v in (imp.getWindow().getX(), imp.getWindow().getY(),
                                                   imp.getWindow().getWidth(),
                                                   imp.getWindow().getHeight())]}
    seen["main_showing"] = bool(handle.IJ.getInstance().isShowing())
    screenshot(shot)
    event = __import__("jpype").JClass("java.awt.event.WindowEvent")
    main = handle.IJ.getInstance()
    main.dispatchEvent(event(main, event.WINDOW_CLOSING))   # the user closes ImageJ
"""


def _needs_xvfb():
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (apt-get install xvfb xauth)")


def _not_blank(png, bounds) -> None:
    """The screenshot shows the images: varied pixels inside each image window."""
    from matplotlib.image import imread

    pixels = imread(png)[..., :3]
    assert pixels.std() > 0.05  # not one flat colour
    for x, y, width, height in bounds:
        window = pixels[y:y + height, x:x + width]
        assert window.size and window.std() > 0.05, (x, y, width, height)


def test_show_opens_labelled_stacks_and_waits_until_imagej_is_closed(run_python, tmp_path):
    _needs_xvfb()
    shot = tmp_path / "show.png"
    result = run_python(USER + f"""
import numpy as np, xarray as xr
from fiji_bridge import imagej
imagej.start(display="existing")
rng = np.random.default_rng(1)
averages = xr.DataArray(rng.standard_normal((3, 48, 48)).astype(np.float32),
                        dims=("z", "y", "x"), coords={{"label": ("z", ["N=5", "N=10", "N=20"])}})
ref = np.add.outer(np.arange(48), np.arange(48)).astype(np.float32)
user_thread = threading.Thread(target=user, args=(["reference", "averages"], {str(shot)!r}))
user_thread.start()
shown = imagej.show({{"reference": ref, "averages": averages}})   # blocks until closed
user_thread.join()
print("SHOWN", [str(i.getTitle()) for i in shown])
print("SEEN", json.dumps(seen))
print("STILL_OPEN", imagej.wait_until_closed(shown, timeout=0))
""", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SHOWN ['reference', 'averages']" in result.stdout
    seen = json.loads(result.stdout.split("SEEN ", 1)[1].splitlines()[0])
    assert seen["averages"]["slices"] == 3
    assert seen["averages"]["labels"] == ["N=5", "N=10", "N=20"]
    assert seen["reference"]["slices"] == 1 and seen["main_showing"] is True
    _not_blank(shot, [seen["reference"]["bounds"], seen["averages"]["bounds"]])


def test_wait_until_closed_times_out_while_windows_are_open(run_python):
    _needs_xvfb()
    result = run_python(USER + """
import numpy as np
from fiji_bridge import imagej
imagej.start(display="existing")
shown = imagej.show({"noise": np.ones((8, 8), np.float32)}, wait=False)
print("WAITED", imagej.wait_until_closed(shown, timeout=0.5))
shown[0].getWindow().close()
print("AFTER_CLOSE", imagej.wait_until_closed(shown, timeout=5))
""", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "WAITED False" in result.stdout and "AFTER_CLOSE True" in result.stdout


def test_run_show_opens_the_run_in_imagej(run_python, tmp_path):
    _needs_xvfb()
    out = tmp_path / "out"
    shot = tmp_path / "run_show.png"
    titles = ["reference", "averages", "noise examples", "aligned examples", "correlation maps"]
    result = run_python(USER + f"""
from fiji_bridge import cli
user_thread = threading.Thread(target=user, args=({titles!r}, {str(shot)!r}))
user_thread.start()
status = cli.main(["run", "--size", "32", "--counts", "5,20", "--examples", "4",
                   "--out", {str(out)!r}, "--show"])
user_thread.join()
print("STATUS", status)
print("SEEN", json.dumps(seen))
""", timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "STATUS 0" in result.stdout
    seen = json.loads(result.stdout.split("SEEN ", 1)[1].splitlines()[0])
    assert seen["averages"]["labels"] == ["N=5", "N=20"]
    assert seen["reference"]["slices"] == 1
    for title in ("noise examples", "aligned examples", "correlation maps"):
        assert seen[title]["slices"] == 4, title
    assert seen["noise examples"]["labels"][0] == "image 1"
    assert seen["correlation maps"]["labels"][0].startswith("image 1 CC peak at d=(")
    _not_blank(shot, [seen[t]["bounds"] for t in titles])


def test_show_refuses_a_display_nobody_sees(ij):
    from fiji_bridge import imagej

    if ij.display_origin == "existing":
        pytest.skip("this test process runs ImageJ on a real display")
    expected = "private virtual display" if ij.display_origin == "xvfb" else "runs headless"
    with pytest.raises(imagej.ImageJCommandError, match=expected):
        imagej.show({"x": np.zeros((4, 4), np.float32)}, wait=False)
    with pytest.raises(ValueError, match="no images"):
        imagej.show({})


def test_run_show_needs_a_display(run_python, tmp_path):
    result = run_python("", args=[sys.executable, "-m", "fiji_bridge.cli", "run", "--size", "16",
                                  "--counts", "4", "--examples", "0", "--out",
                                  str(tmp_path / "out"), "--show"])
    assert result.returncode == 2
    assert "$DISPLAY is not set" in result.stderr and "Traceback" not in result.stderr
