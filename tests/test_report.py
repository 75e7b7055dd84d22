"""report.html: self-contained, linked to the run's files, and rendered by a real browser.

The browser test drives headless Chromium (Debian package ``chromium``) from its command line:
``--screenshot`` of the report itself, and ``--dump-dom`` of a probe copy (the report plus a
script the test appends, which writes each image's decoded size into the DOM; the report itself
holds no JavaScript).
"""

from __future__ import annotations

import base64
import html
import io as bytes_io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fiji_bridge import io, outputs, report

BROWSER_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--hide-scrollbars"]
PROBE = """<script>
window.addEventListener("load", function () {
  var states = [];
  for (var i = 0; i < document.images.length; i++) {
    var img = document.images[i];
    states.push({complete: img.complete, width: img.naturalWidth, height: img.naturalHeight});
  }
  var pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = JSON.stringify({images: states, text: document.body.innerText.length,
                                    height: document.body.scrollHeight});
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("Chromium is not installed (Debian: apt-get install chromium, or `make system`)")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, ij):
    """A real run (small, with a control) written by the run's writer, netCDF included."""
    import skimage.data

    import fiji_bridge

    data = fiji_bridge.einstein_from_noise(
        size=32, counts=(10, 40), seed=5, examples=3, control_reference=skimage.data.camera())
    directory = tmp_path_factory.mktemp("run")
    outputs.write_run_outputs(data, directory, netcdf=True)
    return directory, data


def _images(text: str) -> list[str]:
    return re.findall(r'<img [^>]*src="([^"]*)"', text)


@pytest.fixture(scope="module")
def check_dir(tmp_path_factory, ij):
    """A real, small ``check`` (as tests/test_check_command.py): 60 particles of 32x32, a weak
    template in white noise, 19 null draws, written by the command line."""
    import tifffile

    from fiji_bridge import cli, reference

    template = reference.prepare_reference(None, size=32).image
    stack = 0.3 * template + np.random.default_rng(0).standard_normal((60, 32, 32))
    folder = tmp_path_factory.mktemp("check")
    tifffile.imwrite(folder / "parts.tif", stack.astype(np.float32), imagej=True,
                     metadata={"axes": "ZYX"})
    out = folder / "out"
    assert cli.main(["check", "--particles", str(folder / "parts.tif"), "--out", str(out),
                     "--draws", "19", "--seed", "3"]) == 0
    return out


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory, ij):
    """A real quick ``study`` of one experiment (lowpass), written by the command line."""
    from fiji_bridge import cli

    out = tmp_path_factory.mktemp("study") / "out"
    assert cli.main(["study", "--size", "16", "--quick", "--seed", "3", "--out", str(out),
                     "--experiments", "lowpass"]) == 0
    return out


def _self_contained(directory: Path, n_images: int) -> str:
    """The report in ``directory``: no script, nothing from the net, ``n_images`` decodable PNG
    data URIs, one link to each other file of the folder; its text."""
    text = (directory / report.REPORT_NAME).read_text(encoding="utf-8")
    assert "<script" not in text.lower()
    assert not re.search(r"(src|href)=\"(https?:)?//", text), "the report fetches from the net"
    sources = _images(text)
    assert len(sources) == n_images
    from matplotlib.image import imread

    for source in sources:
        assert source.startswith("data:image/png;base64,")
        pixels = imread(bytes_io.BytesIO(base64.b64decode(source.split(",", 1)[1])), "png")
        assert pixels.shape[0] > 0 and pixels.shape[1] > 0
    links = re.findall(r'<a href="([^"]*)"', text)
    others = sorted(p.name for p in directory.iterdir() if p.name != report.REPORT_NAME)
    assert sorted(links) == others
    assert all((directory / link).is_file() for link in links)
    return text


def test_report_is_self_contained_and_links_every_file(run_dir):
    directory, data = run_dir
    # figure + reference + 2 aligned + 2 unaligned averages + 1 control panel
    text = _self_contained(directory, 7)
    assert "results.nc" in re.findall(r'<a href="([^"]*)"', text)
    for n, cc in zip(data["count"].values, data["cc"].values):
        assert f"<td class=\"num\">{int(n)}</td><td class=\"num\">{cc:.4g}</td>" in text
    for word in ("Controls", "Parameters", "Versions", "Timings", "1.53", "another reference"):
        assert word in text


def test_check_report_shows_the_verdict_and_links_every_file(check_dir):
    names = sorted(p.name for p in check_dir.iterdir())
    assert names == sorted(outputs.check_files()) and outputs.check_files()[-1] == "report.html"
    text = _self_contained(check_dir, 1)  # check.png
    record = json.loads((check_dir / "check.json").read_text())
    cc = record["cc"]
    row = "".join(f'<td class="num">{value:.4g}</td>' for value in (cc["observed"],)) \
        + f"<td>{cc['null_mean']:.4g} ± {cc['null_sd']:.4g}</td>" \
        + "".join(f'<td class="num">{value:.4g}</td>' for value in (cc["z"], cc["p_value"])) \
        + f"<td>{record['signal_beyond_bias']}</td>"
    assert row in text
    assert html.escape(record["verdict"]) in text and "SIGNIFICANT" in text
    for word in ("Parameters", "Versions", "1.53", "check.json", "frc.csv", "phase"):
        assert word in text


