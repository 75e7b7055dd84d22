"""Which ImageJ to start: pure-Python checks that run before Java (no JVM here)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from fiji_bridge.imagej import ImageJStartError, locate, resolve, session


def test_system_jar_is_the_offline_default(monkeypatch):
    monkeypatch.delenv("FIJI_BRIDGE_IMAGEJ", raising=False)
    monkeypatch.delenv("IJ_JAR", raising=False)
    monkeypatch.setattr(locate, "FIJI_DIR_CANDIDATES", ())
    source = resolve()
    assert (source.kind, source.backend) == ("jar", "imagej1")
    assert Path(source.location) == locate.SYSTEM_IJ_JAR


def test_argument_beats_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("FIJI_BRIDGE_IMAGEJ", str(tmp_path / "nowhere"))
    assert resolve(str(locate.SYSTEM_IJ_JAR)).origin == "argument"
    with pytest.raises(ImageJStartError, match=r"\$FIJI_BRIDGE_IMAGEJ"):
        resolve()


def test_bogus_path_names_it_and_the_fix(tmp_path):
    with pytest.raises(ImageJStartError) as info:
        resolve(str(tmp_path / "no" / "Fiji.app"))
    message = str(info.value)
    assert "no such file or directory" in message and "Fix:" in message


def test_directory_without_jars(tmp_path):
    (tmp_path / "jars").mkdir()
    with pytest.raises(ImageJStartError, match="holds no ImageJ"):
        resolve(str(tmp_path))


def test_fiji_directory_is_recognised(tmp_path):
    (tmp_path / "jars").mkdir()
    (tmp_path / "jars" / "imagej-2.14.0.jar").write_bytes(b"")
    source = resolve(str(tmp_path))
    assert (source.kind, source.backend) == ("fiji_dir", "fiji")


def test_imagej1_folder_with_ij_jar(tmp_path):
    (tmp_path / "ij.jar").write_bytes(locate.SYSTEM_IJ_JAR.read_bytes())
    assert resolve(str(tmp_path)).kind == "jar"


def test_corrupt_jar(tmp_path):
    good = locate.SYSTEM_IJ_JAR.read_bytes()
    corrupt = tmp_path / "ij.jar"
    corrupt.write_bytes(good[: len(good) // 2])  # a truncated download
    with pytest.raises(ImageJStartError, match="not a readable jar"):
        resolve(str(corrupt))


def test_jar_that_is_not_imagej(tmp_path):
    jar = tmp_path / "other.jar"
    with zipfile.ZipFile(jar, "w") as zf:
        zf.writestr("org/example/Main.class", b"\xca\xfe\xba\xbe")
    with pytest.raises(ImageJStartError, match="no ij/IJ.class"):
        resolve(str(jar))


def test_file_that_is_not_a_jar(tmp_path):
    text = tmp_path / "fiji.txt"
    text.write_text("hello")
    with pytest.raises(ImageJStartError, match="not a jar"):
        resolve(str(text))


@pytest.mark.parametrize("endpoint", ["sc.fiji:fiji", "net.imagej:imagej:2.14.0", "2.14.0",
                                      "sc.fiji:fiji+org.example:plugin"])
def test_maven_endpoints(endpoint):
    source = resolve(endpoint)
    assert (source.kind, source.location) == ("endpoint", endpoint)


def test_bad_display_mode():
    with pytest.raises(ValueError, match="display="):
        session.choose_display("window", "imagej1")


@pytest.mark.parametrize("version", ["2.14", "2"])
def test_imagej2_version_must_be_x_y_z(version):
    with pytest.raises(ImageJStartError, match=r"x\.y\.z, e\.g\. 2\.14\.0"):
        resolve(version)
