/**
 * The Jobs section: the server's jobs, newest first, refreshed every ~2 s while the
 * section is visible (and the browser tab is not hidden), so a running job's status and
 * elapsed time move without a click.
 */
import * as React from 'react';
import { showErrorMessage } from '@jupyterlab/apputils';
import { ISignal, Signal } from '@lumino/signaling';

import { errorMessage, requestAPI } from './api';
import { formatDuration, formatTime, jobElapsed } from './format';
import { openJobPage } from './pageOpeners';
import { PolledSection } from './polledSection';
import { Time } from './relativeTime';
import { IJob } from './types';

/** What a job row's buttons do; provided by the plugin, which owns the app. */
export interface IJobActions {
  openNotebook(job: IJob): Promise<void>;
  openLogs(job: IJob): void;
}

const ACTIVE = new Set(['queued', 'running']);

export class JobsSection extends PolledSection<IJob> {
  constructor(private readonly _actions: IJobActions) {
    super({
      id: 'modelshelf-jobs-section',
      label: 'Jobs',
      fetch: async () => (await requestAPI<{ jobs: IJob[] }>('jobs')).jobs,
      interval: 2000,
      max: 30 * 1000,
      pollName: 'modelshelf:jobs',
      className: 'jp-modelshelf-jobs',
      testid: 'modelshelf-jobs',
      empty: 'No jobs yet: right-click a notebook and choose "Run notebook as job…".'
    });
  }

  /** Emitted with the jobs that just succeeded (their output models now exist). */
  get jobsSucceeded(): ISignal<this, IJob[]> {
    return this._jobsSucceeded;
  }

  /** Before the shown list is replaced: its statuses tell which jobs just finished. */
  protected onFetched(jobs: IJob[]): void {
    this._noteFinished(jobs);
  }

  private _noteFinished(jobs: IJob[]): void {
    const succeeded = jobs.filter(
      job => job.status === 'succeeded' && ACTIVE.has(this._lastStatus.get(job.id) ?? '')
    );
    this._lastStatus = new Map(jobs.map(job => [job.id, job.status]));
    if (succeeded.length > 0) {
      this._jobsSucceeded.emit(succeeded);
    }
  }

  private async _cancel(job: IJob): Promise<void> {
    try {
      await requestAPI<IJob>(`jobs/${encodeURIComponent(job.id)}/cancel`, { method: 'POST' });
    } catch (error) {
      await showErrorMessage(`Could not cancel ${job.name}`, errorMessage(error));
    }
    await this.refresh();
  }

  private async _openNotebook(job: IJob): Promise<void> {
    try {
      await this._actions.openNotebook(job);
    } catch (error) {
      await showErrorMessage(`Could not open the notebook of ${job.name}`, errorMessage(error));
    }
  }

  protected renderItem(job: IJob): JSX.Element {
    const elapsed = jobElapsed(job);
    return (
      <li
        key={job.id}
        className="jp-modelshelf-job"
        data-testid="modelshelf-job"
        data-job-id={job.id}
        data-job-name={job.name}
        data-status={job.status}
      >
        <div
          className="jp-modelshelf-row"
          title={`${job.name} · ${job.notebook} · created ${formatTime(job.created_at)}`}
        >
          <span className="jp-modelshelf-name">{job.name}</span>
          <span
            className={`jp-modelshelf-status jp-modelshelf-status-${job.status}`}
            data-testid="modelshelf-job-status"
          >
            {job.status}
          </span>
          <span className="jp-modelshelf-meta" data-testid="modelshelf-job-elapsed">
            {elapsed === null ? '' : formatDuration(elapsed)}
          </span>
        </div>
        {job.error && <div className="jp-modelshelf-error">{job.error}</div>}
        <div
          className="jp-modelshelf-meta jp-modelshelf-indent jp-modelshelf-clip"
          title={(job.outputs ?? []).join(', ')}
        >
          <Time prefix="created" value={job.created_at} />
          {job.outputs && job.outputs.length > 0 && ` · → ${job.outputs.join(', ')}`}
        </div>
        <div className="jp-modelshelf-actions">
          <button
            className="jp-modelshelf-button"
            data-testid="modelshelf-job-page-open"
            title={`Open the page of job ${job.name}: status, inputs, outputs, log, rerun`}
            onClick={() => openJobPage(job.id)}
          >
            Details
          </button>
          <button
            className="jp-modelshelf-button"
            data-testid="modelshelf-job-open"
            disabled={job.status === 'queued'}
            onClick={() => void this._openNotebook(job)}
          >
            Open notebook
          </button>
          <button
            className="jp-modelshelf-button"
            data-testid="modelshelf-job-logs"
            onClick={() => this._actions.openLogs(job)}
          >
            Logs
          </button>
          {ACTIVE.has(job.status) && (
            <button
              className="jp-modelshelf-button jp-mod-danger"
              data-testid="modelshelf-job-cancel"
              onClick={() => void this._cancel(job)}
            >
              Cancel
            </button>
          )}
        </div>
      </li>
    );
  }

  private _lastStatus = new Map<string, string>();
  private _jobsSucceeded = new Signal<this, IJob[]>(this);
}
