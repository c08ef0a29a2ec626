"""The ``%model``, ``%job``, ``%deploy`` and ``%shelf`` line magics.

Each magic parses its line with the CLI's grammar (:mod:`modelshelf.magics.grammar`), calls
the same handler as the ``modelshelf`` command, and returns the handler's core object (see
:mod:`modelshelf.magics.results`). User mistakes, whether the grammar's or the core's
(unknown model, bad name, ...), become a one-line :class:`~IPython.core.error.UsageError`,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
from contextlib import AbstractContextManager, nullcontext
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_magic, magics_class
from traitlets import Bool, Dict, Integer, Unicode, observe
from traitlets.config import Configurable

from modelshelf.cli.views.jobs import log_printer
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.errors import ModelshelfError
from modelshelf.core.jobs import JobManager
from modelshelf.core.store import Shelf
from modelshelf.magics.grammar import MagicGrammar, without_comment
from modelshelf.magics.lineage import Lineage, detect_lineage, is_watched
from modelshelf.magics.progress import ProgressBars
from modelshelf.magics.results import present

__all__ = ["ModelshelfMagics"]

_WIDGETS_HINT = "pip install ipywidgets (and restart the kernel)"


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split()) or type(error).__name__


@magics_class
class ModelshelfMagics(Magics, Configurable):
    """``%model``, ``%job``, ``%deploy`` and ``%shelf``; settings via ``%config``.

    One Shelf, JobManager and DeploymentManager per instance, made on first use, so that a
    returned Job or Deployment keeps working after its magic has returned.
    """

    root = Unicode(
        None,
        allow_none=True,
        help="Store root (folder or fsspec URL); None: $MODELSHELF_ROOT or ~/.modelshelf.",
    ).tag(config=True)
    storage_options = Dict(
        help="fsspec options for the root URL; empty: the Shelf's default "
        "($MODELSHELF_STORAGE_OPTIONS, set for jobs)."
    ).tag(config=True)
    max_rows = Integer(50, help="Rows shown of a listing (the list holds them all); 0: all.").tag(
        config=True
    )
    progress = Bool(
        True,
        help="Progress bars for saves and loads (never in jobs, papermill runs or pipes).",
    ).tag(config=True)

    def __init__(self, shell: Any = None, **kwargs: Any) -> None:
        # Set before traitlets loads the shell's config, which notifies _store_changed.
        self._shelf: Shelf | None = None
        self._jobs: JobManager | None = None
        self._deployments: DeploymentManager | None = None
        # Objects of a store left behind by a change of root: Jobs and Deployments already
        # returned still use them, so they are closed only with the magics.
        self._retired: list[Any] = []
        super().__init__(shell=shell, **kwargs)
        self._grammars = {name: MagicGrammar(name) for name in ("model", "job", "deploy")}

    # ---- the store and its managers -----------------------------------------------------

    @observe("root", "storage_options")
    def _store_changed(self, change: Any) -> None:
        self._retired += [x for x in (self._deployments, self._jobs, self._shelf) if x is not None]
        self._shelf = self._jobs = self._deployments = None

    @property
    def shelf(self) -> Shelf:
        """The store the magics work on (``root``, ``storage_options``)."""
        if self._shelf is None:
            try:
                self._shelf = Shelf(self.root, storage_options=self.storage_options or None)
            except ModelshelfError as exc:
                raise UsageError(_one_line(exc)) from None
        return self._shelf

    @property
    def jobs(self) -> JobManager:
        if self._jobs is None:
            self._jobs = JobManager(self.shelf, config=self.config)
        return self._jobs

    @property
    def deployments(self) -> DeploymentManager:
        if self._deployments is None:
            self._deployments = DeploymentManager(self.shelf, config=self.config)
        return self._deployments

    def close(self) -> None:
        """Close the store's local databases (deployments and jobs keep running)."""
        self._store_changed(None)
        retired, self._retired = self._retired, []
        for item in retired:
            item.close()

    # ---- the magics ------------------------------------------------------------------------

    @line_magic("model")
    def model_magic(self, line: str) -> Any:
        """Versioned models: ``%model save|ls|versions|show|load|rm|diff|alias ...``.

        ``%model -h`` lists the subcommands, ``%model save -h`` the options of one.
        """
        return self._execute("model", line)

    @line_magic("job")
    def job_magic(self, line: str) -> Any:
        """Notebook jobs: ``%job run NOTEBOOK``, ``%job ls``, ``%job show|logs|cancel|wait ID``."""
        return self._execute("job", line)

    @line_magic("deploy")
    def deploy_magic(self, line: str) -> Any:
        """Deployments: ``%deploy REF``, ``%deploy ls|stop|invoke|batch ...``."""
        return self._execute("deploy", line)

    @line_magic("shelf")
    def shelf_magic(self, line: str) -> Any:
        """The store, its jobs and deployments as interactive panels (needs ipywidgets)."""
        if without_comment(line).strip():
            raise UsageError(f"%shelf takes no arguments, got {line.strip()!r}")
        try:
            from modelshelf.widgets import shelf_panels
        except ImportError as exc:
            missing = exc.name or "modelshelf.widgets"
            raise UsageError(
                f"%shelf needs {missing}, which cannot be imported: {_WIDGETS_HINT}"
            ) from None
        return shelf_panels(
            shelf=self.shelf,
            jobs=self.jobs,
            deployments=self.deployments,
            auto_refresh=is_watched(self._user_ns),
        )

    # ---- one line, start to end --------------------------------------------------------------

    def _execute(self, magic: str, line: str) -> Any:
        try:
            parsed = self._grammars[magic].parse(line)
            if parsed.args is None:
                return None  # help was printed
            args = parsed.args
            result = self._call(args)
        except json.JSONDecodeError as exc:  # `%deploy invoke NAME PAYLOAD` that is not JSON
            raise UsageError(f"PAYLOAD is not JSON ({exc}); quote it: '{{\"a\": 1}}'") from None
        except (ModelshelfError, OSError) as exc:  # CommandLineError is one too
            raise UsageError(_one_line(exc)) from None
        return present(result, args.command, self.max_rows or None, as_json=args.json)

    def _call(self, args: argparse.Namespace) -> Any:
        shelf = self.shelf
        if args.command == "save":
            args.lineage = self._lineage()
        # The managers only for the commands that use them: making one opens its database.
        if hasattr(args, "job_manager"):
            args.job_manager = self.jobs
        if hasattr(args, "deploy_manager"):
            args.deploy_manager = self.deployments
        args.on_log = log_printer()  # --follow: each line as it comes
        with self._progress_bars(args) as progress:
            args.progress = progress
            return args.handler(shelf, args)

    def _progress_bars(self, args: argparse.Namespace) -> AbstractContextManager[Any]:
        quiet = getattr(args, "quiet", False) or args.json
        if quiet or not self.progress or not is_watched(self._user_ns):
            return nullcontext(None)
        return ProgressBars()

    @property
    def _user_ns(self) -> dict[str, Any]:
        return getattr(self.shell, "user_ns", None) or {}

    def _lineage(self) -> Lineage:
        lineage = detect_lineage(self._user_ns)
        if lineage.job is None or lineage.notebook:
            return lineage
        # In a job the kernel runs a snapshot; the job's record names the real notebook.
        try:
            notebook = self.jobs.get(lineage.job["id"]).spec.notebook
        except (ModelshelfError, OSError, LookupError):
            return lineage  # a job of another machine or store: record what we know
        return detect_lineage(self._user_ns, job_notebook=notebook)
