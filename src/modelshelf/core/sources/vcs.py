"""Sources fetched by a tool rather than a filesystem: git repositories and Kaggle datasets."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit

from modelshelf.core.errors import MissingDependencyError, SourceError
from modelshelf.core.sources.archives import (
    archive_kind,
    extract_archive,
    remove_tree,
    temporary_folder,
)
from modelshelf.core.sources.tree import (
    URL_PATTERN,
    SourceTree,
    checked_tree,
    expand_local,
    redact_url,
    scrub_userinfo,
    walk_local_folder,
)

_SCP_GIT = re.compile(r"^[\w.-]+@[\w.-]+:")  # git@github.com:org/repo.git
_KAGGLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")


def git_spec(source: str) -> tuple[str, str | None] | None:
    """``(clone URL, revision)`` if ``source`` names a git repository, else ``None``."""
    if source.startswith("git+"):
        url = source[4:]
        if "@" in urlsplit(url).path:  # git+https://host/repo.git@v1 (pip's syntax)
            url, rev = url.rsplit("@", 1)
            return url, rev or None
        return url, None
    if source.lower().startswith("git://"):
        return source, None
    stripped = source.rstrip("/")
    if not stripped.lower().endswith(".git"):
        return None
    if URL_PATTERN.match(source) or _SCP_GIT.match(source):
        return source, None
    local = expand_local(stripped)
    # A bare repository (or a .git folder); a working copy named x.git stays a plain folder.
    if os.path.isfile(os.path.join(local, "HEAD")) and os.path.isdir(
        os.path.join(local, "objects")
    ):
        return "file://" + local, None
    return None


def _run_git(git: str, args: list[str], source: str) -> None:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "GCM_INTERACTIVE": "never"}
    # No prompts (they would hang a notebook) and never the ext:: transport (runs commands).
    command = [git, "-c", "protocol.ext.allow=never", *args]
    proc = subprocess.run(
        command, capture_output=True, text=True, env=env, stdin=subprocess.DEVNULL, check=False
    )
    if proc.returncode:
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        last = scrub_userinfo(lines[-1] if lines else f"exit status {proc.returncode}", source)
        raise SourceError(
            f"git could not fetch {redact_url(source)}: {last}; check the URL, the revision "
            "and your access to the repository"
        )


@contextmanager
def git_source(source: str, url: str, rev: str | None, max_size: int) -> Iterator[SourceTree]:
    """A shallow clone of the repository, without its ``.git`` folder."""
    git = shutil.which("git")
    if git is None:
        raise MissingDependencyError("git sources need the git command: install git first")
    with temporary_folder() as tmp:
        dest = os.path.join(tmp, "repo")
        branch = ["--branch", rev] if rev else []
        try:
            _run_git(git, ["clone", "--quiet", "--depth", "1", *branch, "--", url, dest], source)
        except SourceError:
            if not rev or not re.fullmatch(r"[0-9a-fA-F]{7,40}", rev):
                raise
            # --branch takes branches and tags only: a commit needs a full clone.
            remove_tree(dest)
            _run_git(git, ["clone", "--quiet", "--no-checkout", "--", url, dest], source)
            _run_git(git, ["-C", dest, "checkout", "--quiet", "--detach", rev], source)
        remove_tree(os.path.join(dest, ".git"))
        yield checked_tree(
            SourceTree(redact_url(source), walk_local_folder(dest)), max_size, source
        )


@contextmanager
def kaggle_source(source: str, max_size: int) -> Iterator[SourceTree]:
    """A Kaggle dataset downloaded with the ``kaggle`` package and extracted safely."""
    ref = source.split(":", 1)[1].lstrip("/")
    if not _KAGGLE.fullmatch(ref):
        raise SourceError(f"invalid Kaggle source {source!r}: use kaggle:<owner>/<dataset>")
    if importlib.util.find_spec("kaggle") is None:
        raise MissingDependencyError(
            f"saving {source!r} needs the Kaggle client: install kaggle (pip install kaggle) "
            "and put your API token in ~/.kaggle/kaggle.json"
        )
    with temporary_folder() as tmp:
        download = os.path.join(tmp, "download")
        try:
            # Importing kaggle reads the token, so it fails here, not at import of this module.
            from kaggle.api.kaggle_api_extended import KaggleApi

            api = KaggleApi()
            api.authenticate()
            # unzip=False: kaggle's own unzip has no safety checks; ours runs below.
            api.dataset_download_files(ref, path=download, unzip=False, quiet=True)
        except Exception as exc:
            raise SourceError(
                f"kaggle could not download {ref!r} ({exc}): check the dataset name and your "
                "API token in ~/.kaggle/kaggle.json"
            ) from exc
        entries = os.listdir(download) if os.path.isdir(download) else []
        folder = download
        if len(entries) == 1 and archive_kind(entries[0]) is not None:
            folder = os.path.join(tmp, "files")
            extract_archive(os.path.join(download, entries[0]), folder, limit=max_size, name=ref)
        yield checked_tree(SourceTree(source, walk_local_folder(folder)), max_size, source)
