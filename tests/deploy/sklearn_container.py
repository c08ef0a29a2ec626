"""The scikit-learn container's multi-model test resources, built here.

aws/sagemaker-scikit-learn-container's ``test/integration/test_multiple_model_endpoint.py``
mounts ``models/pickled-model-1`` and ``-2`` (one pickled estimator each, in a file named
``sklearn-model``) at ``/opt/ml/model`` and its user module, ``user_code.tar.gz`` holding a
``script.py`` that defines only ``model_fn``, as SAGEMAKER_SUBMIT_DIRECTORY. These are the
same, with linear models whose answers are known: ``intercept + sum(row)``.
"""

from __future__ import annotations

import io
import os
import pickle
import tarfile
from pathlib import Path

# The container's script.py, less its training half: model_fn alone.
SCRIPT = """\
import os
import pickle


def model_fn(model_dir):
    print("loading sklearn-model from: {}".format(model_dir))
    with open(os.path.join(model_dir, "sklearn-model"), "rb") as fh:
        return pickle.load(fh)
"""

# The container's request: one CSV row of five features, spaces after the commas.
ROW = b"0.0, 0.0, 0.0, 0.0, 0.0"
INTERCEPTS = {"pickled-model-1": 1.5, "pickled-model-2": 2.5}


def estimator(intercept: float) -> bytes:
    """A pickled LinearRegression over five features: ``intercept + sum(row)``."""
    from sklearn.linear_model import LinearRegression

    rows = [[float(i == j) for j in range(5)] for i in range(5)] + [[0.0] * 5]
    return pickle.dumps(LinearRegression().fit(rows, [intercept + sum(r) for r in rows]))


def model_folders(root: Path) -> dict[str, Path]:
    """``root/pickled-model-1`` and ``-2``, as the container's test mounts them."""
    folders = {}
    for name, intercept in INTERCEPTS.items():
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "sklearn-model").write_bytes(estimator(intercept))
        folders[name] = folder
    return folders


def tarball(path: Path, files: dict[str, str]) -> Path:
    """A ``.tar.gz`` of ``files`` at its top, as the SageMaker Python SDK packs a sourcedir."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            member = tarfile.TarInfo(name)
            member.size = len(data)
            member.mode = 0o755
            tar.addfile(member, io.BytesIO(data))
    return path


def snapshot(folder: Path) -> dict[str, tuple[int, int, int]]:
    """Every entry under ``folder``: its size, modification time and mode (to see that
    nothing was written, removed or added)."""
    seen = {}
    for base, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(base, name)
            st = path.lstat()
            seen[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns, st.st_mode)
    return seen