def test_study_report_shows_each_headline_and_figure(study_dir):
    names = [p.name for p in study_dir.iterdir()]
    expected = outputs.study_files(classic=False, experiments=("lowpass",))
    assert sorted(names) == sorted(expected) and expected[-1] == "report.html"
    text = _self_contained(study_dir, 1)  # study_lowpass.png
    record = json.loads((study_dir / "study.json").read_text())
    assert html.escape(record["lowpass"]["headline"]) in text
    assert 'alt="study_lowpass.png"' in text
    for word in ("Parameters", "lowpass", "study_lowpass.csv"):
        assert word in text


def test_check_and_study_report_bad_input():
    with pytest.raises(TypeError, match="check's JSON record.*Fix"):
        report.build_check_report([1, 2])
    with pytest.raises(ValueError, match="lacks cc, signal_beyond_bias.*Fix"):
        report.build_check_report({"verdict": "x", "n_particles": 3})
    with pytest.raises(ValueError, match="study record lacks experiments.*Fix"):
        report.build_study_report({"seed": 1}, directory=".")


def test_report_bad_input(run_dir):
    _, data = run_dir
    with pytest.raises(TypeError, match="xarray.Dataset.*Fix"):
        report.build_report(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="lacks cc.*Fix"):
        report.build_report(data.drop_vars("cc"))
    with pytest.raises(ValueError, match="2-D image.*Fix"):
        report.png_data_uri(np.zeros(5))
    with pytest.raises(ValueError, match="window.*Fix"):
        report.png_data_uri(np.zeros((3, 3)), window="auto")


def _browse(browser: str, page: Path, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp_path / f"profile-{page.stem}-{len(list(tmp_path.iterdir()))}"
    return subprocess.run(
        [browser, *BROWSER_FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()],
        capture_output=True, text=True, timeout=120)


def _probe(browser: str, html: str, tmp_path: Path, name: str) -> dict:
    page = tmp_path / name
    page.write_text(html.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    result = _browse(browser, page, tmp_path, "--virtual-time-budget=10000", "--dump-dom")
    match = re.search(r'<pre id="probe-result">(.*?)</pre>', result.stdout, re.S)
    assert match, f"Chromium gave no probe result: {result.stderr[-2000:]}"
    return json.loads(match.group(1))


@pytest.mark.slow
def test_report_renders_in_chromium(run_dir, tmp_path):
    browser = _chromium()
    directory, _ = run_dir
    text = (directory / report.REPORT_NAME).read_text(encoding="utf-8")

    states = _probe(browser, text, tmp_path, "probe.html")
    assert len(states["images"]) == len(_images(text)) == 7
    for k, state in enumerate(states["images"]):
        assert state["complete"] and state["width"] > 0 and state["height"] > 0, (k, state)
    assert states["text"] > 500 and states["height"] > 1000

    # the probe can fail: a corrupt image is seen as undecoded
    first = _images(text)[1]
    broken = text.replace(first, first[:40] + "AAAA" + first[60:], 1)
    broken_states = _probe(browser, broken, tmp_path, "broken.html")
    assert broken_states["images"][1]["width"] == 0

    # a screenshot of the report itself (from its folder) is not blank
    shot = tmp_path / "report.png"
    result = _browse(browser, directory / report.REPORT_NAME, tmp_path,
                     f"--screenshot={shot}", "--window-size=1200,2400")
    assert shot.is_file(), result.stderr[-2000:]
    from matplotlib.image import imread

    pixels = imread(shot)[..., :3]
    grey = pixels.mean(axis=2)
    assert pixels.shape[:2] == (2400, 1200)
    assert (grey < 0.9).mean() > 0.05  # text and images, not an empty white page
    assert grey.std() > 0.1


@pytest.mark.slow
@pytest.mark.parametrize("folder, n_images", [("check_dir", 1), ("study_dir", 1)])
def test_check_and_study_reports_render_in_chromium(folder, n_images, request, tmp_path):
    browser = _chromium()
    directory = request.getfixturevalue(folder)
    text = (directory / report.REPORT_NAME).read_text(encoding="utf-8")
    states = _probe(browser, text, tmp_path, f"{folder}.html")
    assert len(states["images"]) == len(_images(text)) == n_images
    for k, state in enumerate(states["images"]):
        assert state["complete"] and state["width"] > 0 and state["height"] > 0, (k, state)
    assert states["text"] > 300 and states["height"] > 500


@pytest.mark.subprocess
def test_run_netcdf_and_report_from_the_command_line(tmp_path):
    from fiji_bridge import netcdf

    out = tmp_path / "results"
    result = subprocess.run(
        [sys.executable, "-m", "fiji_bridge.cli", "run", "--size", "16", "--counts", "5,20",
         "--examples", "2", "--seed", "7", "--out", str(out), "--netcdf"],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(outputs.run_files(netcdf=True))
    assert "report.html" in names and "results.nc" in names
    data = netcdf.load(out / "results.nc")
    summary = json.loads((out / "results.json").read_text())
    assert data.attrs["seed"] == summary["seed"] == 7
    assert data.attrs["shift_dy"] == summary["shift_dy"]
    np.testing.assert_allclose(data["cc"].values, [summary["cc"]["5"], summary["cc"]["20"]])
    averages, _ = io.read_imagej_tiff(out / "averages.tif")
    np.testing.assert_array_equal(data["averages"].values, averages)
    assert 'href="results.nc"' in (out / "report.html").read_text()
