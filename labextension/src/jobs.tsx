/**
 * The Jobs section: the server's jobs, newest first, refreshed every ~2 s while the
 * section is visible (and the browser tab is not hidden), so a running job's status and
 * elapsed time move without a click.
 */
import * as React from 'react';
import { showErrorMessage } from '@jupyterlab/apputils';
import { ReactWidget } from '@jupyterlab/ui-components';
import { Poll } from '@lumino/polling';
import { ISignal, Signal } from '@lumino/signaling';

import { errorMessage, requestAPI } from './api';
import { formatDuration, formatTime, jobElapsed } from './format';
import { IJob } from './types';

/** What a job row's buttons do; provided by the plugin, which owns the app. */
export interface IJobActions {
  openNotebook(job: IJob): Promise<void>;
  openLogs(job: IJob): void;
}

const ACTIVE = new Set(['queued', 'running']);

export class JobsSection extends ReactWidget {
  constructor(private readonly _actions: IJobActions) {
    super();
    this.addClass('jp-modelshelf-section');
    this.id = 'modelshelf-jobs-section';
    this.title.label = 'Jobs';
    this._poll = new Poll({
      factory: () => this.refresh(true),
      frequency: { interval: 2000, backoff: true, max: 30 * 1000 },
      // Stand by while the section is collapsed or the sidebar closed; 'when-hidden'
      // also pauses it while the browser tab is in the background.
      standby: () => !this.isVisible || 'when-hidden',
      name: 'modelshelf:jobs'
    });
  }

  /** Emitted with the jobs that just succeeded (their output models now exist). */
  get jobsSucceeded(): ISignal<this, IJob[]> {
    return this._jobsSucceeded;
  }

  /**
   * Fetch the jobs. From the poll (`rethrow`), a failure is rethrown as well as shown,
   * so that the poll backs off instead of hammering a server that is down.
   */
  async refresh(rethrow = false): Promise<void> {
    try {
      const answer = await requestAPI<{ jobs: IJob[] }>('jobs');
      this._noteFinished(answer.jobs);
      this._jobs = answer.jobs;
      this._error = null;
    } catch (error) {
      this._error = errorMessage(error);
      if (rethrow) {
        throw error;
      }
    } finally {
      this.update();
    }
  }

  /** Refresh now (e.g. right after a job was submitted) rather than at the next tick. */
  refreshSoon(): void {
    void this._poll.refresh();
  }

  dispose(): void {
    this._poll.dispose();
    super.dispose();
  }

  protected onAfterShow(): void {
    void this._poll.refresh();
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

  private _renderJob(job: IJob): JSX.Element {
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
          title={`${job.notebook} · created ${formatTime(job.created_at)}`}
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
        {job.outputs && job.outputs.length > 0 && (
          <div className="jp-modelshelf-meta jp-modelshelf-indent">→ {job.outputs.join(', ')}</div>
        )}
        <div className="jp-modelshelf-actions">
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

  protected render(): JSX.Element {
    return (
      <div className="jp-modelshelf-jobs" data-testid="modelshelf-jobs">
        {this._error && (
          <div className="jp-modelshelf-error" role="alert" data-testid="modelshelf-jobs-error">
            {this._error}
          </div>
        )}
        <ul className="jp-modelshelf-list">{this._jobs.map(job => this._renderJob(job))}</ul>
        {this._jobs.length === 0 && !this._error && (
          <div className="jp-modelshelf-empty">
            No jobs yet: right-click a notebook and choose "Run notebook as job…".
          </div>
        )}
      </div>
    );
  }

  private _poll: Poll;
  private _jobs: IJob[] = [];
  private _error: string | null = null;
  private _lastStatus = new Map<string, string>();
  private _jobsSucceeded = new Signal<this, IJob[]>(this);
}
