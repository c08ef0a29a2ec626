/**
 * The Schedules section: each schedule's timing, next run and last status, with
 * Pause/Resume and "Run now"; refreshed every ~5 s while visible. The scheduler itself
 * runs in the server (or as `modelshelf scheduler`): this section only shows and asks.
 */
import * as React from 'react';
import { Notification, showErrorMessage } from '@jupyterlab/apputils';

import { errorMessage, requestAPI } from './api';
import { formatTime } from './format';
import { PolledSection } from './polledSection';
import { IJob, ISchedule } from './types';

export class SchedulesSection extends PolledSection<ISchedule> {
  constructor() {
    super({
      id: 'modelshelf-schedules-section',
      label: 'Schedules',
      fetch: async () => (await requestAPI<{ schedules: ISchedule[] }>('schedules')).schedules,
      interval: 5000,
      max: 60 * 1000,
      pollName: 'modelshelf:schedules',
      className: 'jp-modelshelf-schedules',
      testid: 'modelshelf-schedules',
      empty: 'No schedules: in "Run notebook as job…", choose "Schedule…".'
    });
  }

  private async _post(schedule: ISchedule, action: 'pause' | 'resume' | 'run'): Promise<void> {
    const route = `schedules/${encodeURIComponent(schedule.name)}/${action}`;
    try {
      if (action === 'run') {
        const job = await requestAPI<IJob>(route, { method: 'POST', body: { parameters: {} } });
        Notification.success(`Started job ${job.name} (${job.id})`, { autoClose: 4000 });
      } else {
        await requestAPI<ISchedule>(route, { method: 'POST' });
      }
    } catch (error) {
      await showErrorMessage(`Could not ${action} ${schedule.name}`, errorMessage(error));
    }
    await this.refresh();
  }

  protected renderItem(schedule: ISchedule): JSX.Element {
    const last = schedule.runs[0];
    const state = schedule.paused ? 'paused' : 'active';
    return (
      <li
        key={schedule.name}
        className="jp-modelshelf-schedule"
        data-testid="modelshelf-schedule"
        data-schedule-name={schedule.name}
        data-state={state}
      >
        <div className="jp-modelshelf-row" title={String(schedule.template['notebook'] ?? '')}>
          <span className="jp-modelshelf-name">{schedule.name}</span>
          <span className="jp-modelshelf-meta">{schedule.when}</span>
          <span
            className={`jp-modelshelf-status jp-modelshelf-status-${last?.status ?? 'none'}`}
            data-testid="modelshelf-schedule-last-status"
          >
            {last ? last.status : 'never run'}
          </span>
        </div>
        <div
          className="jp-modelshelf-meta jp-modelshelf-indent"
          data-testid="modelshelf-schedule-next"
        >
          {schedule.paused ? 'paused' : `next: ${formatTime(schedule.next_due ?? null)}`}
          {last ? ` · last: ${formatTime(last.due)} (${last.reason})` : ''}
        </div>
        {last?.error && <div className="jp-modelshelf-error">{last.error}</div>}
        <div className="jp-modelshelf-actions">
          <button
            className="jp-modelshelf-button"
            data-testid={
              schedule.paused ? 'modelshelf-schedule-resume' : 'modelshelf-schedule-pause'
            }
            onClick={() => void this._post(schedule, schedule.paused ? 'resume' : 'pause')}
          >
            {schedule.paused ? 'Resume' : 'Pause'}
          </button>
          <button
            className="jp-modelshelf-button"
            data-testid="modelshelf-schedule-run"
            onClick={() => void this._post(schedule, 'run')}
          >
            Run now
          </button>
        </div>
      </li>
    );
  }
}
