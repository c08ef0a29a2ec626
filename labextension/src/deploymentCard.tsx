/**
 * A deployment's card in the main area: its models (links to their pages), URL, mode,
 * workers, the live figures the server reports (requests, errors, latency, CPU, memory,
 * loaded models), and a test-request box showing the response, its status and its time.
 */
import * as React from 'react';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Poll } from '@lumino/polling';

import { APIError, errorMessage, requestAPI } from './api';
import { formatBytes, formatDuration } from './format';
import { shelfIcon } from './icons';
import { openModelPage, splitRef } from './pageOpeners';
import { Time } from './relativeTime';
import { renderError } from './section';
import { IDeployment } from './types';

type IDeploymentDetail = IDeployment & { min_workers?: number | null; max_workers?: number | null };

interface IResponse {
  status: number;
  ok: boolean;
  text: string;
  ms: number;
}

export function deploymentCardId(name: string): string {
  return `modelshelf-deployment-card-${encodeURIComponent(name)}`;
}

/** The live figures as label/value rows (only those the server gave). */
export function liveRows(d: IDeploymentDetail): [string, string][] {
  const live = d.live;
  if (!live) {
    return [];
  }
  const ms = (value: number | null): string => (value === null ? '' : `${value.toFixed(1)} ms`);
  const batches = Object.entries(live.batch_sizes ?? {})
    .map(([size, n]) => `${size}×${n}`)
    .join(', ');
  return (
    [
      ['Requests', String(live.requests)],
      ['Last minute', String(live.last_minute)],
      ['Server errors (5xx)', String(live.server_errors)],
      ['Client errors (4xx)', String(live.client_errors)],
      ['Latency p50', ms(live.p50_ms)],
      ['Latency p99', ms(live.p99_ms)],
      ['CPU time', formatDuration(live.cpu_seconds)],
      ['Memory (RSS)', formatBytes(live.rss_bytes)],
      ['Processes', String(live.processes)],
      ['Batch sizes', batches],
      ['Loaded models', Object.keys(live.models ?? {}).join(', ')]
    ] as [string, string][]
  ).filter(([, v]) => v !== '' && v !== 'undefined');
}

export class DeploymentCard extends ReactWidget {
  constructor(readonly deploymentName: string) {
    super();
    this.id = deploymentCardId(deploymentName);
    this.addClass('jp-modelshelf-page');
    this.addClass('jp-modelshelf-deployment-card');
    this.node.dataset.testid = 'modelshelf-deployment-card';
    this.node.dataset.name = deploymentName;
    this.title.label = `Deployment ${deploymentName}`;
    this.title.icon = shelfIcon;
    this.title.closable = true;
    this._poll = new Poll({
      factory: () => this._fetch(),
      frequency: { interval: 3000, backoff: true, max: 60 * 1000 },
      standby: () => !this.isVisible || 'when-hidden',
      name: `modelshelf:deployment-card:${deploymentName}`
    });
  }

  dispose(): void {
    this._poll.dispose();
    super.dispose();
  }

  protected onAfterShow(): void {
    void this._poll.refresh();
  }

  private async _fetch(): Promise<void> {
    try {
      this._deployment = await requestAPI<IDeploymentDetail>(
        `deployments/${encodeURIComponent(this.deploymentName)}`
      );
      this._error = null;
    } catch (error) {
      this._error = errorMessage(error);
      this.update();
      throw error;
    }
    this.update();
  }

  private async _send(): Promise<void> {
    let payload: unknown;
    try {
      payload = JSON.parse(this._draft);
    } catch (error) {
      this._response = { status: 0, ok: false, text: `Not JSON: ${errorMessage(error)}`, ms: 0 };
      this.update();
      return;
    }
    this._sending = true;
    this.update();
    const start = performance.now();
    try {
      const answer = await requestAPI<{ answer: unknown }>(
        `deployments/${encodeURIComponent(this.deploymentName)}/invoke`,
        { method: 'POST', body: { payload } }
      );
      const text =
        typeof answer.answer === 'string' ? answer.answer : JSON.stringify(answer.answer, null, 2);
      this._response = { status: 200, ok: true, text, ms: performance.now() - start };
    } catch (error) {
      const status = error instanceof APIError ? error.status : 0;
      this._response = {
        status,
        ok: false,
        text: errorMessage(error),
        ms: performance.now() - start
      };
    }
    this._sending = false;
    this.update();
    void this._poll.refresh(); // the request counts just moved
  }

