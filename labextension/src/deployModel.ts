/**
 * "Deploy…" on a version: ask for the mode, a name, the workers, and optionally the serving
 * code the user already has (a Multi Model Server / SageMaker handler service, `FILE[:FUNC]`)
 * with the environment it reads; `POST /deployments`, then follow the deploy task.
 */
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { errorMessage, requestAPI } from './api';
import { input, note, row } from './forms';
import { followTask } from './tasks';
import { IDeployment, ITask } from './types';

const MODES = ['realtime', 'multi', 'async'];

interface IDeployValues {
  mode: string;
  name: string;
  workers: string;
  handler: string;
  env: string;
}

/** `KEY=VALUE` lines (blank lines skipped) as an object, or the first bad line. */
export function parseEnv(text: string): { env: Record<string, string>; bad?: string } {
  const env: Record<string, string> = {};
  for (const line of text.split('\n').map(l => l.trim())) {
    if (!line) {
      continue;
    }
    const at = line.indexOf('=');
    if (at < 1) {
      return { env, bad: line };
    }
    env[line.slice(0, at).trim()] = line.slice(at + 1);
  }
  return { env };
}

class DeployForm extends Widget {
  constructor(ref: string, values: IDeployValues) {
    super();
    this.addClass('jp-modelshelf-form');
    this.node.dataset.testid = 'modelshelf-deploy-form';
    this._mode = document.createElement('select');
    this._mode.className = 'jp-mod-styled';
    this._mode.dataset.testid = 'modelshelf-deploy-mode';
    for (const mode of MODES) {
      const option = document.createElement('option');
      option.value = option.textContent = mode;
      option.selected = mode === values.mode;
      this._mode.append(option);
    }
    this._name = input('modelshelf-deploy-name', {
      value: values.name,
      placeholder: ref.split(':')[0]
    });
    this._workers = input('modelshelf-deploy-workers', {
      type: 'number',
      value: values.workers,
      step: '1'
    });
    this._handler = input('modelshelf-deploy-handler', {
      value: values.handler,
      placeholder: 'optional: /path/model_handler.py:handle'
    });
    this._env = document.createElement('textarea');
    this._env.className = 'jp-mod-styled';
    this._env.dataset.testid = 'modelshelf-deploy-env';
    this._env.rows = 2;
    this._env.placeholder = 'KEY=VALUE, one per line';
    this._env.value = values.env;
    this.node.append(
      note(`Serves ${ref} over HTTP on the server, in its own process.`),
      row('Mode', this._mode, 'realtime: one model; multi: loads models on demand; async: queued.'),
      row('Name', this._name, 'The deployment name; defaults to the model name.'),
      row('Workers', this._workers, 'Server processes.'),
      row('Handler', this._handler, 'Serving code you already have (Multi Model Server style).'),
      row('Environment', this._env, 'Variables the serving code reads.')
    );
  }

  getValue(): IDeployValues {
    return {
      mode: this._mode.value,
      name: this._name.value.trim(),
      workers: this._workers.value.trim(),
      handler: this._handler.value.trim(),
      env: this._env.value
    };
  }

  private _mode: HTMLSelectElement;
  private _name: HTMLInputElement;
  private _workers: HTMLInputElement;
  private _handler: HTMLInputElement;
  private _env: HTMLTextAreaElement;
}

/** The request body, or what is wrong with the values. */
function deployBody(ref: string, values: IDeployValues): { body?: object; problem?: string } {
  const workers = Number(values.workers || '1');
  if (!Number.isInteger(workers) || workers < 1) {
    return { problem: `Workers: "${values.workers}" is not a whole number from 1.` };
  }
  const { env, bad } = parseEnv(values.env);
  if (bad !== undefined) {
    return { problem: `Environment: "${bad}" is not KEY=VALUE.` };
  }
  const body: Record<string, unknown> = { refs: [ref], mode: values.mode, workers };
  if (values.name) {
    body.name = values.name;
  }
  // Only when given: a server without handler services still takes the plain request.
  if (values.handler) {
    body.handler = values.handler;
  }
  if (Object.keys(env).length > 0) {
    body.env = env;
  }
  return { body };
}

/** Ask, deploy and follow; calls `onDeployed` once the deployment answers (or failed). */
export async function deployVersion(ref: string, onDeployed: () => void): Promise<void> {
  let values: IDeployValues = { mode: 'realtime', name: '', workers: '1', handler: '', env: '' };
  let body: object | undefined;
  for (;;) {
    const result = await showDialog({
      title: `Deploy ${ref}`,
      body: new DeployForm(ref, values),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Deploy' })],
      focusNodeSelector: '[data-testid="modelshelf-deploy-name"]'
    });
    if (!result.button.accept || !result.value) {
      return;
    }
    values = result.value;
    const checked = deployBody(ref, values);
    if (checked.body) {
      body = checked.body;
      break;
    }
    await showErrorMessage('Not a valid deployment', checked.problem ?? '');
  }
  let task: ITask;
  try {
    task = await requestAPI<ITask>('deployments', { method: 'POST', body });
  } catch (error) {
    await showErrorMessage(`Could not deploy ${ref}`, errorMessage(error));
    return;
  }
  onDeployed(); // the deployment shows as starting at once
  await followTask(task, `Deploying ${ref}`, finished => {
    const deployment = finished.result as IDeployment | undefined;
    return deployment ? `${deployment.name} is ${deployment.status} at ${deployment.url}` : 'Done';
  });
  onDeployed();
}
