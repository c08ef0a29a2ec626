/**
 * "Run notebook as job…": a form with one typed field per parameter of the notebook's
 * `parameters` cell (as `GET /notebook-parameters` reads it), an optional job name and
 * input model, then `POST /jobs`. Only values that differ from the notebook's defaults
 * are sent, so the notebook stays the one place its defaults live.
 */
import { Dialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { PathExt } from '@jupyterlab/coreutils';
import { Widget } from '@lumino/widgets';

import { APIError, errorMessage, requestAPI } from './api';
import { input, note, row } from './forms';
import { scheduleJob } from './scheduleDialog';
import { watchLaunchedJob } from './jobNotifier';
import { IJob, INotebookParameter, INotebookParameters } from './types';

/** How a parameter is edited, from the type papermill inferred (or the annotation). */
type Kind = 'int' | 'float' | 'bool' | 'str' | 'json';

export function kindOf(param: INotebookParameter): Kind {
  const type = (param.type ?? '').toLowerCase();
  if (type === 'int' || type === 'float' || type === 'bool' || type === 'str') {
    return type;
  }
  // No usable annotation: guess from the default's JSON type.
  if (type === '' || type === 'none' || type === 'any') {
    const value = param.default;
    if (typeof value === 'boolean') {
      return 'bool';
    }
    if (typeof value === 'number') {
      return Number.isInteger(value) ? 'int' : 'float';
    }
    if (typeof value === 'string') {
      return 'str';
    }
  }
  return 'json';
}

/** The raw text (or checkbox state) of each field, kept when the dialog reopens. */
interface IRawValues {
  name: string;
  model: string;
  params: { [name: string]: string | boolean };
  /** "Schedule…" chosen: create a schedule of this job instead of running it once. */
  schedule?: boolean;
}

function initialRaw(param: INotebookParameter): string | boolean {
  const kind = kindOf(param);
  const value = param.default;
  if (kind === 'bool') {
    return value === true;
  }
  if (value === undefined) {
    return '';
  }
  if (kind === 'str') {
    return typeof value === 'string' ? value : String(value);
  }
  return kind === 'json' ? JSON.stringify(value) : String(value);
}

class JobForm extends Widget {
  constructor(path: string, params: INotebookParameter[], raw: IRawValues) {
    super();
    this.addClass('jp-modelshelf-form');
    this.addClass('jp-modelshelf-job-form');
    this.node.dataset.testid = 'modelshelf-job-form';
    this._name = input('modelshelf-job-name', {
      value: raw.name,
      placeholder: PathExt.basename(path, '.ipynb')
    });
    this._model = input('modelshelf-job-model', {
      value: raw.model,
      placeholder: 'e.g. churn:3 (optional)'
    });
    this._when = whenChoice(raw.schedule === true);
    this.node.append(
      note(`Runs ${path} on the server with papermill; its output becomes a model.`)
    );
    if (params.length === 0) {
      this.node.append(note('The notebook has no cell tagged "parameters": nothing to set.'));
    }
    for (const param of params) {
      this.node.append(this._field(param, raw.params[param.name] ?? initialRaw(param)));
    }
    this.node.append(
      row(
        'Job name',
        this._name,
        'Defaults to the notebook name; the output model is "Job - <name>".'
      ),
      row('Input model', this._model, 'A ref copied into ML_MODEL_PATH before the run.'),
      row('Run', this._when, '"Schedule…" asks when, then runs it on that timetable.')
    );
  }

  getValue(): IRawValues {
    const params: IRawValues['params'] = {};
    for (const [name, node] of this._inputs) {
      params[name] = node.type === 'checkbox' ? node.checked : node.value;
    }
    return {
      name: this._name.value.trim(),
      model: this._model.value.trim(),
      params,
      schedule: this._when.value === 'schedule'
    };
  }

  private _field(param: INotebookParameter, raw: string | boolean): HTMLElement {
    const kind = kindOf(param);
    const testid = `modelshelf-param-${param.name}`;
    let node: HTMLInputElement;
    if (kind === 'bool') {
      node = input(testid, { type: 'checkbox' });
      node.checked = raw === true;
    } else if (kind === 'int' || kind === 'float') {
      node = input(testid, {
        type: 'number',
        value: String(raw),
        step: kind === 'int' ? '1' : 'any'
      });
    } else {
      node = input(testid, { value: String(raw), placeholder: kind === 'json' ? 'JSON' : '' });
    }
    node.dataset.param = param.name;
    node.dataset.kind = kind;
    this._inputs.set(param.name, node);
    const hint = [`${kind === 'json' ? param.type || 'JSON' : kind}`, param.help]
      .filter(Boolean)
      .join(' · ');
    const label = param.default_source
      ? `${param.name} (default ${param.default_source})`
      : param.name;
    return row(label, node, hint);
  }

  private _name: HTMLInputElement;
  private _model: HTMLInputElement;
  private _when: HTMLSelectElement;
  private _inputs = new Map<string, HTMLInputElement>();
}

/** The "Run" choice: once now, or "Schedule…" (a schedule of the same job). */
function whenChoice(schedule: boolean): HTMLSelectElement {
  const node = document.createElement('select');
  node.className = 'jp-mod-styled';
  node.dataset.testid = 'modelshelf-job-when';
  for (const [value, text] of [
    ['once', 'Once, now'],
    ['schedule', 'Schedule…']
  ]) {
    node.append(new Option(text, value, false, value === (schedule ? 'schedule' : 'once')));
  }
  return node;
}

/**
 * The typed parameter values that differ from the notebook's defaults, or the list of
 * fields whose text is not a value of their type.
 */
export function parseParameters(
  params: INotebookParameter[],
  raw: IRawValues['params']
): { values: { [name: string]: unknown }; problems: string[] } {
  const values: { [name: string]: unknown } = {};
  const problems: string[] = [];
  for (const param of params) {
    const kind = kindOf(param);
    const text = raw[param.name];
    let value: unknown;
    if (kind === 'bool') {
      value = text === true;
    } else if (typeof text !== 'string' || (text.trim() === '' && kind !== 'str')) {
      continue; // left empty: the notebook's default applies
    } else if (kind === 'int' || kind === 'float') {
      value = Number(text);
      if (!Number.isFinite(value as number) || (kind === 'int' && !Number.isInteger(value))) {
        problems.push(
          `${param.name}: "${text}" is not ${kind === 'int' ? 'an integer' : 'a number'}`
        );
        continue;
      }
    } else if (kind === 'str') {
      value = text;
    } else {
      try {
        value = JSON.parse(text);
      } catch {
        problems.push(`${param.name}: "${text}" is not JSON (lists: [1, 2], dicts: {"a": 1})`);
        continue;
      }
    }
    if (JSON.stringify(value) !== JSON.stringify(param.default)) {
      values[param.name] = value;
    }
  }
  return { values, problems };
}

/**
 * Ask for the parameters of the notebook at `path` (a contents path) and submit the job.
 *
 * @returns the job the server created, or null when cancelled or refused.
 */
export async function runNotebookAsJob(path: string): Promise<IJob | null> {
  let declared: INotebookParameters;
  try {
    declared = await requestAPI<INotebookParameters>('notebook-parameters', { query: { path } });
  } catch (error) {
    await showErrorMessage(`Could not read the parameters of ${path}`, errorMessage(error));
    return null;
  }
  const params = declared.parameters ?? [];
  let raw: IRawValues = { name: '', model: '', params: {} };
  for (;;) {
    const result = await showDialog({
      title: `Run ${PathExt.basename(path)} as a job`,
      body: new JobForm(path, params, raw),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Run job' })],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    raw = result.value;
    const { values, problems } = parseParameters(params, raw.params);
    if (problems.length > 0) {
      await showErrorMessage('Some parameters are not valid', problems.join('\n'));
      continue;
    }
    const template = {
      notebook: path,
      name: raw.name || null,
      parameters: values,
      model: raw.model || null
    };
    if (raw.schedule) {
      await scheduleJob(template); // the same job, on a timetable
      return null;
    }
    try {
      const job = await requestAPI<IJob>('jobs', { method: 'POST', body: template });
      Notification.success(`Job ${job.name} is ${job.status}`, { autoClose: 4000 });
      watchLaunchedJob(job); // a notification when it ends
      return job;
    } catch (error) {
      await showErrorMessage(`The server refused the job`, errorMessage(error));
      // A 400 is about what was typed (a mistyped parameter, an unknown model): fix it.
      if (!(error instanceof APIError && error.status === 400)) {
        return null;
      }
    }
  }
}
