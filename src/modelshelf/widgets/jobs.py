"""The Jobs panel: launch a notebook with a form built from its parameters, watch, cancel."""

from __future__ import annotations

import os
from typing import Any

import ipywidgets as w

from modelshelf.core.errors import ModelshelfError
from modelshelf.core.jobs.job import Job
from modelshelf.core.jobs.manager import JobManager
from modelshelf.core.jobs.parameters import notebook_parameters
from modelshelf.widgets._common import error_text, message_html, pre_html
from modelshelf.widgets.listing import ListingPanel
from modelshelf.widgets.params import ParameterForm

_WIDE = w.Layout(width="32em")
_STYLE = {"description_width": "10em"}


def tail(text: str, lines: int) -> str:
    """The last ``lines`` lines of ``text``."""
    return "".join(text.splitlines(keepends=True)[-lines:])


class JobPanel(ListingPanel[Job]):
    """Launch notebooks as jobs and follow them.

    Parameters
    ----------
    jobs:
        The job manager; one on a default :class:`Shelf` if None.
    notebook:
        A notebook whose parameters form is built at once.
    auto_refresh:
        Re-read the jobs every ``interval`` seconds in a background thread (``close()``
        stops it); tests pass False and call :meth:`refresh`.
    log_lines:
        How many of the selected job's last log lines are shown.
    """

    noun = "job"

    def __init__(
        self,
        jobs: JobManager | None = None,
        *,
        notebook: str | os.PathLike | None = None,
        auto_refresh: bool = True,
        interval: float = 2.0,
        log_lines: int = 20,
    ) -> None:
        owned = jobs is None
        self.jobs = jobs if jobs is not None else JobManager()
        self.log_lines = log_lines
        self.form: ParameterForm | None = None
        self._form_notebook: str | None = None

        self.notebook = w.Text(
            description="Notebook",
            placeholder="path or URL of a .ipynb",
            style=_STYLE,
            layout=_WIDE,
        )
        self.read_button = w.Button(description="Read parameters", icon="list")
        self.parameters = w.VBox([])
        self.model = w.Combobox(
            description="Input model",
            placeholder="optional: name, name:3 or name@alias",
            ensure_option=False,
            style=_STYLE,
            layout=_WIDE,
        )
        self.data = w.Text(
            description="Data",
            placeholder="optional: a folder or URL",
            style=_STYLE,
            layout=_WIDE,
        )
        self.name = w.Text(
            description="Job name",
            placeholder="default: the notebook's name",
            style=_STYLE,
            layout=_WIDE,
        )
        self.workers = w.BoundedIntText(
            value=1, min=1, max=4096, description="Workers", style=_STYLE, layout=_WIDE
        )
        self.launch_button = w.Button(description="Launch", icon="play", button_style="primary")
        self.launch_status = w.HTML("")
        self.job_list = w.Select(
            options=[], rows=8, description="Jobs", layout=w.Layout(width="48em")
        )
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.cancel_button = w.Button(description="Cancel job", icon="stop", button_style="warning")
        self.listing = self.job_list
        self.status = w.HTML("")
        self.details = w.HTML("")

        super().__init__()
        self.children = [
            w.HTML("<b>Launch a notebook as a job</b>"),
            w.HBox([self.notebook, self.read_button]),
            self.parameters,
            self.model,
            self.data,
            self.name,
            self.workers,
            self.launch_button,
            self.launch_status,
            w.HTML("<b>Jobs</b>"),
            self.job_list,
            w.HBox([self.refresh_button, self.cancel_button]),
            self.status,
            self.details,
        ]
        if owned:
            self._owned += [self.jobs, self.jobs.shelf]

        self.read_button.on_click(lambda _: self.read_parameters())
        self.launch_button.on_click(lambda _: self.launch())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.cancel_button.on_click(lambda _: self.cancel())
        self.job_list.observe(self._on_job, names="value")
        self._offer_models()
        if notebook is not None:
            self.notebook.value = os.fspath(notebook)
            self.read_parameters()
        self.refresh()
        self._start_polling(auto_refresh, interval)

    # ---- launching -----------------------------------------------------------------------

    def _offer_models(self) -> None:
        """Model names for the input model box (read once: listing is not free on S3)."""
        try:
            self.model.options = [s.name for s in self.jobs.shelf.list()]
        except ModelshelfError:
            self.model.options = []

    def read_parameters(self) -> bool:
        """Build the parameters form from the notebook's ``parameters`` cell."""
        path = self.notebook.value.strip()
        if not path:
            self.launch_status.value = message_html("give the notebook's path", "error")
            return False
        try:
            declared = notebook_parameters(os.path.expanduser(path))
        except ModelshelfError as exc:
            self.launch_status.value = message_html(error_text(exc), "error")
            return False
        if self.form is not None:
            self.form.close()
        self.form = ParameterForm(declared)
        self._form_notebook = path
        self.parameters.children = [self.form.widget]
        self.launch_status.value = message_html(
            f"{len(declared)} parameter{'s' if len(declared) != 1 else ''} from {path}", "info"
        )
        return True

    def launch(self) -> Job | None:
        """Check the form, then submit the job; an error is shown and nothing is submitted."""
        path = self.notebook.value.strip()
        if (self.form is None or self._form_notebook != path) and not self.read_parameters():
            return None
        assert self.form is not None
        try:
            parameters = self.form.values()
        except ModelshelfError as exc:
            self.launch_status.value = message_html(error_text(exc), "error")
            return None
        try:
            job = self.jobs.submit(
                os.path.expanduser(path),
                name=self.name.value.strip() or None,
                parameters=parameters,
                model=self.model.value.strip() or None,
                data=self.data.value.strip() or None,
                workers=self.workers.value,
            )
        except ModelshelfError as exc:
            self.launch_status.value = message_html(error_text(exc), "error")
            return None
        self.launch_status.value = message_html(f"submitted {job.name} ({job.id})", "ok")
        self.refresh()
        self.job_list.value = job.id
        return job

    # ---- watching and cancelling ---------------------------------------------------------

    def _items(self) -> list[Job]:
        return self.jobs.list(limit=100)

    def _key(self, job: Job) -> str:
        return job.id

    def _details(self, job: Job) -> str:
        log = tail(str(job.logs()), self.log_lines) or "(no log yet)"
        return job.card().html() + pre_html(log)

    def _on_job(self, change: dict[str, Any]) -> None:
        if not self.is_quiet:
            self.refresh()

    def cancel(self) -> None:
        """Cancel the selected job, in a thread (the core waits for its kernel to stop)."""
        self.act_on_selected(
            "cancel",
            self.cancel_button,
            "cancelling {key} ...",
            self.jobs.cancel,
            lambda job: f"{job.name} ({job.id}) is {job.status}",
        )
