"""The Models panel's forms that move files: save a folder as a model, load a version.

Both run in a thread with a progress bar fed by the Shelf's progress callback, so the
kernel stays free while gigabytes are copied.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from modelshelf.core.store import Shelf, default_model_path, default_output_path
from modelshelf.core.store.manifest import ModelVersion
from modelshelf.widgets._common import ProgressBar, Tasks, error_text, message_html

_WIDE = w.Layout(width="32em")


class TransferForms:
    """Save and load forms sharing one progress bar; one transfer at a time.

    A single transfer at a time because a Shelf's stat cache keeps per-save state: two
    saves through the same Shelf at once could mix their cached hashes.
    """

    def __init__(
        self,
        shelf: Shelf,
        tasks: Tasks,
        selected_ref: Callable[[], str | None],
        on_saved: Callable[[ModelVersion], None],
    ) -> None:
        self.shelf = shelf
        self._tasks = tasks
        self._selected_ref = selected_ref
        self._on_saved = on_saved
        self.source = w.Combobox(
            value=default_model_path(),
            options=[default_model_path(), default_output_path()],
            placeholder="a folder, URL or archive",
            description="Folder",
            ensure_option=False,
            layout=_WIDE,
        )
        self.name = w.Text(description="Name", placeholder="model name", layout=_WIDE)
        self.message = w.Text(description="Message", placeholder="optional", layout=_WIDE)
        self.save_button = w.Button(description="Save", icon="upload", button_style="primary")
        self.destination = w.Text(value=default_model_path(), description="Load to", layout=_WIDE)
        self.load_button = w.Button(description="Load selected", icon="download")
        self.progress = ProgressBar()
        self.status = w.HTML("")
        self.save_button.on_click(lambda _: self.save())
        self.load_button.on_click(lambda _: self.load())
        self.widget = w.VBox(
            [
                w.HTML("<b>Save a folder as a model</b>"),
                self.source,
                self.name,
                self.message,
                self.save_button,
                w.HTML("<b>Load the selected version</b>"),
                w.HBox([self.destination, self.load_button]),
                self.progress.widget,
                self.status,
            ]
        )

    def suggest_name(self, name: str) -> None:
        """Prefill the name with the selected model's, unless the user typed one."""
        if not self.name.value.strip():
            self.name.value = name

    def _busy(self, busy: bool) -> None:
        self.save_button.disabled = busy
        self.load_button.disabled = busy

    def save(self) -> None:
        """Save the form's folder as the next version of its model, in a thread."""
        name = self.name.value.strip()
        source = self.source.value.strip()
        if not name or not source:
            self.status.value = message_html("give a folder and a model name", "error")
            return
        message = self.message.value.strip() or None
        self._busy(True)
        self.progress.start(f"saving {source} as {name}")
        self.status.value = message_html(f"saving {source} as {name} ...", "busy")

        def work() -> ModelVersion:
            return self.shelf.save(name, source, message=message, progress=self.progress)

        self._tasks.run(work, self._saved, self._failed, name="modelshelf-save")

    def _saved(self, version: ModelVersion) -> None:
        self.progress.finish(True)
        self.message.value = ""
        self.status.value = message_html(f"saved {version.ref} ({version.file_count} files)", "ok")
        self._busy(False)
        self._on_saved(version)

    def load(self) -> None:
        """Copy the selected version into the destination folder, in a thread."""
        ref = self._selected_ref()
        destination = self.destination.value.strip()
        if not ref or not destination:
            self.status.value = message_html("select a version and give a folder", "error")
            return
        self._busy(True)
        self.progress.start(f"loading {ref}")
        self.status.value = message_html(f"loading {ref} into {destination} ...", "busy")

        def work() -> str:
            return self.shelf.load(ref, destination, progress=self.progress)

        def loaded(path: str) -> None:
            self.progress.finish(True)
            self.status.value = message_html(f"loaded {ref} into {path}", "ok")
            self._busy(False)

        self._tasks.run(work, loaded, self._failed, name="modelshelf-load")

    def _failed(self, exc: BaseException) -> None:
        self.progress.finish(False)
        self.status.value = message_html(error_text(exc), "error")
        self._busy(False)
