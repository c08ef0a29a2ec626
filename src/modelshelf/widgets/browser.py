"""The Models panel: browse models and versions, see one version, diff two, delete, save."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from modelshelf.core.errors import ModelshelfError
from modelshelf.core.store import ModelSummary, ModelVersion, Shelf
from modelshelf.widgets._common import Panel, error_text, message_html, set_options
from modelshelf.widgets.render import diff_html, version_html
from modelshelf.widgets.transfer import TransferForms


@dataclass
class _State:
    """What one refresh read from the core, for the model selected when it started."""

    models: list[ModelSummary]
    name: str | None
    versions: list[ModelVersion]
    version: int | None
    details: str


def _model_label(summary: ModelSummary) -> str:
    count = f"{summary.versions} version{'s' if summary.versions != 1 else ''}"
    return f"{summary.name} (v{summary.latest}, {count})"


def _version_label(version: ModelVersion) -> str:
    message = f" {version.message}" if version.message else ""
    label = f"v{version.version}  {version.created_at[:19].replace('T', ' ')}{message}"
    return label if len(label) <= 60 else label[:59] + "…"


class ModelBrowser(Panel):
    """Models and versions of a store, with details, diff, delete, save and load.

    Parameters
    ----------
    shelf:
        The store to browse; a default :class:`Shelf` (``MODELSHELF_ROOT``) if None.
    auto_refresh:
        Re-read the store every ``interval`` seconds in a background thread (``close()``
        stops it); tests pass False and call :meth:`refresh`.
    """

    def __init__(
        self, shelf: Shelf | None = None, *, auto_refresh: bool = True, interval: float = 5.0
    ) -> None:
        owned = shelf is None
        self.shelf = shelf if shelf is not None else Shelf()
        # Manifests never change: versions are re-read only when a model's listing did.
        self._versions_cache: dict[str, tuple[tuple[int, int], list[ModelVersion]]] = {}
        self._pending_delete: str | None = None

        self.models = w.Select(options=[], rows=12, description="Models")
        self.versions = w.Select(options=[], rows=12, description="Versions")
        self.details = w.HTML("")
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.compare = w.Dropdown(options=[], description="Compare")
        self.diff_button = w.Button(description="Diff", icon="columns")
        self.delete_button = w.Button(description="Delete", icon="trash", button_style="danger")
        self.confirm_text = w.HTML("")
        self.confirm_button = w.Button(description="Yes, delete", button_style="danger")
        self.cancel_button = w.Button(description="Cancel")
        self.confirm_box = w.HBox([self.confirm_text, self.confirm_button, self.cancel_button])
        self.confirm_box.layout.display = "none"
        self.diff = w.HTML("")
        self.status = w.HTML("")

        super().__init__()
        self.transfer = TransferForms(self.shelf, self.tasks, self.selected_ref, self._saved)
        self.children = [
            w.HBox([self.models, self.versions]),
            w.HBox([self.refresh_button, self.compare, self.diff_button, self.delete_button]),
            self.confirm_box,
            self.status,
            self.details,
            self.diff,
            self.transfer.widget,
        ]
        if owned:
            self._owned.append(self.shelf)

        self.models.observe(self._on_model, names="value")
        self.versions.observe(self._on_version, names="value")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.diff_button.on_click(lambda _: self.show_diff())
        self.delete_button.on_click(lambda _: self.ask_delete())
        self.confirm_button.on_click(lambda _: self.confirm_delete())
        self.cancel_button.on_click(lambda _: self.cancel_delete())
        self.refresh()
        if self.models.value is None and self.models.options:
            self.select(self.models.options[0][1])  # something to look at from the start
        # Started last: the first refresh above already drew the panel.
        self._start_polling(auto_refresh, interval)

    # ---- selection ---------------------------------------------------------------------

    def selected_ref(self) -> str | None:
        """``name:version`` of the selected version, or None."""
        if self.models.value is None or self.versions.value is None:
            return None
        return f"{self.models.value}:{self.versions.value}"

    def select(self, name: str, version: int | None = None) -> None:
        """Select a model (and a version of it; its newest by default)."""
        self.models.value = name  # its observer loads the versions
        if version is not None:
            self.versions.value = version

    def _versions_of(self, name: str, summary: ModelSummary | None) -> list[ModelVersion]:
        key = (summary.latest, summary.versions) if summary else None
        cached = self._versions_cache.get(name)
        if cached is not None and key is not None and cached[0] == key:
            return cached[1]
        versions = self.shelf.versions(name)
        if key is not None:
            self._versions_cache[name] = (key, versions)
        return versions

    def _details(self, name: str, version: int) -> str:
        """The version's view, with the aliases and leases that would stop a delete."""
        manifest = self.shelf.show(f"{name}:{version}")
        aliases = [a for a, v in self.shelf.aliases.of_model(name).items() if v == version]
        holders = [lease.owner for lease in self.shelf.leases.live(name, version)]
        return version_html(manifest, aliases, holders)

    def _on_model(self, change: dict[str, Any]) -> None:
        if not self.is_quiet:
            self._show_model(change["new"], None)

    def _on_version(self, change: dict[str, Any]) -> None:
        if not self.is_quiet:
            self._show_version()

    def _show_model(self, name: str | None, version: int | None) -> None:
        """Draw the versions of ``name`` and select ``version`` (default: the newest)."""
        versions: list[ModelVersion] = []
        if name is not None:
            try:
                versions = self.shelf.versions(name)
            except ModelshelfError as exc:
                self.status.value = message_html(error_text(exc), "error")
        with self._view_lock, self.quiet():
            newest_first = sorted(versions, key=lambda v: -v.version)
            set_options(self.versions, [(_version_label(v), v.version) for v in newest_first])
            numbers = [v.version for v in newest_first]
            self.versions.value = version if version in numbers else (numbers or [None])[0]
            if name is not None:
                self.transfer.suggest_name(name)
        self._show_version()

    def _show_version(self) -> None:
        self.diff.value = ""
        self.cancel_delete()
        name, version = self.models.value, self.versions.value
        if name is None or version is None:
            self.details.value = ""
            self._update_compare()
            return
        try:
            details = self._details(name, version)
        except ModelshelfError as exc:
            details = message_html(error_text(exc), "error")
        with self._view_lock:
            self.details.value = details
            self._update_compare()

    def _update_compare(self) -> None:
        """Offer the model's other versions to diff against; default to the one before."""
        current = self.versions.value
        others = [(label, v) for label, v in self.versions.options if v != current]
        with self.quiet():
            set_options(self.compare, others)
            values = [v for _, v in others]
            if self.compare.value not in values or self.compare.value is None:
                older = [v for v in values if current is not None and v < current]
                self.compare.value = older[0] if older else (values[0] if values else None)

    # ---- refresh -----------------------------------------------------------------------

    def _read(self) -> _State:
        models = self.shelf.list()
        name, version = self.models.value, self.versions.value
        summary = next((s for s in models if s.name == name), None)
        versions: list[ModelVersion] = []
        details = ""
        if summary is not None:
            versions = self._versions_of(summary.name, summary)
            if version in {v.version for v in versions}:
                details = self._details(summary.name, version)
        return _State(models, name if summary else None, versions, version, details)

    def _show(self, state: _State) -> None:
        set_options(self.models, [(_model_label(s), s.name) for s in state.models])
        if self.models.value != state.name:
            # The selected model is gone, or the user picked another one meanwhile.
            self._show_model(self.models.value, None)
            return
        newest_first = sorted(state.versions, key=lambda v: -v.version)
        moved = set_options(self.versions, [(_version_label(v), v.version) for v in newest_first])
        if moved:
            self._show_version()
        elif state.details and self.versions.value == state.version:
            # Only if the user did not pick another version while the core was read.
            self.details.value = state.details
            self._update_compare()

    def _refresh_failed(self, exc: BaseException) -> None:
        self.status.value = message_html(f"cannot read the store: {error_text(exc)}", "error")

    # ---- diff and delete ---------------------------------------------------------------

    def show_diff(self) -> None:
        """Diff the version chosen in *Compare* against the selected one."""
        ref = self.selected_ref()
        if ref is None or self.compare.value is None:
            self.diff.value = message_html("select a version and one to compare it with", "error")
            return
        try:
            diff = self.shelf.diff(f"{self.models.value}:{self.compare.value}", ref)
        except ModelshelfError as exc:
            self.diff.value = message_html(error_text(exc), "error")
            return
        self.diff.value = diff_html(diff)

    def ask_delete(self) -> None:
        """First step of a delete: show what would be deleted and wait for confirmation."""
        ref = self.selected_ref()
        if ref is None:
            self.status.value = message_html("select a version to delete", "error")
            return
        self._pending_delete = ref
        self.confirm_text.value = message_html(f"Delete {ref}? This cannot be undone.", "error")
        self.confirm_box.layout.display = None

    def cancel_delete(self) -> None:
        self._pending_delete = None
        self.confirm_box.layout.display = "none"

    def confirm_delete(self) -> None:
        """Delete the version asked about; a lease or alias holding it is shown as the refusal."""
        ref = self._pending_delete
        self.cancel_delete()
        if ref is None:
            return
        try:
            deleted = self.shelf.delete(ref)
        except ModelshelfError as exc:
            self.status.value = message_html(f"not deleted: {error_text(exc)}", "error")
            return
        self.status.value = message_html(f"deleted {deleted.ref}", "ok")
        self.refresh()

    # ---- saving --------------------------------------------------------------------------

    def _saved(self, version: ModelVersion) -> None:
        """After a save (in the save's thread): redraw and select the new version."""
        self.refresh()
        self.select(version.name, version.version)
