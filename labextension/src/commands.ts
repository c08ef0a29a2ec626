/**
 * The commands of modelshelf and where they appear: the command palette (category
 * "modelshelf"), a "Models" main menu, the notebook toolbar and the file browser's
 * context menu on notebooks.
 */
import { ILabShell, JupyterFrontEnd } from '@jupyterlab/application';
import { ICommandPalette } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { DocumentRegistry, DocumentWidget } from '@jupyterlab/docregistry';
import { IDefaultFileBrowser } from '@jupyterlab/filebrowser';
import { IMainMenu } from '@jupyterlab/mainmenu';
import { RankedMenu, ToolbarButton } from '@jupyterlab/ui-components';
import { ReadonlyPartialJSONObject } from '@lumino/coreutils';
import { IDisposable } from '@lumino/disposable';

import { shelfIcon } from './icons';
import { openModelPage } from './pageOpeners';
import { pickModel } from './pages';
import { runNotebookAsJob } from './runJob';
import { saveAsModel } from './saveModel';
import { ModelshelfSidebar } from './sidebar';
import { pickAndUpload } from './uploadDrop';

export namespace CommandIDs {
  export const showSidebar = 'modelshelf:show-sidebar';
  export const saveModels = 'modelshelf:save-models-folder';
  export const saveOutput = 'modelshelf:save-output-folder';
  export const uploadFiles = 'modelshelf:upload-files';
  export const uploadFolder = 'modelshelf:upload-folder';
  export const runNotebook = 'modelshelf:run-notebook';
  export const refresh = 'modelshelf:refresh';
  export const openModelPage = 'modelshelf:open-model-page';
}

/** The folders the two save commands offer (what a notebook wrote, as on SageMaker). */
const MODELS_FOLDER = '/opt/ml/models';
const OUTPUT_FOLDER = '/opt/ml/output';

const PALETTE_CATEGORY = 'modelshelf';

export interface ICommandContext {
  app: JupyterFrontEnd;
  docManager: IDocumentManager;
  sidebar: ModelshelfSidebar;
  labShell: ILabShell | null;
  palette: ICommandPalette | null;
  mainMenu: IMainMenu | null;
  fileBrowser: IDefaultFileBrowser | null;
}

/**
 * The contents path of the notebook a "Run notebook as job…" means: an explicit `path`
 * argument, the file browser's selection (from its context menu), or the current
 * notebook in the main area.
 */
function notebookPath(ctx: ICommandContext, args: ReadonlyPartialJSONObject): string | null {
  const contents = ctx.app.serviceManager.contents;
  if (typeof args['path'] === 'string' && args['path']) {
    return contents.localPath(args['path']);
  }
  if (args['fromBrowser'] && ctx.fileBrowser) {
    for (const item of ctx.fileBrowser.selectedItems()) {
      return item.type === 'notebook' ? contents.localPath(item.path) : null;
    }
    return null;
  }
  const current = ctx.labShell?.currentWidget ?? ctx.app.shell.currentWidget;
  const context = current ? ctx.docManager.contextForWidget(current) : undefined;
  if (context && context.path.endsWith('.ipynb')) {
    return contents.localPath(context.path);
  }
  return null;
}

