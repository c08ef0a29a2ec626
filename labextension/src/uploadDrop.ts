/**
 * Where uploads start: files, a folder or an archive dropped on an element (the Models
 * section, a model's page), or picked in the browser's file dialog. Dropped folders are
 * walked with `webkitGetAsEntry` (the File and Directory Entries API every browser has);
 * a lone dropped or picked folder gives its files paths relative to it, as saving a
 * folder does, and its name as the suggested model name.
 */
import { showErrorMessage } from '@jupyterlab/apputils';
import { DisposableDelegate, IDisposable } from '@lumino/disposable';

import { errorMessage } from './api';
import { IModelVersion } from './types';
import { IUploadItem, uploadAsModel } from './upload';

/** On the drop target while files are dragged over it (see style/upload.css). */
const DROP_CLASS = 'jp-modelshelf-mod-dropTarget';

/** What was dropped or picked: the files, and a model name they suggest. */
interface IPicked {
  items: IUploadItem[];
  suggested: string | null;
}

function hasFiles(event: DragEvent): boolean {
  return Array.from(event.dataTransfer?.types ?? []).includes('Files');
}

function readFile(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

/** Every file under `entry`, its path prefixed with `prefix`. */
async function walk(entry: FileSystemEntry, prefix: string, out: IUploadItem[]): Promise<void> {
  if (entry.isFile) {
    out.push({ path: prefix + entry.name, file: await readFile(entry as FileSystemFileEntry) });
    return;
  }
  if (!entry.isDirectory) {
    return;
  }
  const reader = (entry as FileSystemDirectoryEntry).createReader();
  for (;;) {
    // readEntries answers in batches (100 in Chromium) until an empty one.
    const batch = await new Promise<FileSystemEntry[]>((resolve, reject) =>
      reader.readEntries(resolve, reject)
    );
    if (batch.length === 0) {
      return;
    }
    for (const child of batch) {
      await walk(child, `${prefix}${entry.name}/`, out);
    }
  }
}

/** A lone folder's files relative to it, named after it; anything else as it is. */
function relativeToLoneFolder(items: IUploadItem[]): IPicked {
  const tops = new Set(items.map(item => item.path.split('/')[0]));
  const [top] = [...tops];
  if (tops.size !== 1 || !items.every(item => item.path.startsWith(`${top}/`))) {
    return { items, suggested: null };
  }
  return {
    items: items.map(item => ({ path: item.path.slice(top.length + 1), file: item.file })),
    suggested: top
  };
}

/**
 * The files of a drop. The entries must be taken while the drop event runs (the browser
 * empties the DataTransfer afterwards); reading them may take longer.
 */
function droppedFiles(data: DataTransfer): Promise<IPicked> {
  const taken = Array.from(data.items ?? [])
    .filter(item => item.kind === 'file')
    .map(item => ({ entry: item.webkitGetAsEntry?.() ?? null, file: item.getAsFile() }));
  const loose = taken.length === 0 ? Array.from(data.files ?? []) : [];
  return (async () => {
    const items: IUploadItem[] = loose.map(file => ({ path: file.name, file }));
    for (const { entry, file } of taken) {
      if (entry?.isDirectory) {
        await walk(entry, '', items);
      } else if (file) {
        // A file (a DataTransfer built by a page has no entries, only files).
        items.push({ path: file.name, file });
      }
    }
    return relativeToLoneFolder(items);
  })();
}

/** The model row (`data-model`) an event happened on, if any. */
export function modelNameAt(event: Event): string | null {
  const target = event.target instanceof Element ? event.target : null;
  return target?.closest('[data-model]')?.getAttribute('data-model') ?? null;
}

/**
 * Make `node` a drop target: what is dropped on it is uploaded as the next version of
 * `modelName(event)`, or of a model whose name the upload dialog asks for (when null).
 *
 * @param onDone - called with the new version once it is saved.
 * @returns what removes the listeners again.
 */
export function attachUploadDrop(
  node: HTMLElement,
  modelName: (event: DragEvent) => string | null,
  onDone: (version: IModelVersion) => void
): IDisposable {
  let depth = 0; // dragenter/dragleave also fire for every child crossed
  const enter = (event: DragEvent) => {
    if (hasFiles(event)) {
      event.preventDefault();
      depth += 1;
      node.classList.add(DROP_CLASS);
    }
  };
  const over = (event: DragEvent) => {
    if (hasFiles(event) && event.dataTransfer) {
      event.preventDefault(); // what makes the element a drop target at all
      event.dataTransfer.dropEffect = 'copy';
    }
  };
  const leave = (event: DragEvent) => {
    if (hasFiles(event)) {
      depth = Math.max(0, depth - 1);
      if (depth === 0) {
        node.classList.remove(DROP_CLASS);
      }
    }
  };
  const drop = (event: DragEvent) => {
    if (!hasFiles(event) || !event.dataTransfer) {
      return;
    }
    event.preventDefault(); // not the browser's "open the file"
    event.stopPropagation();
    depth = 0;
    node.classList.remove(DROP_CLASS);
    const name = modelName(event);
    void droppedFiles(event.dataTransfer)
      .then(picked => uploadAsModel(picked.items, name ?? picked.suggested, onDone))
      .catch(error => showErrorMessage('Could not read the dropped files', errorMessage(error)));
  };
  const listeners: [string, (event: DragEvent) => void][] = [
    ['dragenter', enter],
    ['dragover', over],
    ['dragleave', leave],
    ['drop', drop]
  ];
  for (const [type, listener] of listeners) {
    node.addEventListener(type, listener as EventListener);
  }
  return new DisposableDelegate(() => {
    for (const [type, listener] of listeners) {
      node.removeEventListener(type, listener as EventListener);
    }
  });
}

/**
 * The browser's file dialog: files (several at once) or one folder, then the upload.
 * Call it from a click (a command run from a menu): browsers open the dialog only then.
 */
export function pickAndUpload(
  folder: boolean,
  name: string | null,
  onDone: (version: IModelVersion) => void
): void {
  const picker = document.createElement('input');
  picker.type = 'file';
  picker.multiple = true;
  picker.webkitdirectory = folder;
  picker.dataset.testid = 'modelshelf-upload-picker';
  picker.style.display = 'none';
  document.body.append(picker);
  picker.addEventListener('cancel', () => picker.remove());
  picker.addEventListener('change', () => {
    const files = Array.from(picker.files ?? []);
    picker.remove();
    // A folder's files carry their path under it; single files only their name.
    const items = files.map(file => ({ path: file.webkitRelativePath || file.name, file }));
    const picked = folder ? relativeToLoneFolder(items) : { items, suggested: null };
    void uploadAsModel(picked.items, name ?? picked.suggested, onDone);
  });
  picker.click();
}
