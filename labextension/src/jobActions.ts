/**
 * What the Jobs section's "Open notebook" and "Logs" buttons do in the app: copy the
 * executed notebook into the server's contents (so it opens like any notebook) and open
 * a log panel in the main area.
 */
import { JupyterFrontEnd } from '@jupyterlab/application';
import { IDocumentManager } from '@jupyterlab/docmanager';
import { Contents } from '@jupyterlab/services';

import { requestAPI } from './api';
import { JobLogsPanel } from './logs';
import { IJob } from './types';

/** Where executed notebooks are copied, at the top of the server's root. */
export const JOBS_FOLDER = 'modelshelf-jobs';

async function ensureFolder(contents: Contents.IManager, path: string): Promise<void> {
  try {
    await contents.get(path, { content: false });
  } catch {
    // Missing: a PUT of a directory model creates it.
    await contents.save(path, { type: 'directory' });
  }
}

/** A file name from a job's name: letters, digits, `._-` only. */
function safeName(name: string): string {
  return name.replace(/[^\w.-]+/g, '_').replace(/^_+|_+$/g, '') || 'job';
}

export async function openJobNotebook(
  app: JupyterFrontEnd,
  docManager: IDocumentManager,
  job: IJob
): Promise<void> {
  const notebook = await requestAPI<object>(`jobs/${encodeURIComponent(job.id)}/notebook`);
  const contents = app.serviceManager.contents;
  await ensureFolder(contents, JOBS_FOLDER);
  const path = `${JOBS_FOLDER}/${safeName(job.name)}-${safeName(job.id)}.ipynb`;
  await contents.save(path, { type: 'notebook', format: 'json', content: notebook });
  docManager.openOrReveal(path);
}

export function openJobLogs(app: JupyterFrontEnd, job: IJob): void {
  // One log panel per job: a second click brings the open one forward.
  for (const widget of app.shell.widgets('main')) {
    if (widget instanceof JobLogsPanel && widget.job.id === job.id) {
      app.shell.activateById(widget.id);
      return;
    }
  }
  const panel = new JobLogsPanel(job);
  app.shell.add(panel, 'main', { mode: 'split-right' });
  app.shell.activateById(panel.id);
}