function addCommands(ctx: ICommandContext): void {
  const { app, sidebar } = ctx;
  app.commands.addCommand(CommandIDs.showSidebar, {
    label: 'Show Models Sidebar',
    icon: shelfIcon,
    execute: () => app.shell.activateById(sidebar.id)
  });
  app.commands.addCommand(CommandIDs.openModelPage, {
    label: args => (args['name'] ? `Open page of ${args['name']}` : 'Open model page…'),
    caption: "A model's versions, metrics, comparisons, lineage and files in the main area",
    execute: async args => {
      const name = typeof args['name'] === 'string' ? args['name'] : await pickModel();
      if (name) {
        openModelPage(name, typeof args['version'] === 'number' ? args['version'] : undefined);
      }
    }
  });
  app.commands.addCommand(CommandIDs.refresh, {
    label: 'Refresh Models, Jobs and Deployments',
    execute: () => sidebar.refreshAll()
  });
  for (const [id, folder] of [
    [CommandIDs.saveModels, MODELS_FOLDER],
    [CommandIDs.saveOutput, OUTPUT_FOLDER]
  ]) {
    app.commands.addCommand(id, {
      label: `Save ${folder} as model…`,
      caption: `Save every file under ${folder} on the server as the next version of a model`,
      execute: () => saveAsModel(folder, () => void sidebar.models.refresh())
    });
  }
  for (const [id, folder] of [
    [CommandIDs.uploadFiles, false],
    [CommandIDs.uploadFolder, true]
  ] as const) {
    const what = folder ? 'a folder' : 'files or an archive';
    app.commands.addCommand(id, {
      label: `Upload ${what} from this computer as model…`,
      caption: `Upload ${what} from the computer running this browser as the next version of a model`,
      // Synchronous: the browser opens its file dialog only within the click.
      execute: () => pickAndUpload(folder, null, () => void sidebar.models.refresh())
    });
  }
  app.commands.addCommand(CommandIDs.runNotebook, {
    label: 'Run notebook as job…',
    caption: 'Run a notebook on the server with new parameters; its output becomes a model',
    icon: args => (args['toolbar'] ? shelfIcon : undefined),
    isEnabled: args => notebookPath(ctx, args) !== null,
    execute: async args => {
      const path = notebookPath(ctx, args);
      if (path === null) {
        return;
      }
      const job = await runNotebookAsJob(path);
      if (job) {
        // Show the job where its status will move.
        app.shell.activateById(sidebar.id);
        sidebar.jobs.refreshSoon();
      }
    }
  });
}

/** A "Run notebook as job…" button on every notebook's toolbar. */
class RunJobButtonExtension implements DocumentRegistry.WidgetExtension {
  constructor(private readonly _app: JupyterFrontEnd) {}

  createNew(panel: DocumentWidget, context: DocumentRegistry.Context): IDisposable {
    const button = new ToolbarButton({
      icon: shelfIcon,
      tooltip: 'Run notebook as job…',
      onClick: () =>
        void this._app.commands.execute(CommandIDs.runNotebook, { path: context.path }),
      dataset: { testid: 'modelshelf-run-job-button' }
    });
    // Next to the cell type picker; at the end if the user's toolbar has none.
    if (!panel.toolbar.insertAfter('cellType', 'modelshelf-run-job', button)) {
      panel.toolbar.addItem('modelshelf-run-job', button);
    }
    return button;
  }
}

export function registerCommands(ctx: ICommandContext): void {
  const { app, palette, mainMenu } = ctx;
  addCommands(ctx);

  const paletteCommands = [
    CommandIDs.saveModels,
    CommandIDs.saveOutput,
    CommandIDs.uploadFiles,
    CommandIDs.uploadFolder,
    CommandIDs.runNotebook,
    CommandIDs.openModelPage,
    CommandIDs.showSidebar,
    CommandIDs.refresh
  ];
  for (const command of paletteCommands) {
    palette?.addItem({ command, category: PALETTE_CATEGORY });
  }

  if (mainMenu) {
    const menu = new RankedMenu({ commands: app.commands });
    menu.id = 'modelshelf-main-menu';
    menu.title.label = 'Models';
    for (const command of paletteCommands) {
      menu.addItem({ command });
    }
    mainMenu.addMenu(menu, true, { rank: 850 });
  }

  app.contextMenu.addItem({
    command: CommandIDs.runNotebook,
    selector: '.jp-DirListing-item[data-file-type="notebook"]',
    rank: 4,
    args: { fromBrowser: true }
  });

  app.docRegistry.addWidgetExtension('Notebook', new RunJobButtonExtension(app));
}
