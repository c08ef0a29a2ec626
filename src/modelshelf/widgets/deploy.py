"""The Deployments panel: deploy a version, watch it, send it a test payload, stop it."""

from __future__ import annotations

import json
import re
from typing import Any

import ipywidgets as w

from modelshelf.core.deploy.deployment import Deployment
from modelshelf.core.deploy.deployment_book import MODES, READY
from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.errors import ModelshelfError
from modelshelf.widgets._common import message_html, pre_html
from modelshelf.widgets.listing import ListingPanel

_WIDE = w.Layout(width="32em")
_STYLE = {"description_width": "8em"}
_EXAMPLE = '{"instances": [[1.0]]}'


def answer_text(answer: Any) -> str:
    """An answer as the panel shows it: JSON indented, text as is, bytes described."""
    if isinstance(answer, bytes):
        return f"{len(answer)} bytes: {answer[:200]!r}"
    if isinstance(answer, str):
        return answer
    return json.dumps(answer, indent=1, default=str)


class DeployPanel(ListingPanel[Deployment]):
    """Deploy models from the store and try them.

    Parameters
    ----------
    deployments:
        The deployment manager; one on a default :class:`Shelf` if None.
    auto_refresh:
        Re-read the deployments every ``interval`` seconds in a background thread
        (``close()`` stops it); tests pass False and call :meth:`refresh`.
    """

    noun = "deployment"

    def __init__(
        self,
        deployments: DeploymentManager | None = None,
        *,
        auto_refresh: bool = True,
        interval: float = 2.0,
    ) -> None:
        owned = deployments is None
        self.deployments = deployments if deployments is not None else DeploymentManager()

        self.ref = w.Combobox(
            description="Model",
            placeholder="name, name:3 or name@alias (several for multi)",
            ensure_option=False,
            style=_STYLE,
            layout=_WIDE,
        )
        self.mode = w.Dropdown(
            options=list(MODES), value="realtime", description="Mode", style=_STYLE
        )
        self.workers = w.BoundedIntText(
            value=1, min=1, max=256, description="Workers", style=_STYLE
        )
        self.name = w.Text(
            description="Name",
            placeholder="default: the model's name",
            style=_STYLE,
            layout=_WIDE,
        )
        self.deploy_button = w.Button(description="Deploy", icon="rocket", button_style="primary")
        self.deploy_status = w.HTML("")
        self.deployment_list = w.Select(
            options=[], rows=6, description="Deployed", style=_STYLE, layout=w.Layout(width="48em")
        )
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.stop_button = w.Button(description="Stop", icon="stop", button_style="danger")
        self.listing = self.deployment_list
        self.status = w.HTML("")
        self.details = w.HTML("")
        self.payload = w.Textarea(
            value=_EXAMPLE,
            description="Payload",
            placeholder="JSON",
            style=_STYLE,
            layout=w.Layout(width="48em", height="6em"),
        )
        self.target = w.Text(
            description="Target model",
            placeholder="multi-model endpoints only",
            style=_STYLE,
            layout=_WIDE,
        )
        self.send_button = w.Button(description="Send", icon="paper-plane")
        self.answer = w.HTML("")

        super().__init__()
        self.children = [
            w.HTML("<b>Deploy a model</b>"),
            self.ref,
            w.HBox([self.mode, self.workers]),
            self.name,
            self.deploy_button,
            self.deploy_status,
            w.HTML("<b>Deployments</b>"),
            self.deployment_list,
            w.HBox([self.refresh_button, self.stop_button]),
            self.status,
            self.details,
            w.HTML("<b>Try the selected deployment</b>"),
            self.payload,
            self.target,
            self.send_button,
            self.answer,
        ]
        if owned:
            self._owned += [self.deployments, self.deployments.shelf]

        self.deploy_button.on_click(lambda _: self.deploy())
        self.refresh_button.on_click(lambda _: self.refresh())
        self.stop_button.on_click(lambda _: self.stop())
        self.send_button.on_click(lambda _: self.send())
        self.deployment_list.observe(self._on_selected, names="value")
        self._offer_models()
        self.refresh()
        self._start_polling(auto_refresh, interval)

    def _offer_models(self) -> None:
        try:
            self.ref.options = [s.name for s in self.deployments.shelf.list()]
        except ModelshelfError:
            self.ref.options = []

    def _items(self) -> list[Deployment]:
        return self.deployments.list(include_stopped=True)

    def _key(self, deployment: Deployment) -> str:
        return deployment.name

    # ---- deploying -----------------------------------------------------------------------

    def deploy(self) -> None:
        """Deploy the form's model(s) in a thread; the outcome is shown when it is ready."""
        refs = [r for r in re.split(r"[,\s]+", self.ref.value) if r]
        if not refs:
            self.deploy_status.value = message_html("give a model to deploy", "error")
            return
        mode, name = self.mode.value, self.name.value.strip() or None
        workers = self.workers.value
        target: str | list[str] = refs if mode == "multi" else refs[0]
        if mode != "multi" and len(refs) > 1:
            self.deploy_status.value = message_html(
                f"a {mode} deployment serves one model; use mode multi for several", "error"
            )
            return
        self.run_task(
            self.deploy_button,
            self.deploy_status,
            f"deploying {', '.join(refs)} ...",
            lambda: self.deployments.deploy(target, mode, name=name, workers=workers),
            self._deployed,
            name="modelshelf-deploy",
        )

    def _deployed(self, deployment: Deployment) -> None:
        if deployment.status == READY:
            text, kind = f"{deployment.name} is ready at {deployment.url}", "ok"
        else:
            text = f"{deployment.name} is {deployment.status}: {deployment.error or '?'}"
            kind = "error"
        self.deploy_status.value = message_html(text, kind)
        self.deployment_list.value = deployment.name

    # ---- watching ------------------------------------------------------------------------

    def _details(self, deployment: Deployment) -> str:
        return deployment.card().html()

    def _on_selected(self, change: dict[str, Any]) -> None:
        if not self.is_quiet:
            self.answer.value = ""
            self.refresh()

    # ---- trying and stopping -------------------------------------------------------------

    def send(self) -> None:
        """Send the payload to the selected deployment in a thread; show its answer."""
        name = self.selected()
        if name is None:
            self.answer.value = message_html("select a deployment", "error")
            return
        try:
            payload = json.loads(self.payload.value)
        except ValueError as exc:
            self.answer.value = message_html(f"the payload is not JSON: {exc}", "error")
            return
        model = self.target.value.strip() or None
        self.run_task(
            self.send_button,
            self.answer,
            f"sending to {name} ...",
            lambda: self.deployments.invoke(name, payload, model=model),
            lambda answer: setattr(self.answer, "value", pre_html(answer_text(answer))),
            name="modelshelf-invoke",
        )

    def stop(self) -> None:
        """Stop the selected deployment (every server process), in a thread."""
        self.act_on_selected(
            "stop",
            self.stop_button,
            "stopping {key} ...",
            self.deployments.stop,
            lambda deployment: f"{deployment.name} is {deployment.status}",
        )
