/**
 * The Deployments section: status and URL of each deployment, "Stop", and a small box
 * that sends one JSON payload through `POST /deployments/{name}/invoke` and shows the
 * answer, to try a model without leaving JupyterLab.
 */
import * as React from 'react';
import { Dialog, showDialog, showErrorMessage } from '@jupyterlab/apputils';

import { errorMessage, requestAPI } from './api';
import { formatTime } from './format';
import { openDeploymentCard } from './pageOpeners';
import { PolledSection } from './polledSection';
import { IDeployment } from './types';

interface IAnswer {
  ok: boolean;
  text: string;
}

export class DeploymentsSection extends PolledSection<IDeployment> {
  constructor() {
    // Deployments change less often than jobs: a slower poll, same standby rules.
    super({
      id: 'modelshelf-deployments-section',
      label: 'Deployments',
      fetch: async () =>
        (await requestAPI<{ deployments: IDeployment[] }>('deployments')).deployments,
      interval: 5000,
      max: 60 * 1000,
      pollName: 'modelshelf:deployments',
      className: 'jp-modelshelf-deployments',
      testid: 'modelshelf-deployments',
      empty: 'No deployments running: choose Deploy… on a version, or use %deploy.'
    });
  }

  /** The list, of one mode only when the filter says so (as the seed's card list). */
  protected fetchItems(): Promise<IDeployment[]> {
    const query = this._mode ? `?mode=${encodeURIComponent(this._mode)}` : '';
    return requestAPI<{ deployments: IDeployment[] }>(`deployments${query}`).then(
      answer => answer.deployments
    );
  }

  protected renderToolbar(): JSX.Element {
    return (
      <div className="jp-modelshelf-toolbar">
        <label>
          Show{' '}
          <select
            className="jp-mod-styled"
            data-testid="modelshelf-deployments-mode"
            value={this._mode}
            onChange={event => {
              this._mode = event.target.value;
              this.refreshSoon();
            }}
          >
            <option value="">all modes</option>
            <option value="realtime">real-time</option>
            <option value="multi">multi-model</option>
            <option value="async">asynchronous</option>
          </select>
        </label>
      </div>
    );
  }

