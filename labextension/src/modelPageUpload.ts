/**
 * Uploads onto a model page: the whole page is a drop target for files, a folder or an
 * archive from this computer, and an "Upload…" button opens the browser's file dialog.
 * What arrives becomes the model's next version (uploadDrop.ts does the upload).
 */
import { IModelPageHandle, onModelPageOpened } from './modelPage';
import { attachUploadDrop, pickAndUpload } from './uploadDrop';

function uploadButton(page: IModelPageHandle): HTMLButtonElement {
  const button = document.createElement('button');
  button.className = 'jp-modelshelf-button';
  button.dataset.testid = 'modelshelf-page-upload';
  button.textContent = 'Upload…';
  button.title = `Upload files or an archive from this computer as the next version of ${page.modelName} (or drop them on this page)`;
  button.addEventListener('click', () =>
    pickAndUpload(false, page.modelName, () => void page.refresh())
  );
  return button;
}

/** Make every model page, from now on, take uploads. */
export function enableModelPageUploads(): void {
  onModelPageOpened(page => {
    page.dropZone.append(uploadButton(page));
    // The listeners live on the page's own node and go with it when the tab closes.
    attachUploadDrop(
      page.node,
      () => page.modelName,
      () => void page.refresh()
    );
  });
}
