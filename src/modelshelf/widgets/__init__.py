"""Jupyter widgets over the core: browse models, launch jobs, deploy, in one tabbed panel.

>>> from modelshelf.widgets import shelf_panels
>>> shelf_panels()          # Models, Jobs and Deployments tabs on the default store

The widgets import the core, never the other way round; they read and change the store
only through :class:`~modelshelf.core.store.Shelf`, the job and the deployment managers.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from modelshelf.core.deploy.manager import DeploymentManager
from modelshelf.core.jobs.manager import JobManager
from modelshelf.core.store import Shelf
from modelshelf.widgets._common import Panel, close_owned
from modelshelf.widgets.browser import ModelBrowser
from modelshelf.widgets.deploy import DeployPanel
from modelshelf.widgets.jobs import JobPanel

__all__ = ["DeployPanel", "JobPanel", "ModelBrowser", "ShelfPanels", "shelf_panels"]

TITLES = ("Models", "Jobs", "Deployments")


class ShelfPanels(w.Tab):
    """The three panels as tabs; ``close()`` stops their refresh and closes what they opened."""

    def __init__(self, browser: ModelBrowser, jobs: JobPanel, deploy: DeployPanel) -> None:
        super().__init__(children=[browser, jobs, deploy], titles=TITLES)
        self.browser = browser
        self.jobs = jobs
        self.deploy = deploy
        self._owned: list[Any] = []

    @property
    def panels(self) -> list[Panel]:
        return [self.browser, self.jobs, self.deploy]

    def refresh(self) -> None:
        """Re-read the core in every panel."""
        for panel in self.panels:
            panel.refresh()

    def close(self) -> None:
        for panel in self.panels:
            panel.close()
        super().close()
        close_owned(self._owned)


def shelf_panels(
    shelf: Shelf | None = None,
    jobs: JobManager | None = None,
    deployments: DeploymentManager | None = None,
    *,
    auto_refresh: bool = True,
) -> w.Tab:
    """Models, Jobs and Deployments panels in tabs, all on one store.

    Missing pieces are made from what is given: the store of ``jobs`` or ``deployments``
    if no ``shelf`` is, a default :class:`Shelf` if none is; managers on that store.
    """
    owned: list[Any] = []
    if shelf is None:
        given = jobs if jobs is not None else deployments
        shelf = given.shelf if given is not None else Shelf()
        if given is None:
            owned.append(shelf)
    if jobs is None:
        jobs = JobManager(shelf)
        owned.append(jobs)
    if deployments is None:
        deployments = DeploymentManager(shelf)
        owned.append(deployments)
    tabs = ShelfPanels(
        ModelBrowser(shelf, auto_refresh=auto_refresh),
        JobPanel(jobs, auto_refresh=auto_refresh),
        DeployPanel(deployments, auto_refresh=auto_refresh),
    )
    # Closed last, after the panels: the shelf outlives the managers built on it.
    tabs._owned = owned[::-1]
    return tabs
