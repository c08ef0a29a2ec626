/**
 * Following a server task (a save or a deployment) to its end: its progress goes to a
 * JupyterLab notification that updates in place; a failure becomes an error dialog.
 */
import { Notification, showErrorMessage } from '@jupyterlab/apputils';

import { errorMessage, requestAPI } from './api';
import { formatBytes } from './format';
import { ITask, ITaskProgress } from './types';

const TASK_POLL_MS = 500;

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

/** "hashing: 3/10 files, 1.2 MB of 4.0 MB" from whatever the progress carries. */
export function describeProgress(progress?: ITaskProgress | null): string {
  if (!progress) {
    return '';
  }
  const parts: string[] = [];
  if (progress.total_files) {
    parts.push(`${progress.done_files ?? 0}/${progress.total_files} files`);
  }
  if (progress.total_bytes) {
    parts.push(`${formatBytes(progress.done_bytes ?? 0)} of ${formatBytes(progress.total_bytes)}`);
  }
  const detail = parts.join(', ');
  return progress.phase ? `${progress.phase}${detail ? `: ${detail}` : ''}` : detail;
}

/**
 * Poll `GET /tasks/{id}` until the task ends.
 *
 * @returns the succeeded task, or null when it failed (the user has been told why).
 */
export async function followTask(
  task: ITask,
  title: string,
  success: (task: ITask) => string = () => `${title}: done`
): Promise<ITask | null> {
  const id = Notification.emit(`${title}…`, 'in-progress', { autoClose: false });
  let current = task;
  try {
    while (current.status === 'running') {
      await sleep(TASK_POLL_MS);
      current = await requestAPI<ITask>(`tasks/${encodeURIComponent(task.id)}`);
      const progress = describeProgress(current.progress);
      Notification.update({ id, message: `${title}… ${progress}`, type: 'in-progress' });
    }
  } catch (error) {
    Notification.dismiss(id);
    await showErrorMessage(`${title}: lost track of the task`, errorMessage(error));
    return null;
  }
  if (current.status === 'failed') {
    Notification.dismiss(id);
    await showErrorMessage(`${title} failed`, current.error ?? 'The server gave no reason.');
    return null;
  }
  Notification.update({ id, message: success(current), type: 'success', autoClose: 5000 });
  return current;
}
