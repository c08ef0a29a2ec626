"""The sidebar's build function for hatch-jupyter-builder (see pyproject.toml).

hatch-jupyter-builder's own ``npm_builder`` always runs ``npm install``, which rewrites the
tracked labextension/package-lock.json whenever npm resolves the tree differently from it.
``npm ci`` installs exactly what the lockfile says and never writes it: it fails instead, naming
what differs, when the lockfile no longer matches package.json. So a build (``pip install .``,
``make test``) changes no tracked file; after editing package.json, run ``npm install`` in
labextension/ and commit the lockfile it writes.

Only the standard library here: the build runs in pip's isolated environment, where neither
modelshelf nor its dependencies are installed.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess


def npm_ci_builder(target_name: str, version: str, *, path: str, build_cmd: str = "build") -> None:
    """Install ``path``'s locked dependencies with ``npm ci``, then ``npm run <build_cmd>``.

    ``target_name`` (wheel or sdist) and ``version`` (standard or editable) do not change the
    build; hatch-jupyter-builder passes them to every build function.
    """
    del target_name, version
    npm = shutil.which("npm")
    if npm is None:
        raise FileNotFoundError(
            "npm was not found: building modelshelf's JupyterLab sidebar (labextension/) needs "
            "Node.js and npm; install them (Debian: apt-get install nodejs npm) and retry"
        )
    # --no-audit and --no-fund: nothing but the packages themselves comes from the registry.
    for command in ([npm, "ci", "--no-audit", "--no-fund"], [npm, "run", build_cmd]):
        print(f"> {shlex.join(command)} (in {path})", flush=True)
        subprocess.run(command, cwd=path, check=True)
