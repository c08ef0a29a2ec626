"""User serving code imported once per loaded model: own module, own local helpers."""

from __future__ import annotations

import sys

import pytest

from modelshelf.core.deploy.loaders import load_handler
from modelshelf.core.deploy.payloads import decode
from modelshelf.core.deploy.user_code import forget, import_file, local_imports
from modelshelf.core.errors import ServingError


def test_a_handler_folder_s_own_modules_are_per_load_but_packages_below_it_are_shared(tmp_path):
    root = tmp_path / "project"
    (root / "venv" / "site" / "sharedpkg").mkdir(parents=True)
    (root / "venv" / "site" / "sharedpkg" / "__init__.py").write_text("LOADS = []\n")
    (root / "helpers_uc.py").write_text("import sharedpkg\nsharedpkg.LOADS.append(1)\n")
    (root / "entry.py").write_text("import helpers_uc\nHELPERS = helpers_uc\n")
    sys.path.insert(0, str(root / "venv" / "site"))  # as a virtualenv inside the project
    try:
        modules = []
        for _ in range(2):
            with local_imports([str(root)]):
                modules.append(import_file(str(root / "entry.py"), "test_uc", "m"))
        first, second = modules
        assert first is not second and first.__name__ != second.__name__
        assert first.HELPERS is not second.HELPERS  # helpers_uc ran once per load
        assert "helpers_uc" not in sys.modules
        # sharedpkg was found on the virtualenv's path, not in the root: imported once.
        assert sys.modules["sharedpkg"].LOADS == [1, 1]
        assert sys.modules[first.__name__] is first  # still registered until forgotten
        forget(first)
        assert first.__name__ not in sys.modules and second.__name__ in sys.modules
        forget(second)
    finally:
        sys.path.remove(str(root / "venv" / "site"))
        sys.modules.pop("sharedpkg", None)


def test_a_file_that_fails_to_import_is_a_serving_error_and_is_not_left_registered(tmp_path):
    (tmp_path / "bad.py").write_text("raise ValueError('no weights')\n")
    before = set(sys.modules)
    with pytest.raises(ServingError, match=r"bad\.py failed: ValueError: no weights") as caught:
        import_file(str(tmp_path / "bad.py"), "test_uc", "m")
    assert "bad.py" in caught.value.user_traceback
    assert set(sys.modules) == before


def test_unloading_a_serve_py_model_unregisters_its_module(tmp_path):
    (tmp_path / "serve.py").write_text(
        "def load(model_dir):\n    return 1\n\ndef predict(model, data):\n    return model\n"
    )
    handler = load_handler(str(tmp_path), "one")
    assert handler.predict(decode(b"null", None)) == 1
    path = str(tmp_path / "serve.py")
    registered = [k for k, m in sys.modules.items() if getattr(m, "__file__", "") == path]
    assert len(registered) == 1
    handler.close()
    assert registered[0] not in sys.modules


def _frames(trace: str) -> list[str]:
    return [line.split('"')[1] for line in trace.splitlines() if line.startswith('  File "')]


def test_the_user_traceback_starts_at_their_code_and_keeps_what_it_called(tmp_path):
    """modelshelf's frames on the way in tell a user nothing; the library theirs called does."""
    (tmp_path / "serve.py").write_text(
        "import json\n\ndef load(model_dir):\n    return json.loads('not json')\n\n"
        "def predict(model, data):\n    return data\n"
    )
    with pytest.raises(ServingError, match="one: load failed: JSONDecodeError") as caught:
        load_handler(str(tmp_path), "one")
    frames = _frames(caught.value.user_traceback)
    assert frames[0] == str(tmp_path / "serve.py")  # theirs first, not call_user's
    assert any(frame.endswith("json/__init__.py") for frame in frames[1:])
    assert not any("modelshelf" in frame for frame in frames)
    assert caught.value.user_traceback.rstrip().endswith(
        "Expecting value: line 1 column 1 (char 0)"
    )


def test_a_failure_with_no_frame_of_the_users_code_has_no_user_traceback(tmp_path):
    (tmp_path / "model.pkl").write_bytes(b"not a pickle")
    with pytest.raises(ServingError, match="unpickling failed: UnpicklingError") as caught:
        load_handler(str(tmp_path), "broken")
    assert caught.value.user_traceback == ""
