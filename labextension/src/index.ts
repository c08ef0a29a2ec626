/**
 * modelshelf's JupyterLab plugin: the "Models" sidebar and the commands that save
 * models and run notebooks as jobs. Everything goes through the server extension's
 * REST API (see api.ts); nothing here touches the store directly.
 */
import {
  ILabShell,
  ILayoutRestorer,
  JupyterFrontEnd,
  JupyterFrontEndPlugin
} from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { IMainMenu } from '@jupyterlab/mainmenu';

import { registerCommands } from './commands';
import { openJobLogs, openJobNotebook } from './jobActions';
import { resumeJobNotifications } from './jobNotifier';
import { enableModelPageUploads } from './modelPageUpload';
import { setPageOpeners } from './pageOpeners';
import { pageOpeners } from './pages';
import { ModelshelfSidebar } from './sidebar';

/** Below the file browser, running sessions and the table of contents. */
const SIDEBAR_RANK = 650;

const plugin: JupyterFrontEndPlugin<void> = {
  id: 'modelshelf:plugin',
  description: 'Models, jobs and deployments of modelshelf in a left sidebar.',
  autoStart: true,
  requires: [IDocumentManager],
  optional: [ILabShell, ILayoutRestorer, ICommandPalette, IMainMenu, IDefaultFileBrowser],
  activate: (
    app: JupyterFrontEnd,
    docManager: IDocumentManager,
    labShell: ILabShell | null,
    restorer: ILayoutRestorer | null,
    palette: ICommandPalette | null,
    mainMenu: IMainMenu | null,
    fileBrowser: IDefaultFileBrowser | null
  ) => {
    // Model, job and deployment pages open in the main area from anywhere.
    setPageOpeners(pageOpeners(app, docManager));
    resumeJobNotifications();
    enableModelPageUploads();
    const sidebar = new ModelshelfSidebar({
      openNotebook: job => openJobNotebook(app, docManager, job),
      openLogs: job => openJobLogs(app, job)
    });
    app.shell.add(sidebar, 'left', { rank: SIDEBAR_RANK });
    // Reopen the sidebar on reload if it was open.
    restorer?.add(sidebar, sidebar.id);
    registerCommands({ app, docManager, sidebar, labShell, palette, mainMenu, fileBrowser });
  }
};

export default plugin;
