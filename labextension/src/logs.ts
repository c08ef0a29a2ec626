/**
 * A main-area panel following one job's log: it asks `GET /jobs/{id}/logs?cursor=`
 * for what is new since the last cursor until the server says the log is finished.
 */
import { Widget } from '@lumino/widgets';

import { APIError, errorMessage, requestAPI } from './api';
import { shelfIcon } from './icons';
import { IJob, IJobLogs } from './types';

/** Between two asks while the job runs; longer after an error. */
const FOLLOW_MS = 1000;
const RETRY_MS = 5000;

const sleep = (ms: number): Promise<void> => new Promise(resolve => setTimeout(resolve, ms));

export class JobLogsPanel extends Widget {
  constructor(readonly job: IJob) {
    super();
    this.id = `modelshelf-logs-${job.id}`;
    this.addClass('jp-modelshelf-logs');
    this.title.label = `Logs: ${job.name}`;
    this.title.caption = `Log of job ${job.name} (${job.id})`;
    this.title.icon = shelfIcon;
    this.title.closable = true;
    this._status = document.createElement('div');
    this._status.className = 'jp-modelshelf-logs-status';
    this._status.dataset.testid = 'modelshelf-logs-status';
    this._text = document.createElement('pre');
    this._text.className = 'jp-modelshelf-logs-text';
    this._text.dataset.testid = 'modelshelf-logs-text';
    this.node.append(this._status, this._text);
    void this._follow();
  }

  private async _follow(): Promise<void> {
    let cursor = '';
    this._setStatus('Following…');
    while (!this.isDisposed) {
      try {
        const logs = await requestAPI<IJobLogs>(`jobs/${encodeURIComponent(this.job.id)}/logs`, {
          query: { cursor: cursor || undefined }
        });
        this._append(logs.text);
        cursor = logs.cursor;
        if (logs.finished) {
          this._setStatus('The job has finished: this is the whole log.');
          return;
        }
        this._setStatus('Following…');
        await sleep(FOLLOW_MS);
      } catch (error) {
        this._setStatus(errorMessage(error), true);
        if (error instanceof APIError && error.status === 404) {
          return; // the job is gone: nothing more will come
        }
        await sleep(RETRY_MS);
      }
    }
  }

  private _append(text: string): void {
    if (!text || this.isDisposed) {
      return;
    }
    // Keep following the end only if the reader has not scrolled up to read.
    const node = this.node;
    const atEnd = node.scrollHeight - node.scrollTop - node.clientHeight < 24;
    this._text.textContent += text;
    if (atEnd) {
      node.scrollTop = node.scrollHeight;
    }
  }

  private _setStatus(text: string, error = false): void {
    this._status.textContent = text;
    this._status.classList.toggle('jp-modelshelf-error', error);
  }

  private _status: HTMLDivElement;
  private _text: HTMLPreElement;
}