  private async _stop(deployment: IDeployment): Promise<void> {
    const answer = await showDialog({
      title: `Stop ${deployment.name}?`,
      body: `Its server at ${deployment.url} stops answering and its models are released.`,
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Stop' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await requestAPI(`deployments/${encodeURIComponent(deployment.name)}/stop`, {
        method: 'POST'
      });
    } catch (error) {
      await showErrorMessage(`Could not stop ${deployment.name}`, errorMessage(error));
    }
    await this.refresh();
  }

  private async _send(deployment: IDeployment): Promise<void> {
    const draft = this._drafts.get(deployment.name) ?? '';
    let payload: unknown;
    try {
      payload = JSON.parse(draft);
    } catch (error) {
      this._answers.set(deployment.name, { ok: false, text: `Not JSON: ${errorMessage(error)}` });
      this.update();
      return;
    }
    this._answers.set(deployment.name, { ok: true, text: 'Sending…' });
    this.update();
    try {
      const answer = await requestAPI<{ answer: unknown }>(
        `deployments/${encodeURIComponent(deployment.name)}/invoke`,
        { method: 'POST', body: { payload } }
      );
      const text =
        typeof answer.answer === 'string' ? answer.answer : JSON.stringify(answer.answer, null, 2);
      this._answers.set(deployment.name, { ok: true, text });
    } catch (error) {
      this._answers.set(deployment.name, { ok: false, text: errorMessage(error) });
    }
    this.update();
  }

  protected renderItem(d: IDeployment): JSX.Element {
    const answer = this._answers.get(d.name);
    const live = d.status === 'ready' || d.status === 'starting';
    return (
      <li
        key={d.name}
        className="jp-modelshelf-deployment"
        data-testid="modelshelf-deployment"
        data-name={d.name}
        data-status={d.status}
      >
        <div
          className="jp-modelshelf-row"
          title={`${d.name} · ${d.mode} · ${d.refs.join(', ')} · since ${formatTime(d.created_at)}`}
        >
          <span className="jp-modelshelf-name">{d.name}</span>
          <span className={`jp-modelshelf-status jp-modelshelf-status-${d.status}`}>
            {d.status}
          </span>
          <span className="jp-modelshelf-meta">{d.mode}</span>
        </div>
        <div
          className="jp-modelshelf-indent jp-modelshelf-meta jp-modelshelf-clip"
          title={`${d.url} ${d.refs.join(', ')}`}
        >
          {d.url && (
            <a href={d.url} target="_blank" rel="noopener noreferrer">
              {d.url}
            </a>
          )}{' '}
          {d.refs.join(', ')}
        </div>
        {liveText(d) && (
          <div
            className="jp-modelshelf-indent jp-modelshelf-meta"
            data-testid="modelshelf-deployment-live"
          >
            {liveText(d)}
          </div>
        )}
        {servingText(d) && (
          <div
            className="jp-modelshelf-indent jp-modelshelf-meta"
            data-testid="modelshelf-deployment-serving"
            title={servingText(d)}
          >
            {servingText(d)}
          </div>
        )}
        {d.error && <div className="jp-modelshelf-error">{d.error}</div>}
        <div className="jp-modelshelf-invoke">
          <textarea
            className="jp-mod-styled"
            data-testid="modelshelf-invoke-payload"
            rows={2}
            placeholder='JSON payload, e.g. {"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
            value={this._drafts.get(d.name) ?? ''}
            onChange={event => {
              this._drafts.set(d.name, event.target.value);
              this.update();
            }}
          />
          <div className="jp-modelshelf-actions">
            <button
              className="jp-modelshelf-button"
              data-testid="modelshelf-deployment-card-open"
              title={`Open the card of ${d.name}: models, URL, live figures, test requests`}
              onClick={() => openDeploymentCard(d.name)}
            >
              Card
            </button>
            <button
              className="jp-modelshelf-button jp-mod-primary"
              data-testid="modelshelf-invoke-send"
              disabled={d.status !== 'ready'}
              onClick={() => void this._send(d)}
            >
              Send
            </button>
            {live && (
              <button
                className="jp-modelshelf-button jp-mod-danger"
                data-testid="modelshelf-deployment-stop"
                onClick={() => void this._stop(d)}
              >
                Stop
              </button>
            )}
          </div>
          {answer && (
            <pre
              className={`jp-modelshelf-answer${answer.ok ? '' : ' jp-modelshelf-error'}`}
              data-testid="modelshelf-invoke-answer"
            >
              {answer.text}
            </pre>
          )}
        </div>
      </li>
    );
  }

  private _drafts = new Map<string, string>();
  private _answers = new Map<string, IAnswer>();
  private _mode = '';
}

/** "handler model_handler.py:handle · model data s3://bucket/prefix/ · env A, B", or "". */
function servingText(d: IDeployment): string {
  const serving = d.serving ?? {};
  const parts: string[] = [];
  if (serving.handler) {
    parts.push(`handler ${serving.handler.split('/').pop()}`);
  }
  if (serving.model_data) {
    parts.push(`model data ${serving.model_data}`);
  }
  if (serving.env && serving.env.length) {
    parts.push(`env ${serving.env.join(', ')}`);
  }
  return parts.join(' · ');
}

/** "42 requests · 1 error · p50 2.1 ms, p99 8.0 ms · 2 loaded", or "" before any. */
function liveText(d: IDeployment): string {
  const live = d.live;
  if (!live) {
    return '';
  }
  const errors = live.server_errors + live.client_errors;
  const parts = [`${live.requests} request${live.requests === 1 ? '' : 's'}`];
  if (errors) {
    parts.push(`${errors} error${errors === 1 ? '' : 's'}`);
  }
  if (live.p50_ms !== null && live.p99_ms !== null) {
    parts.push(`p50 ${live.p50_ms.toFixed(1)} ms, p99 ${live.p99_ms.toFixed(1)} ms`);
  }
  const loaded = Object.keys(live.models).length;
  if (d.mode === 'multi') {
    parts.push(`${loaded} loaded`);
  }
  return parts.join(' · ');
}
