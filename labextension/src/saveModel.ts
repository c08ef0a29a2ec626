/**
 * "Save /opt/ml/models as model…" and "Save /opt/ml/output as model…": ask for a name,
 * an optional message and tags, `POST /models`, then follow the save task.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { errorMessage, requestAPI } from './api';
import { input, note, row } from './forms';
import { followTask } from './tasks';
import { IModelVersion, ITask } from './types';

interface ISaveValues {
  source: string;
  name: string;
  message: string;
  tags: string;
}

/**
 * The form: the folder (the command's, editable: any folder under the server's root or the
 * server's source roots works too), the model's name (required), a message and tags.
 */
class SaveForm extends Widget {
  constructor(values: ISaveValues) {
    super();
    this.addClass('jp-modelshelf-form');
    this.node.dataset.testid = 'modelshelf-save-form';
    this._source = input('modelshelf-save-source', { value: values.source });
    this._name = input('modelshelf-save-name', { value: values.name, placeholder: 'churn-model' });
    this._message = input('modelshelf-save-message', {
      value: values.message,
      placeholder: 'what changed (optional)'
    });
    this._tags = input('modelshelf-save-tags', { value: values.tags, placeholder: 'baseline, v2' });
    this.node.append(
      note('Every file under the folder (on the server) becomes the next version of the model.'),
      row('Folder', this._source, 'On the server: absolute, or relative to its root; or a URL.'),
      row('Model name', this._name, 'Saving under an existing name adds a version.'),
      row('Message', this._message),
      row('Tags', this._tags, 'Comma-separated.')
    );
  }

  getValue(): ISaveValues {
    return {
      source: this._source.value.trim(),
      name: this._name.value.trim(),
      message: this._message.value.trim(),
      tags: this._tags.value
    };
  }

  private _source: HTMLInputElement;
  private _name: HTMLInputElement;
  private _message: HTMLInputElement;
  private _tags: HTMLInputElement;
}

/**
 * Ask, save and follow; calls `onSaved` once the new version exists.
 */
export async function saveAsModel(source: string, onSaved: () => void): Promise<void> {
  let values: ISaveValues = { source, name: '', message: '', tags: '' };
  for (;;) {
    const result = await showDialog({
      title: 'Save a folder as a model',
      body: new SaveForm(values),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Save' })],
      focusNodeSelector: '[data-testid="modelshelf-save-name"]'
    });
    if (!result.button.accept || !result.value) {
      return;
    }
    values = result.value;
    if (values.name && values.source) {
      break;
    }
    await showErrorMessage('Missing a value', 'Type the folder to save and the model name.');
  }
  const tags = values.tags
    .split(',')
    .map(tag => tag.trim())
    .filter(tag => tag.length > 0);
  let task: ITask;
  try {
    task = await requestAPI<ITask>('models', {
      method: 'POST',
      body: { name: values.name, source: values.source, message: values.message || null, tags }
    });
  } catch (error) {
    await showErrorMessage(
      `Could not save ${values.source} as ${values.name}`,
      errorMessage(error)
    );
    return;
  }
  const done = await followTask(task, `Saving ${values.source} as ${values.name}`, finished => {
    const saved = finished.result as IModelVersion | undefined;
    return saved?.version ? `Saved ${saved.name}:${saved.version}` : `Saved ${values.name}`;
  });
  if (done) {
    onSaved();
  }
}
