"""The binding refuses a library whose struct layout or version differs from what it declares."""
import ctypes
import os
import shutil
import subprocess
import sys

import pytest

import segloss
from segloss import _ffi

PYDIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_every_declared_field_is_checked_and_matches():
    layout = _ffi.declared_layout()
    # all six structs, every field of each, and each size
    assert {t for t, _ in layout} == {"segloss_config", "segloss_input", "segloss_result", "segloss_stats",
                                      "segloss_class_metrics", "segloss_advice"}
    assert len(layout) == sum(len(s._fields_) + 1 for s in _ffi.STRUCTS)
    assert _ffi.abi_mismatches(_ffi.lib.segloss_abi_offset, layout) == []
    assert _ffi.lib.segloss_abi_offset(b"segloss_config", b"no_such_field") == -1


def test_a_moved_field_is_refused(monkeypatch):
    """Monkeypatch one declared offset: the check names that field, with both offsets."""
    real = _ffi.declared_layout

    def moved(structs=_ffi.STRUCTS):
        out = real(structs)
        out[("segloss_result", "bad_position")] += 8
        return out

    monkeypatch.setattr(_ffi, "declared_layout", moved)
    with pytest.raises(ImportError, match=r"segloss_result\.bad_position \(binding 40, library 32\)"):
        _ffi.check_abi(_ffi.lib.segloss_abi_offset)


def test_a_struct_declared_differently_is_refused():
    """A binding that declared segloss_config with one more field before focal_gamma."""
    class segloss_config(ctypes.Structure):
        _fields_ = [("loss_type", ctypes.c_int), ("extra", ctypes.c_int)] + _ffi.segloss_config._fields_[1:]

    with pytest.raises(ImportError) as e:
        _ffi.check_abi(_ffi.lib.segloss_abi_offset, "lib", (segloss_config,))
    msg = str(e.value)
    assert "segloss_config.focal_gamma (binding 8, library 4)" in msg
    assert "segloss_config.extra (binding 4, library unknown)" in msg
    assert "segloss_config size" in msg


def test_version_is_checked():
    _ffi.check_version(_ffi.lib.segloss_version())
    _ffi.check_version(102)  # another patch release is fine
    with pytest.raises(ImportError, match=r"version 0\.2\.0, this binding needs 0\.1\.x"):
        _ffi.check_version(200)
    with pytest.raises(ImportError, match=r"version 1\.1\.0"):
        _ffi.check_version(10100)


def _fake_library(tmp_path, version, moved_field):
    """A library exporting only segloss_version and segloss_abi_offset, the table of the real
    layout with one field moved by 4 bytes."""
    rows = []
    for (t, f), v in _ffi.declared_layout().items():
        if f == moved_field:
            v += 4
        rows.append('{"%s", %s, %d}' % (t, '"%s"' % f if f else "0", v))
    src = tmp_path / "fake.c"
    src.write_text("""#include <stdint.h>
#include <string.h>
static const struct { const char *t, *f; int64_t v; } rows[] = { %s };
int segloss_version(void) { return %d; }
int64_t segloss_abi_offset(const char *t, const char *f) {
    unsigned i;
    for (i = 0; i < sizeof rows / sizeof rows[0]; i++)
        if (!strcmp(rows[i].t, t) && (f ? rows[i].f && !strcmp(rows[i].f, f) : !rows[i].f)) return rows[i].v;
    return -1;
}
""" % (", ".join(rows), version))
    so = tmp_path / "fake.so"
    subprocess.run([os.environ.get("CC", "cc"), "-shared", "-fPIC", "-O0", str(src), "-o", str(so)], check=True)
    return str(so)


def _import_with(lib):
    env = dict(os.environ, SEGLOSS_LIBRARY=lib, PYTHONPATH=PYDIR)
    return subprocess.run([sys.executable, "-c", "import segloss"], env=env, capture_output=True, text=True)


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler")
def test_import_refuses_a_library_with_another_layout(tmp_path):
    r = _import_with(_fake_library(tmp_path, segloss._ffi.lib.segloss_version(), "tversky_beta"))
    assert r.returncode != 0
    assert "ImportError" in r.stderr and "segloss_config.tversky_beta (binding 24, library 28)" in r.stderr


@pytest.mark.skipif(shutil.which(os.environ.get("CC", "cc")) is None, reason="no C compiler")
def test_import_refuses_another_version(tmp_path):
    r = _import_with(_fake_library(tmp_path, 200, None))
    assert r.returncode != 0 and "version 0.2.0" in r.stderr


def test_missing_library_says_how_to_build(tmp_path):
    r = _import_with(str(tmp_path / "nothing.so"))
    assert r.returncode != 0 and "make python" in r.stderr


def test_library_path():
    assert segloss.LIBRARY == _ffi.library_path()
    assert os.path.exists(segloss.LIBRARY)


def _without_make_env():
    """The environment without the outer make's flags (when make test-python runs this)."""
    return {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEFILES")}


@pytest.mark.skipif(shutil.which("make") is None, reason="no make")
def test_install_python_into_destdir(tmp_path):
    """make install-python DESTDIR=... PYTHON_PREFIX=...: the package and its library land
    there, and import from there (without the source tree)."""
    root = os.path.dirname(PYDIR)
    r = subprocess.run(["make", "-s", "-C", root, "-o", "segloss.h", "-o", "python/segloss/_segloss.so",
                        "install-python", "DESTDIR=%s" % tmp_path, "PYTHON_PREFIX=/site"],
                       capture_output=True, text=True, env=_without_make_env())
    assert r.returncode == 0, r.stdout + r.stderr
    site = tmp_path / "site"
    assert sorted(p.name for p in (site / "segloss").iterdir()) == [
        "__init__.py", "_config.py", "_core.py", "_ffi.py", "_segloss.so", "torch"]
    code = ("import segloss, segloss.torch, numpy as np; print(segloss.__file__); "
            "print(float(segloss.compute(np.zeros((1, 2, 3), np.float32), np.zeros((1, 3), np.uint8))[0]))")
    env = dict(os.environ, PYTHONPATH=str(site))
    env.pop("SEGLOSS_LIBRARY", None)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0].startswith(str(site)) and float(out.stdout.splitlines()[1]) > 0
