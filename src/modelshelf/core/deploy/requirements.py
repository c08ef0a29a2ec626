"""A model folder's Python requirements: found where serving tools look for them, read as the
installers read them, normalised so that equal sets hash alike, merged across the models of
an endpoint, and checked against the running interpreter.

Where they are written, in the order the tools that write them define:

- an MLflow model (``MLmodel``): the ``python_env.yaml`` its ``MLmodel`` names (MLflow's
  virtualenv contract: ``python`` and ``dependencies``, usually ``-r requirements.txt``), else
  its ``requirements.txt``, as ``mlflow models serve --env-manager virtualenv`` reads them.
  ``build_dependencies`` (the pip, setuptools and wheel MLflow builds its environments with)
  are not installed: modelshelf builds with uv or the serving interpreter's own pip, and the
  serving interpreter's setuptools stays importable behind the environment's packages;
- any other folder: ``code/requirements.txt`` (what the SageMaker inference toolkit installs)
  and ``requirements.txt`` at the top, both when both exist.

Environments are shared by every deployment needing the same set, so a line that depends on
the folder it was read from cannot be part of one: editable installs (``-e``), constraint
files (``-c``) and local paths are refused with a message saying what to write instead.
``-r other.txt`` is read in place (relative to the file naming it, inside the folder).
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import posixpath
import re
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from modelshelf.core.errors import RequirementsError, RequirementsNotMetError

# A path relative to the model folder -> the file's text, or None when it is absent.
Reader = Callable[[str], "str | None"]

MLMODEL = "MLmodel"
PYTHON_ENV = "python_env.yaml"
REQUIREMENTS_TXT = "requirements.txt"
SAGEMAKER_REQUIREMENTS = "code/requirements.txt"
# pip's comment rule: '#' at the start of a line or after whitespace.
_COMMENT = re.compile(r"(^|\s+)#.*$")
_INCLUDE = re.compile(r"^(-r|--requirement)(=|\s+|(?=[^\s=]))(?P<path>.+)$")
_REFUSED = {
    "-e": "an editable install", "--editable": "an editable install",
    "-c": "a constraints file", "--constraint": "a constraints file",
}  # fmt: skip
# Options that follow a requirement on its line (``pkg==1 --hash=sha256:...``).
_TRAILING_OPTIONS = re.compile(r"\s+(?=--?[A-Za-z])")


@dataclass(frozen=True)
class Requirements:
    """The requirements of one model or of several merged: normalised lines, sorted.

    ``lines`` are requirement specifiers (``tinydep==1.0``) and installer options
    (``--extra-index-url URL``); ``wanted_by`` says which files each line came from (so an
    installer's failure can name the model), ``python`` the Python version a
    ``python_env.yaml`` asks for.
    """

    lines: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    python: str | None = None
    wanted_by: dict[str, tuple[str, ...]] = field(default_factory=dict, compare=False)

    def __bool__(self) -> bool:
        return any(not line.startswith("-") for line in self.lines)

    def text(self) -> str:
        """The requirements file an installer reads."""
        return "".join(f"{line}\n" for line in self.lines)

    def specifiers(self) -> list[tuple[str, Requirement]]:
        """The lines that name a package, with each parsed."""
        return [(line, _requirement(line)) for line in self.lines if not line.startswith("-")]


def merge(parts: Iterable[Requirements]) -> Requirements:
    """One set holding every line of ``parts``; conflicting pins are left for the installer's
    resolver to report (with the files each came from, see ``wanted_by``)."""
    wanted: dict[str, list[str]] = {}
    sources: list[str] = []
    pythons = set()
    for part in parts:
        sources += [s for s in part.sources if s not in sources]
        if part.python:
            pythons.add(part.python)
        for line, origins in part.wanted_by.items():
            known = wanted.setdefault(line, [])
            known += [o for o in origins if o not in known]
    if len({_minor(p) for p in pythons}) > 1:
        raise RequirementsError(
            f"the models ask for different Pythons ({', '.join(sorted(pythons))} in their "
            "python_env.yaml): one environment cannot hold them; deploy them separately"
        )
    return Requirements(
        lines=tuple(sorted(wanted)),
        sources=tuple(sources),
        python=min(pythons) if pythons else None,
        wanted_by={line: tuple(origins) for line, origins in wanted.items()},
    )


def read_requirements(read: Reader, label: str) -> Requirements:
    """The requirements of the model folder that ``read`` reads (``label`` names it in
    messages and in ``sources``, e.g. ``churn:3``); empty when it has none."""
    mlmodel = read(MLMODEL)
    if mlmodel is not None:
        return _mlflow_requirements(read, label, mlmodel)
    texts = {path: read(path) for path in (SAGEMAKER_REQUIREMENTS, REQUIREMENTS_TXT)}
    return merge(_file_requirements(read, label, p, t) for p, t in texts.items() if t is not None)


def folder_reader(folder: str) -> Reader:
    """A :data:`Reader` of a local folder."""

    def read(path: str) -> str | None:
        full = os.path.join(folder, *path.split("/"))
        try:
            with open(full, encoding="utf-8") as fh:
                return fh.read()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    return read


def _mlflow_requirements(read: Reader, label: str, mlmodel: str) -> Requirements:
    import yaml

    env_file = _mlflow_env_file(yaml.safe_load(mlmodel) or {})
    text = read(env_file)
    if text is None:
        plain = read(REQUIREMENTS_TXT)
        return (
            Requirements()
            if plain is None
            else _file_requirements(read, label, REQUIREMENTS_TXT, plain)
        )
    spec = yaml.safe_load(text) or {}
    if not isinstance(spec, dict) or not isinstance(spec.get("dependencies", []), list):
        raise RequirementsError(f"{label}: {env_file} is not MLflow's python_env.yaml format")
    lines = [str(line) for line in spec.get("dependencies") or []]
    found = _parse_lines(read, label, env_file, lines, {env_file})
    python = spec.get("python")
    return _requirements(found, python=str(python) if python else None)


def _mlflow_env_file(mlmodel: dict) -> str:
    """The python_env.yaml the MLmodel's pyfunc flavor names (MLflow's default name)."""
    flavor = (mlmodel.get("flavors") or {}).get("python_function") or {}
    env = flavor.get("env")
    if isinstance(env, dict) and isinstance(env.get("virtualenv"), str):
        return env["virtualenv"]
    return PYTHON_ENV


def _file_requirements(read: Reader, label: str, path: str, text: str) -> Requirements:
    return _requirements(_parse_lines(read, label, path, _logical_lines(text), {path}))


def _requirements(found: dict[str, list[str]], python: str | None = None) -> Requirements:
    sources: list[str] = []
    for origins in found.values():
        sources += [o for o in origins if o not in sources]
    return Requirements(
        lines=tuple(sorted(found)),
        sources=tuple(sources),
        python=python,
        wanted_by={line: tuple(origins) for line, origins in found.items()},
    )


def _logical_lines(text: str) -> list[str]:
    """Lines as pip reads them: a trailing backslash continues a line; comments dropped."""
    joined = re.sub(r"\\\r?\n", "", text)
    return [_COMMENT.sub("", line).strip() for line in joined.splitlines()]


def _parse_lines(
    read: Reader, label: str, path: str, lines: list[str], seen: set[str]
) -> dict[str, list[str]]:
    """Normalised line -> the files (``label path``) that ask for it."""
    found: dict[str, list[str]] = {}
    where = f"{label} {path}"
    for line in filter(None, (raw.strip() for raw in lines)):
        include = _INCLUDE.match(line)
        if include:
            included = _included_path(label, path, include.group("path").strip())
            if included in seen:
                continue  # pip would loop forever; one reading is the whole set
            text = read(included)
            if text is None:
                raise RequirementsError(f"{where} includes {included}, which the model lacks")
            nested = _parse_lines(read, label, included, _logical_lines(text), seen | {included})
            for key, origins in nested.items():
                found.setdefault(key, []).extend(origins)
            continue
        normal = _normal_line(where, line)
        found.setdefault(normal, [])
        if where not in found[normal]:
            found[normal].append(where)
    return found


def _included_path(label: str, path: str, target: str) -> str:
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(path), target))
    if target.startswith("/") or "://" in target or joined.startswith(".."):
        raise RequirementsError(
            f"{label} {path}: '-r {target}' is outside the model folder; include files from "
            "inside it only"
        )
    return joined


def _normal_line(where: str, line: str) -> str:
    if line.startswith("-"):
        option = re.split(r"[\s=]", line, maxsplit=1)[0]
        # Short options may be glued to their value: -e. is -e .
        what = _REFUSED.get(option) or _REFUSED.get("" if option.startswith("--") else option[:2])
        if what:
            raise RequirementsError(
                f"{where}: {line!r} is {what}, which depends on the folder it is read from; "
                "environments are shared between deployments, so name the package (and put "
                "its wheel in a --find-links folder) instead"
            )
        return " ".join(line.split())
    spec, *options = _TRAILING_OPTIONS.split(line)
    try:
        requirement = Requirement(spec)
    except InvalidRequirement as exc:
        raise RequirementsError(
            f"{where}: {line!r} is not a requirement an environment can be built from ({exc}); "
            "a local file or folder cannot be shared between deployments: put its wheel in a "
            "--find-links folder and name the package, or write `name @ https://...`"
        ) from None
    return " ".join([_normal_requirement(requirement), *options])


def _normal_requirement(requirement: Requirement) -> str:
    text = canonicalize_name(requirement.name)
    if requirement.extras:
        text += "[" + ",".join(sorted(canonicalize_name(e) for e in requirement.extras)) + "]"
    text += f" @ {requirement.url}" if requirement.url else str(requirement.specifier)
    if requirement.marker is not None:
        text += f"; {requirement.marker}"
    return text


def _requirement(line: str) -> Requirement:
    return Requirement(_TRAILING_OPTIONS.split(line)[0])


def _minor(version: str) -> tuple[str, ...]:
    return tuple(version.split(".")[:2])


# ---- met by the running interpreter? --------------------------------------------------------


def python_mismatch(requirements: Requirements) -> str | None:
    """Why this interpreter's Python is not the one a ``python_env.yaml`` asks for, if so."""
    if not requirements.python:
        return None
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if _minor(requirements.python) == _minor(here):
        return None
    return (
        f"{', '.join(requirements.sources)} asks for Python {requirements.python} and this "
        f"server runs Python {sys.version.split()[0]}; modelshelf does not install other "
        "Pythons: deploy with env_manager='local' (--env-manager local) to serve it with this "
        f"interpreter anyway, or deploy from a Python {requirements.python} interpreter"
    )


