/**
 * The main-area pages and how they open: one tab per model, per job and per deployment,
 * a second open bringing the existing tab forward. The plugin registers these as the
 * page openers (pageOpeners.ts) and adds the commands that open them.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { InputDialog, showErrorMessage } from '@jupyterlab/apputils';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { Widget } from '@lumino/widgets';

import { errorMessage, requestAPI } from './api';
import { DeploymentCard, deploymentCardId } from './deploymentCard';
import { openJobNotebook } from './jobActions';
import { JobPage, jobPageId } from './jobPage';
import { ModelPage, modelPageId } from './modelPage';
import { IPageOpeners } from './pageOpeners';
import { IJob, IModelPage } from './types';

function find<T extends Widget>(app: JupyterFrontEnd, id: string): T | null {
  for (const widget of app.shell.widgets('main')) {
    if (widget.id === id) {
      return widget as T;
    }
  }
  return null;
}

function show(app: JupyterFrontEnd, widget: Widget): void {
  if (!widget.isAttached) {
    app.shell.add(widget, 'main');
  }
  app.shell.activateById(widget.id);
}

/** The openers the plugin registers with `setPageOpeners`. */
export function pageOpeners(app: JupyterFrontEnd, docManager: IDocumentManager): IPageOpeners {
  return {
    model: (name, version) => {
      const open = find<ModelPage>(app, modelPageId(name));
      if (open) {
        open.select(version);
        show(app, open);
      } else {
        show(app, new ModelPage(name, version));
      }
    },
    job: id => show(app, find<JobPage>(app, jobPageId(id)) ?? new JobPage(id)),
    jobNotebook: id => {
      requestAPI<IJob>(`jobs/${encodeURIComponent(id)}`)
        .then(job => openJobNotebook(app, docManager, job))
        .catch(error =>
          showErrorMessage('Could not open the executed notebook', errorMessage(error))
        );
    },
    deployment: name =>
      show(app, find<DeploymentCard>(app, deploymentCardId(name)) ?? new DeploymentCard(name))
  };
}

/** "Open model page…": pick a model by name (the store's first 1000, sorted). */
export async function pickModel(): Promise<string | null> {
  let names: string[];
  try {
    names = (await requestAPI<IModelPage>('models', { query: { limit: '1000' } })).models.map(
      m => m.name
    );
  } catch (error) {
    await showErrorMessage('Could not list the models', errorMessage(error));
    return null;
  }
  if (names.length === 0) {
    await showErrorMessage('No models yet', 'Save one first ("Save /opt/ml/models as model…").');
    return null;
  }
  const answer = await InputDialog.getItem({
    title: 'Open model page',
    items: names,
    editable: true
  });
  return answer.button.accept && answer.value ? answer.value : null;
}
