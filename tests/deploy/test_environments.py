"""Models' requirements and their environments: found, normalised, built with real uv and pip
from wheels written here (never a package index), reused, raced, and layered over the
serving interpreter."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from modelshelf.core.deploy.environments import (
    EnvironmentCache,
    environment_key,
    serving_path,
)
from modelshelf.core.deploy.installers import (
    SERVING_PATH_ENV,
    InstallOptions,
    PipInstaller,
    UvInstaller,
    find_uv,
)
from modelshelf.core.deploy.requirements import (
    Requirements,
    folder_reader,
    merge,
    python_mismatch,
    read_requirements,
    unmet,
)
from modelshelf.core.errors import EnvironmentBuildError, RequirementsError
from support import write_wheel

pytestmark = pytest.mark.timeout(180)

MLMODEL = """\
flavors:
  python_function:
    env:
      conda: conda.yaml
      virtualenv: python_env.yaml
    loader_module: mlflow.pyfunc.model
"""
PYTHON_ENV = """\
python: {python}
build_dependencies:
- pip==23.3
- setuptools
dependencies:
- -r requirements.txt
"""
HERE = f"{sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro}"


def folder(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def requirements_of(root: Path, files: dict[str, str], label: str = "m:1") -> Requirements:
    return read_requirements(folder_reader(str(folder(root, files))), label)


@pytest.fixture
def wheels(tmp_path) -> Path:
    """A wheel folder: tinydep 1.0 and 2.0, and otherdep 0.1 (which needs tinydep>=2)."""
    found = tmp_path / "wheels"
    write_wheel(found, "tinydep", "1.0")
    write_wheel(found, "tinydep", "2.0")
    write_wheel(found, "otherdep", "0.1", requires=("tinydep>=2",))
    return found


def offline(wheels: Path) -> InstallOptions:
    return InstallOptions(find_links=(str(wheels),), offline=True)


def uv(wheels: Path) -> UvInstaller:
    binary = find_uv()
    assert binary, "the test extras install uv"
    return UvInstaller(offline(wheels), binary)


def run_python(python: str, code: str, **env: str) -> str:
    environment = {k: v for k, v in os.environ.items() if k != SERVING_PATH_ENV}
    done = subprocess.run(
        [python, "-c", code], env={**environment, **env}, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


# ---- where requirements are written, and how they are read ---------------------------------


def test_requirements_are_read_where_serving_tools_write_them(tmp_path):
    both = requirements_of(
        tmp_path / "sagemaker",
        {"code/requirements.txt": "tinydep==1.0\n", "requirements.txt": "otherdep\n"},
    )
    assert both.lines == ("otherdep", "tinydep==1.0")
    assert both.sources == ("m:1 code/requirements.txt", "m:1 requirements.txt")

    mlflow = requirements_of(
        tmp_path / "mlflow",
        {
            "MLmodel": MLMODEL,
            "python_env.yaml": PYTHON_ENV.format(python=HERE),
            "requirements.txt": "tinydep==1.0\n",
            "code/requirements.txt": "not-read\n",  # MLflow's code/ holds code paths
        },
    )
    # MLflow's build dependencies are how MLflow builds; the model needs what it lists.
    assert mlflow.lines == ("tinydep==1.0",)
    assert mlflow.python == HERE and python_mismatch(mlflow) is None

    plain = requirements_of(tmp_path / "mlflow-old", {"MLmodel": MLMODEL, "requirements.txt": "x"})
    assert plain.lines == ("x",)
    none = requirements_of(tmp_path / "none", {"serve.py": "", "notes/requirements.txt": "x"})
    assert not none and none.lines == ()


def test_equal_sets_are_written_alike_and_hash_alike(tmp_path):
    one = requirements_of(
        tmp_path / "a",
        {
            "requirements.txt": "# pinned\nTinyDep == 1.0  # the tiny one\n"
            "Other_Dep[B,a]>=0.1,<1 ; python_version >= '3'\n-r more.txt\n",
            "more.txt": "--extra-index-url   https://example.invalid/simple\nthird\\\ndep\n",
        },
    )
    two = requirements_of(
        tmp_path / "b",
        {
            "requirements.txt": "thirddep\n--extra-index-url https://example.invalid/simple\n"
            'other-dep[a,b] <1,>=0.1; python_version >= "3"\ntinydep==1.0\n'
        },
    )
    assert one.lines == two.lines
    assert environment_key(one) == environment_key(two)
    assert "tinydep==1.0" in one.lines and "thirddep" in one.lines
    three = requirements_of(tmp_path / "c", {"requirements.txt": "tinydep==2.0\n"})
    assert environment_key(three) != environment_key(one)


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("-e .", "an editable install"),
        ("--editable=./pkg", "an editable install"),
        ("-c constraints.txt", "a constraints file"),
        ("./wheels/tinydep-1.0-py3-none-any.whl", "put its wheel in a --find-links folder"),
        ("-r ../outside.txt", "outside the model folder"),
        ("-r missing.txt", "which the model lacks"),
    ],
)
def test_lines_that_depend_on_the_folder_are_refused(tmp_path, line, fragment):
    with pytest.raises(RequirementsError, match=fragment) as caught:
        requirements_of(tmp_path, {"requirements.txt": f"tinydep\n{line}\n"})
    assert "m:1 requirements.txt" in str(caught.value)


def test_another_python_is_named_with_what_to_do(tmp_path):
    other = "3.1" if sys.version_info.minor != 1 else "3.2"
    asked = requirements_of(
        tmp_path,
        {
            "MLmodel": MLMODEL,
            "python_env.yaml": PYTHON_ENV.format(python=other),
            "requirements.txt": "tinydep\n",
        },
    )
    message = python_mismatch(asked)
    assert message and f"Python {other}" in message and "env_manager='local'" in message


def test_unmet_requirements_are_checked_against_this_interpreter(tmp_path):
    pytest_version = importlib.metadata.version("pytest")
    skinny = importlib.metadata.version("mlflow-skinny")
    lines = (
        f"pytest=={pytest_version}\nPyYAML>=5\n"
        f"mlflow=={skinny}\n"  # what MLflow writes; mlflow-skinny provides the module
        "tinydep==1.0\npytest<1\n"
        "never-installed; python_version < '3'\n"
    )
    asked = requirements_of(tmp_path, {"requirements.txt": lines})
    assert importlib.util.find_spec("tinydep") is None  # the serving interpreter lacks it
    assert unmet(asked) == ["pytest<1", "tinydep==1.0"]


def test_merged_sets_keep_who_asks_for_what(tmp_path):
    a = requirements_of(tmp_path / "a", {"requirements.txt": "tinydep==1.0\n"}, "a:1")
    b = requirements_of(tmp_path / "b", {"requirements.txt": "tinydep==1.0\nother\n"}, "b:2")
    both = merge([a, b])
    assert both.lines == ("other", "tinydep==1.0")
    assert both.wanted_by["tinydep==1.0"] == ("a:1 requirements.txt", "b:2 requirements.txt")


# ---- environments -----------------------------------------------------------------------------


def test_an_environment_is_built_once_and_reused(tmp_path, wheels):
    cache = EnvironmentCache(str(tmp_path / "envs"))
    asked = requirements_of(tmp_path / "m", {"requirements.txt": "otherdep\n"})
    first = cache.get_or_build(asked, uv(wheels))
    again = cache.get_or_build(asked, uv(wheels))
    assert (first.built, again.built) == (True, False)
    assert again.path == first.path and again.installer == "uv"
    found = cache.find(asked)
    assert found is not None and found.path == first.path and not found.built
    versions = run_python(first.python, "import tinydep, otherdep; print(tinydep.__version__)")
    assert versions == "2.0"  # otherdep's own requirement, resolved by the installer
    entries = sorted(os.listdir(tmp_path / "envs"))
    assert entries == sorted([first.key, f"{first.key}.lock", os.path.basename(first.path)])


def test_pip_builds_the_same_environment_without_uv(tmp_path, wheels):
    asked = requirements_of(tmp_path / "m", {"requirements.txt": "tinydep==1.0\n"})
    built = EnvironmentCache(str(tmp_path / "envs")).get_or_build(
        asked, PipInstaller(offline(wheels))
    )
    assert built.installer == "pip" and built.built
    assert run_python(built.python, "import tinydep; print(tinydep.__version__)") == "1.0"
    # No pip of its own: the serving interpreter's pip installed into it.
    assert run_python(built.python, "import importlib.util as u; print(u.find_spec('pip'))") == (
        "None"
    )


def test_racing_deployments_build_the_environment_once(tmp_path, wheels):
    cache = EnvironmentCache(str(tmp_path / "envs"))
    asked = requirements_of(tmp_path / "m", {"requirements.txt": "tinydep==2.0\n"})
    results, errors = [], []

    def build() -> None:
        try:
            results.append(cache.get_or_build(asked, uv(wheels)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors
    assert sorted(r.built for r in results) == [False, False, True]
    assert len({r.path for r in results}) == 1
    builds = [e for e in os.listdir(tmp_path / "envs") if "." in e and not e.endswith(".lock")]
    assert builds == [os.path.basename(results[0].path)]


def test_a_library_that_cannot_be_installed_leaves_nothing_behind(tmp_path, wheels):
    cache = EnvironmentCache(str(tmp_path / "envs"))
    asked = requirements_of(tmp_path / "m", {"requirements.txt": "tinydep\nnosuchlib==3.1\n"})
    for installer in (uv(wheels), PipInstaller(offline(wheels))):
        with pytest.raises(EnvironmentBuildError) as caught:
            cache.get_or_build(asked, installer)
        message = str(caught.value)
        assert message.startswith(
            "cannot build the model's environment: nosuchlib==3.1 (from m:1 requirements.txt)"
        ), message
        assert f"{installer.name} could not install the requirements" in message
        assert os.listdir(tmp_path / "envs") == [f"{environment_key(asked)}.lock"]
        assert cache.find(asked) is None


def test_a_build_killed_midway_is_cleared_by_the_next(tmp_path, wheels):
    root = tmp_path / "envs"
    asked = requirements_of(tmp_path / "m", {"requirements.txt": "tinydep\n"})
    leftover = root / f"{environment_key(asked)}.deadbeef0000"
    (leftover / "bin").mkdir(parents=True)  # a venv half made, never published
    cache = EnvironmentCache(str(root))
    built = cache.get_or_build(asked, uv(wheels))
    assert built.built and not leftover.exists()
    shutil.rmtree(built.path)  # an environment deleted by hand: its link is left dangling
    again = cache.get_or_build(asked, uv(wheels))
    assert again.built and os.path.isfile(again.python)


def test_the_models_pins_win_over_the_serving_interpreter_which_stays_importable(tmp_path, wheels):
    asked = requirements_of(tmp_path / "m", {"requirements.txt": "tinydep==2.0\n"})
    built = EnvironmentCache(str(tmp_path / "envs")).get_or_build(asked, uv(wheels))
    # A serving site-packages that has tinydep 1.0 and a package the environment lacks.
    serving = tmp_path / "serving-site"
    for wheel in (
        write_wheel(tmp_path / "w1", "tinydep", "1.0"),
        write_wheel(tmp_path / "w2", "servingonly", "5.0"),
    ):
        with zipfile.ZipFile(wheel) as archive:
            archive.extractall(serving)
    code = (
        "import tinydep, servingonly, modelshelf, uvicorn, starlette; "
        "print(tinydep.__version__, servingonly.__version__, modelshelf.__name__)"
    )
    path = os.pathsep.join([str(serving), serving_path()])
    assert run_python(built.python, code, **{SERVING_PATH_ENV: path}) == "2.0 5.0 modelshelf"
    # Without the variable the environment holds only its own packages.
    plain = {k: v for k, v in os.environ.items() if k != SERVING_PATH_ENV}
    done = subprocess.run([built.python, "-c", "import uvicorn"], capture_output=True, env=plain)
    assert done.returncode != 0
