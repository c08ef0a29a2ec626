/**
 * A job's page in the main area: its status with start, end and duration, parameters,
 * inputs (model, data and its hash) and outputs (models, artifacts) as links, the
 * executed notebook, its `_results.json`, "Rerun", and its live log below.
 */
import * as React from 'react';
import { showErrorMessage } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Poll } from '@lumino/polling';
import { Panel } from '@lumino/widgets';

import { errorMessage, requestAPI } from './api';
import { formatDuration, formatValue, jobElapsed } from './format';
import { shelfIcon } from './icons';
import { watchLaunchedJob } from './jobNotifier';
import { JobLogsPanel } from './logs';
import { openJobNotebook, openJobPage, openModelPage, splitRef } from './pageOpeners';
import { Time } from './relativeTime';
import { renderError } from './section';
import { IJob, JSONObject } from './types';

/** The fields of a job the page reads beyond the sidebar's. */
export type IJobDetail = IJob & {
  inputs?: { model?: string | null; data?: string | null };
  results?: JSONObject | null;
  rerun_of?: string | null;
};

const ACTIVE = new Set(['queued', 'running']);

export function jobPageId(id: string): string {
  return `modelshelf-job-page-${id}`;
}

function ModelLink(props: { ref_: string }): JSX.Element {
  const [name, version] = splitRef(props.ref_);
  return (
    <a
      href="#"
      data-ref={props.ref_}
      title={`Open the page of model ${name}`}
      onClick={event => {
        event.preventDefault();
        openModelPage(name, version);
      }}
    >
      {props.ref_}
    </a>
  );
}

/** `results.parameters.inputs.data_sha256` and `results.run_summary.outputs.artifacts`. */
function fromResults(results: JSONObject | null | undefined): {
  dataHash: string;
  artifacts: string[];
} {
  const parameters = (results?.['parameters'] ?? {}) as JSONObject;
  const inputs = (parameters['inputs'] ?? {}) as JSONObject;
  const summary = (results?.['run_summary'] ?? {}) as JSONObject;
  const outputs = (summary['outputs'] ?? {}) as JSONObject;
  const artifacts = outputs['artifacts'];
  return {
    dataHash: typeof inputs['data_sha256'] === 'string' ? (inputs['data_sha256'] as string) : '',
    artifacts: Array.isArray(artifacts)
      ? artifacts.map(String)
      : artifacts
        ? [String(artifacts)]
        : []
  };
}

class JobDetails extends ReactWidget {
  constructor(private readonly _page: JobPage) {
    super();
    this.addClass('jp-modelshelf-job-details');
  }