  protected render(): JSX.Element {
    const d = this._deployment;
    if (!d) {
      return (
        <div className="jp-modelshelf-page-content">{renderError(this._error) ?? 'Loading…'}</div>
      );
    }
    const workers =
      d.min_workers && d.max_workers && d.min_workers !== d.max_workers
        ? `${d.min_workers}–${d.max_workers} (now ${d.workers})`
        : String(d.workers ?? 1);
    const response = this._response;
    return (
      <div className="jp-modelshelf-page-content">
        <header className="jp-modelshelf-page-header">
          <h1>{d.name}</h1>
          <span
            className={`jp-modelshelf-status jp-modelshelf-status-${d.status}`}
            data-testid="modelshelf-card-status"
          >
            {d.status}
          </span>
          <span className="jp-modelshelf-meta">
            <Time prefix="since" value={d.created_at} />
          </span>
        </header>
        {renderError(this._error)}
        {d.error && <div className="jp-modelshelf-error">{d.error}</div>}
        <div className="jp-modelshelf-job-columns">
          <table className="jp-modelshelf-kv" data-testid="modelshelf-card-facts">
            <tbody>
              <tr>
                <th>Models</th>
                <td>
                  {d.refs.length
                    ? d.refs.map(ref => {
                        const [name, version] = splitRef(ref);
                        return (
                          <a
                            key={ref}
                            href="#"
                            onClick={e => {
                              e.preventDefault();
                              openModelPage(name, version);
                            }}
                          >
                            {ref}
                          </a>
                        );
                      })
                    : 'none loaded yet'}
                </td>
              </tr>
              <tr>
                <th>URL</th>
                <td>
                  {d.url ? (
                    <a href={d.url} target="_blank" rel="noopener noreferrer">
                      {d.url}
                    </a>
                  ) : (
                    ''
                  )}
                </td>
              </tr>
              <tr>
                <th>Mode</th>
                <td>{d.mode}</td>
              </tr>
              <tr>
                <th>Workers</th>
                <td>{workers}</td>
              </tr>
              {d.serving?.handler && (
                <tr>
                  <th>Handler</th>
                  <td>
                    <code>{d.serving.handler}</code>
                  </td>
                </tr>
              )}
              {d.serving?.model_data && (
                <tr>
                  <th>Model data</th>
                  <td>
                    <code>{d.serving.model_data}</code>
                  </td>
                </tr>
              )}
              {d.ready_at && (
                <tr>
                  <th>Ready</th>
                  <td>
                    <Time value={d.ready_at} />
                  </td>
                </tr>
              )}
            </tbody>
          </table>
          <table className="jp-modelshelf-kv" data-testid="modelshelf-card-live">
            <tbody>
              {liveRows(d).map(([k, v]) => (
                <tr key={k}>
                  <th>{k}</th>
                  <td>{v}</td>
                </tr>
              ))}
              {liveRows(d).length === 0 && (
                <tr>
                  <td className="jp-modelshelf-empty">No live figures yet.</td>
                </tr>
              )}
            </tbody>
          </table>
        </div>
        <h3>Test request</h3>
        <div className="jp-modelshelf-invoke">
          <textarea
            className="jp-mod-styled"
            data-testid="modelshelf-card-payload"
            rows={4}
            placeholder='JSON payload, e.g. {"inputs": [[5.1, 3.5, 1.4, 0.2]]}'
            value={this._draft}
            onChange={event => {
              this._draft = event.target.value;
              this.update();
            }}
          />
          <div className="jp-modelshelf-actions">
            <button
              className="jp-modelshelf-button jp-mod-primary"
              data-testid="modelshelf-card-send"
              disabled={d.status !== 'ready' || this._sending}
              onClick={() => void this._send()}
            >
              {this._sending ? 'Sending…' : 'Send'}
            </button>
          </div>
          {response && (
            <div data-testid="modelshelf-card-response" data-status={response.status}>
              <div className={`jp-modelshelf-meta${response.ok ? '' : ' jp-modelshelf-error'}`}>
                {response.status ? `HTTP ${response.status}` : 'not sent'}
                {response.ms ? ` · ${response.ms.toFixed(0)} ms` : ''}
              </div>
              <pre className={`jp-modelshelf-answer${response.ok ? '' : ' jp-modelshelf-error'}`}>
                {response.text}
              </pre>
            </div>
          )}
        </div>
      </div>
    );
  }

  private _deployment: IDeploymentDetail | null = null;
  private _error: string | null = null;
  private _draft = '';
  private _response: IResponse | null = null;
  private _sending = false;
  private _poll: Poll;
}