def check_met(model_dir: str, name: str) -> None:
    """RequirementsNotMetError when the running server lacks what ``model_dir`` needs (a
    model loaded into a running multi-model endpoint, after its environment was made)."""
    requirements = read_requirements(folder_reader(model_dir), name)
    if not requirements:
        return
    mismatch = python_mismatch(requirements)
    missing = unmet(requirements)
    if not (mismatch or missing):
        return
    why = mismatch or (
        f"{name} needs {', '.join(missing)} ({', '.join(requirements.sources)}), which this "
        f"endpoint's environment ({sys.prefix}) lacks"
    )
    raise RequirementsNotMetError(
        f"{why}: a multi-model endpoint serves from one environment, built for the models "
        "named when it was deployed; deploy it with the models that need these libraries "
        "named (or on an endpoint of its own), or deploy with env_manager='local' to load "
        "models without checking"
    )


def unmet(requirements: Requirements) -> list[str]:
    """The requirement lines the running interpreter does not satisfy (options are not
    requirements). A package counts as installed under its distribution's name or, as MLflow
    counts it, under the name of a module some installed distribution provides (``mlflow``
    by ``mlflow-skinny``), without importing anything."""
    checker = _Installed()
    return [line for line, req in requirements.specifiers() if not checker.satisfies(req, set())]


