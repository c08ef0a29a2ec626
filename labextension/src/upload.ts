/**
 * Uploading files from this computer (the browser's) as the next version of a model.
 *
 * The server extension's `/uploads` routes work like the resumable uploads people know
 * (tus, S3 multipart): announce the files and their sizes (refused at once when over the
 * store's limit or when a name is unsafe), send each file in chunks of the size the server
 * asks for (a chunk lost on the way is resent from where the server says it is), then
 * commit: the save becomes a task whose result is the new version. A
 * notification shows the progress and has a Cancel button, which aborts the chunk in
 * flight and deletes the upload on the server, so nothing of it is kept.
 */
import { Dialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { ServerConnection } from '@jupyterlab/services';
import { Widget } from '@lumino/widgets';

import { apiURL, APIError, errorMessage, requestAPI } from './api';
import { formatBytes } from './format';
import { input, note, row } from './forms';
import { followTask } from './tasks';
import { IModelVersion, ITask } from './types';

/** One file to send: its path inside the model and the browser's `File`. */
export interface IUploadItem {
  path: string;
  file: File;
}

/** What `POST /uploads` and `GET /uploads/{id}` answer. */
interface IUploadStatus {
  id: string;
  name: string;
  status: 'receiving' | 'committing' | 'cancelled';
  chunk_size: number;
  files: { index: number; path: string; size: number; received: number }[];
  total_size: number;
  received: number;
}

/** The version's name and notes, as the user confirmed them. */
export interface IUploadValues {
  name: string;
  message: string;
  tags: string;
}

/** Notification updates at most this often: a toast re-rendered per chunk would flicker. */
const PROGRESS_EVERY_MS = 200;
/** A chunk lost on the way (the network, a server restart) is resent this often at most. */
const CHUNK_RETRIES = 3;

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

/** A model name from a file or folder name: the rule's characters only, no extension. */
export function suggestName(items: IUploadItem[]): string {
  const first = items[0]?.path ?? '';
  const top = first.includes('/') ? first.split('/')[0] : first.replace(/(\.tar)?\.[^.]+$/, '');
  const cleaned = top
    .replace(/[^A-Za-z0-9 ._-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .replace(/[ .]+$/, '');
  return cleaned.slice(0, 128);
}

/** "model.bin" or "3 files (model.bin, sub/config.json, …)", with the total size. */
export function describeItems(items: IUploadItem[]): string {
  const total = items.reduce((sum, item) => sum + item.file.size, 0);
  const names = items.slice(0, 3).map(item => item.path);
  const list =
    items.length === 1
      ? names[0]
      : `${items.length} files (${names.join(', ')}${items.length > 3 ? ', …' : ''})`;
  return `${list}, ${formatBytes(total)}`;
}

/** The form: what is uploaded, the model's name, a message and tags. */
class UploadForm extends Widget {
  constructor(items: IUploadItem[], values: IUploadValues) {
    super();
    this.addClass('jp-modelshelf-form');
    this.node.dataset.testid = 'modelshelf-upload-form';
    this._name = input('modelshelf-upload-name', { value: values.name, placeholder: 'model name' });
    this._message = input('modelshelf-upload-message', {
      value: values.message,
      placeholder: 'what changed (optional)'
    });
    this._tags = input('modelshelf-upload-tags', { value: values.tags, placeholder: 'baseline' });
    const archive =
      items.length === 1 && /\.(zip|tar|tgz|tbz2?|txz|gz|bz2|xz)$/i.test(items[0].path)
        ? ' An archive is extracted on the server (safely) and its files stored.'
        : '';
    this.node.append(
      note(`Upload ${describeItems(items)} from this computer as the next version.${archive}`),
      row('Model name', this._name, 'Uploading under an existing name adds a version.'),
      row('Message', this._message),
      row('Tags', this._tags, 'Comma-separated.')
    );
  }

  getValue(): IUploadValues {
    return {
      name: this._name.value.trim(),
      message: this._message.value.trim(),
      tags: this._tags.value
    };
  }

  private _name: HTMLInputElement;
  private _message: HTMLInputElement;
  private _tags: HTMLInputElement;
}

/** Ask for the name (pre-filled) and notes; null when the user cancels. */
export async function askUploadValues(
  items: IUploadItem[],
  name: string | null
): Promise<IUploadValues | null> {
  let values: IUploadValues = { name: name ?? suggestName(items), message: '', tags: '' };
  for (;;) {
    const result = await showDialog({
      title: 'Upload as a model',
      body: new UploadForm(items, values),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Upload' })],
      focusNodeSelector: '[data-testid="modelshelf-upload-name"]'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    values = result.value;
    if (values.name) {
      return values;
    }
    await showErrorMessage('Missing a value', 'Type the name of the model.');
  }
}

/** `PUT` one chunk as raw bytes; the `APIError` carries the server's message. */
async function putChunk(route: string, offset: number, chunk: Blob, signal: AbortSignal) {
  const settings = ServerConnection.makeSettings();
  const url = apiURL(route, { offset: String(offset) }, settings);
  const init: RequestInit = {
    method: 'PUT',
    body: chunk,
    signal,
    headers: { 'Content-Type': 'application/octet-stream' }
  };
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    if (signal.aborted) {
      throw error;
    }
    throw new APIError(`The chunk did not reach the server: ${String(error)}`, 0);
  }
  if (!response.ok) {
    let message = `${response.status} ${response.statusText} from ${route}`;
    try {
      const body = await response.json();
      message = typeof body?.message === 'string' ? body.message : message;
    } catch {
      // not JSON: the status line says enough
    }
    throw new APIError(message, response.status);
  }
}

/**
 * Send `items` as an upload: announce, chunks, commit. Resolves to the commit's task, or
 * null when `signal` aborted it (the upload is then deleted on the server).
 *
 * @param onProgress - called with the bytes sent so far and the total.
 */
export async function sendUpload(
  items: IUploadItem[],
  values: IUploadValues,
  onProgress: (sent: number, total: number) => void,
  signal: AbortSignal
): Promise<ITask | null> {
  const tags = values.tags
    .split(',')
    .map(tag => tag.trim())
    .filter(tag => tag.length > 0);
  const upload = await requestAPI<IUploadStatus>('uploads', {
    method: 'POST',
    body: {
      name: values.name,
      files: items.map(item => ({ path: item.path, size: item.file.size })),
      message: values.message || null,
      tags
    }
  });
  const route = `uploads/${encodeURIComponent(upload.id)}`;
  let sent = 0;
  try {
    for (const [index, item] of items.entries()) {
      let offset = 0;
      let failures = 0;
      while (offset < item.file.size) {
        const chunk = item.file.slice(offset, offset + upload.chunk_size);
        try {
          await putChunk(`${route}/files/${index}`, offset, chunk, signal);
        } catch (error) {
          // Lost on the way (status 0) or out of step (409): resume where the server is,
          // as a resumable upload does; anything else is the answer.
          const resumable = error instanceof APIError && [0, 409].includes(error.status);
          if (signal.aborted || !resumable || ++failures > CHUNK_RETRIES) {
            throw error;
          }
          await sleep(500 * failures);
          const status = await requestAPI<IUploadStatus>(route);
          sent += status.files[index].received - offset;
          offset = status.files[index].received;
          continue;
        }
        offset += chunk.size;
        sent += chunk.size;
        failures = 0;
        onProgress(sent, upload.total_size);
      }
    }
    if (signal.aborted) {
      throw new DOMException('cancelled', 'AbortError');
    }
    return await requestAPI<ITask>(`${route}/commit`, { method: 'POST' });
  } catch (error) {
    // Whatever stopped it, nothing of it stays on the server.
    await requestAPI(route, { method: 'DELETE' }).catch(() => undefined);
    if (signal.aborted) {
      return null;
    }
    throw error;
  }
}

/** Keep the user from closing the page by mistake while bytes are on their way. */
function warnOnLeave(event: BeforeUnloadEvent): void {
  event.preventDefault();
  event.returnValue = '';
}

/**
 * The whole flow: ask for the name, upload with a progress notification (Cancel in it),
 * follow the save. Calls `onDone` with the new version.
 *
 * @param name - the name the dialog offers (the model dropped on, a dropped folder's name),
 *   or null to offer one made from the first file's name.
 */
export async function uploadAsModel(
  items: IUploadItem[],
  name: string | null,
  onDone: (version: IModelVersion) => void
): Promise<void> {
  if (items.length === 0) {
    await showErrorMessage('Nothing to upload', 'Drop or choose files, a folder or an archive.');
    return;
  }
  const values = await askUploadValues(items, name);
  if (!values) {
    return;
  }
  const title = `Uploading ${describeItems(items)} as ${values.name}`;
  const controller = new AbortController();
  const id = Notification.emit(`${title}…`, 'in-progress', {
    autoClose: false,
    progress: 0,
    actions: [
      {
        label: 'Cancel',
        caption: 'Stop the upload; nothing of it is kept',
        callback: event => {
          event.preventDefault(); // the toast stays to say it was cancelled
          controller.abort();
        }
      }
    ]
  });
  let shown = 0;
  const progress = (sent: number, total: number) => {
    const now = Date.now();
    if (now - shown < PROGRESS_EVERY_MS && sent < total) {
      return;
    }
    shown = now;
    const percent = total ? Math.floor((100 * sent) / total) : 100;
    Notification.update({
      id,
      message: `${title}… ${formatBytes(sent)} of ${formatBytes(total)} (${percent}%)`,
      type: 'in-progress',
      progress: total ? sent / total : 1
    });
  };
  window.addEventListener('beforeunload', warnOnLeave);
  let task: ITask | null;
  try {
    task = await sendUpload(items, values, progress, controller.signal);
  } catch (error) {
    Notification.dismiss(id);
    await showErrorMessage(`Could not upload as ${values.name}`, errorMessage(error));
    return;
  } finally {
    window.removeEventListener('beforeunload', warnOnLeave);
  }
  if (task === null) {
    Notification.update({
      id,
      message: `Upload as ${values.name} cancelled: nothing was kept`,
      type: 'info',
      progress: undefined,
      actions: [],
      autoClose: 4000
    });
    return;
  }
  Notification.dismiss(id);
  const done = await followTask(task, `Saving the upload as ${values.name}`, finished => {
    const saved = finished.result as IModelVersion | undefined;
    return saved?.version ? `Uploaded ${saved.name}:${saved.version}` : `Uploaded ${values.name}`;
  });
  if (done?.result) {
    onDone(done.result as IModelVersion);
  }
}