  protected render(): JSX.Element {
    const job = this._page.job;
    const error = this._page.error;
    if (!job) {
      return <div className="jp-modelshelf-page-content">{renderError(error) ?? 'Loading…'}</div>;
    }
    const elapsed = jobElapsed(job);
    const { dataHash, artifacts } = fromResults(job.results);
    const rows: [string, React.ReactNode][] = [
      [
        'Status',
        <span
          className={`jp-modelshelf-status jp-modelshelf-status-${job.status}`}
          data-testid="modelshelf-job-page-status"
        >
          {job.status}
        </span>
      ],
      ['Submitted', <Time value={job.created_at} />],
      ['Started', <Time value={job.started_at} />],
      ['Ended', <Time value={job.ended_at} />],
      ['Duration', elapsed === null ? '' : formatDuration(elapsed)],
      ['Notebook', <code>{job.notebook}</code>],
      ['Input model', job.inputs?.model ? <ModelLink ref_={job.inputs.model} /> : ''],
      ['Input data', job.inputs?.data ? <code>{job.inputs.data}</code> : ''],
      ['Data sha256', dataHash ? <code title={dataHash}>{dataHash}</code> : ''],
      [
        'Output models',
        (job.outputs ?? []).length ? (
          <span>
            {(job.outputs ?? []).map(ref => (
              <ModelLink key={ref} ref_={ref} />
            ))}
          </span>
        ) : (
          ''
        )
      ],
      ['Artifacts', artifacts.length ? artifacts.join(', ') : ''],
      ['Workers', `${job.workers ?? 1} (${job.executor ?? 'local'})`],
      ['Rerun of', job.rerun_of ?? '']
    ];
    const params = Object.entries(job.parameters ?? {});
    return (
      <div className="jp-modelshelf-page-content" data-testid="modelshelf-job-page-details">
        <header className="jp-modelshelf-page-header">
          <h1>{job.name}</h1>
          <span className="jp-modelshelf-meta">{job.id}</span>
          <div className="jp-modelshelf-actions">
            <button
              className="jp-modelshelf-button"
              data-testid="modelshelf-job-page-notebook"
              disabled={job.status === 'queued'}
              onClick={() => openJobNotebook(job.id)}
            >
              Open executed notebook
            </button>
            <button
              className="jp-modelshelf-button"
              data-testid="modelshelf-job-page-rerun"
              disabled={ACTIVE.has(job.status)}
              title="Run this job again with the same notebook and parameters"
              onClick={() => void this._page.rerun()}
            >
              Rerun
            </button>
            {ACTIVE.has(job.status) && (
              <button
                className="jp-modelshelf-button jp-mod-danger"
                onClick={() => void this._page.cancel()}
              >
                Cancel
              </button>
            )}
          </div>
        </header>
        {renderError(error)}
        {job.error && <div className="jp-modelshelf-error">{job.error}</div>}
        <div className="jp-modelshelf-job-columns">
          <table className="jp-modelshelf-kv">
            <tbody>
              {rows
                .filter(([, v]) => v !== '' && v !== null)
                .map(([k, v]) => (
                  <tr key={k}>
                    <th>{k}</th>
                    <td>{v}</td>
                  </tr>
                ))}
            </tbody>
          </table>
          <div>
            <h3>Parameters</h3>
            {params.length === 0 ? (
              <div className="jp-modelshelf-empty">The notebook's defaults.</div>
            ) : (
              <table className="jp-modelshelf-kv" data-testid="modelshelf-job-page-params">
                <tbody>
                  {params.map(([k, v]) => (
                    <tr key={k}>
                      <th>{k}</th>
                      <td>{formatValue(v)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
            {job.results && (
              <details className="jp-modelshelf-results">
                <summary>_results.json</summary>
                <pre data-testid="modelshelf-job-page-results">
                  {JSON.stringify(job.results, null, 2)}
                </pre>
              </details>
            )}
          </div>
        </div>
        <h3>Log</h3>
      </div>
    );
  }
}

export class JobPage extends Panel {
  job: IJobDetail | null = null;
  error: string | null = null;

  constructor(readonly jobId: string) {
    super();
    this.id = jobPageId(jobId);
    this.addClass('jp-modelshelf-page');
    this.addClass('jp-modelshelf-job-page');
    this.node.dataset.testid = 'modelshelf-job-page';
    this.node.dataset.jobId = jobId;
    this.title.label = `Job ${jobId}`;
    this.title.icon = shelfIcon;
    this.title.closable = true;
    this._details = new JobDetails(this);
    this.addWidget(this._details);
    this._poll = new Poll({
      factory: () => this._fetch(),
      frequency: { interval: 2000, backoff: true, max: 30 * 1000 },
      standby: 'when-hidden',
      name: `modelshelf:job-page:${jobId}`
    });
  }

  dispose(): void {
    this._poll.dispose();
    super.dispose();
  }

  async rerun(): Promise<void> {
    try {
      const job = await requestAPI<IJob>(`jobs/${encodeURIComponent(this.jobId)}/rerun`, {
        method: 'POST'
      });
      watchLaunchedJob(job);
      openJobPage(job.id);
    } catch (error) {
      await showErrorMessage(
        `Could not rerun job ${this.job?.name ?? this.jobId}`,
        errorMessage(error)
      );
    }
  }

  async cancel(): Promise<void> {
    try {
      await requestAPI(`jobs/${encodeURIComponent(this.jobId)}/cancel`, { method: 'POST' });
    } catch (error) {
      await showErrorMessage('Could not cancel the job', errorMessage(error));
    }
    void this._poll.refresh();
  }

  private async _fetch(): Promise<void> {
    try {
      this.job = await requestAPI<IJobDetail>(`jobs/${encodeURIComponent(this.jobId)}`);
      this.error = null;
      this.title.label = `Job ${this.job.name}`;
      this.title.caption = `Job ${this.job.name} (${this.jobId}): ${this.job.status}`;
      this.node.dataset.status = this.job.status;
      if (!this._logs) {
        this._logs = new JobLogsPanel(this.job);
        this.addWidget(this._logs);
      }
    } catch (error) {
      this.error = errorMessage(error);
    }
    this._details.update();
    if (this.job && !ACTIVE.has(this.job.status)) {
      this._poll.stop(); // finished: nothing changes any more
    } else if (this.error) {
      throw new Error(this.error); // back off
    }
  }

  private _details: JobDetails;
  private _logs: JobLogsPanel | null = null;
  private _poll: Poll;
}