class _Installed:
    """What the running interpreter has installed, looked up once per check."""

    def __init__(self) -> None:
        self._by_module: dict[str, list[str]] | None = None

    def satisfies(self, requirement: Requirement, seen: set[str]) -> bool:
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            return True
        dist = self._distribution(requirement.name)
        if dist is None:
            return False
        if requirement.url:
            return _installed_from(dist, requirement.url)
        if not requirement.specifier.contains(dist.version, prereleases=True):
            return False
        return all(self._extra_met(dist, extra, seen) for extra in requirement.extras)

    def _extra_met(self, dist: metadata.Distribution, extra: str, seen: set[str]) -> bool:
        key = f"{canonicalize_name(dist.metadata['Name'])}[{extra}]"
        if key in seen:
            return True
        for text in dist.requires or []:
            needed = Requirement(text)
            if needed.marker is not None and needed.marker.evaluate({"extra": extra}):
                needed.marker = None
                if not self.satisfies(needed, seen | {key}):
                    return False
        return True

    def _distribution(self, name: str) -> metadata.Distribution | None:
        try:
            return metadata.distribution(name)
        except metadata.PackageNotFoundError:
            pass
        if self._by_module is None:
            self._by_module = metadata.packages_distributions()
        for provider in self._by_module.get(name.replace("-", "_").lower(), []):
            try:
                return metadata.distribution(provider)
            except metadata.PackageNotFoundError:
                continue
        return None


def _installed_from(dist: metadata.Distribution, url: str) -> bool:
    """True when ``dist`` was installed from ``url`` (its PEP 610 ``direct_url.json``)."""
    text = dist.read_text("direct_url.json")
    try:
        return bool(text) and json.loads(text).get("url") == url
    except ValueError:
        return False
