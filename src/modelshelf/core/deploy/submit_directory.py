"""An endpoint's own user code, ``SAGEMAKER_SUBMIT_DIRECTORY``, made importable once.

The SageMaker containers take the variable as sagemaker-containers' ``download_and_extract``
does: a folder, an archive (``sourcedir.tar.gz``, as the SageMaker Python SDK uploads it), a
single file, locally or at a URL (``s3://bucket/.../sourcedir.tar.gz``). The deployment
manager prepares it once per deployment, before any server process starts, so every worker
and every model imports the same code (the script ``SAGEMAKER_PROGRAM`` names, see
:mod:`.sagemaker_script`):

- a local folder is used in place: it is read, never written (no bytecode cache either);
- anything else is copied into the deployment's own folder, an archive extracted with the
  store's safe extraction (:func:`~modelshelf.core.sources.archives.extract_archive`).

``requirements.txt`` is not installed (the containers pip-install it); loading warns of it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from modelshelf.core.deploy.sagemaker_script import SUBMIT_ENV
from modelshelf.core.errors import DeploymentError, ModelshelfError
from modelshelf.core.sources import copy_source
from modelshelf.core.sources.archives import remove_tree
from modelshelf.core.sources.tree import URL_PATTERN, expand_local


def submit_directory(environment: Mapping[str, str]) -> str | None:
    """The submit directory a server process with ``environment`` is given, if any."""
    return (environment.get(SUBMIT_ENV) or "").strip() or None


def prepare_submit_directory(
    source: str, dest: str, storage_options: dict[str, Any] | None = None
) -> str:
    """The folder to import the endpoint's code from: ``source`` itself when it is a local
    folder, else ``dest`` (created) holding its files; DeploymentError if it cannot be read."""
    if not URL_PATTERN.match(source) and not source.lower().startswith("file://"):
        local = expand_local(source)
        if os.path.isdir(local):
            return local
    try:
        copy_source(source, dest, storage_options)
    except ModelshelfError as exc:
        remove_tree(dest)
        raise DeploymentError(
            f"{SUBMIT_ENV}={source} cannot be used: {exc}; it must name a folder, an archive "
            "such as sourcedir.tar.gz, or a file, locally or at a URL"
        ) from exc
    return dest
