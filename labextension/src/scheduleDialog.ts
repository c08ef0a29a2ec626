/**
 * "Schedule…" in the run-as-job dialog: the job it was about to run (notebook,
 * parameters, name, input model), plus when: a cron expression and time zone, or a rate.
 * Then `POST /schedules`; the server's scheduler fires it.
 */
import { Dialog, Notification, showDialog, showErrorMessage } from '@jupyterlab/apputils';
import { Widget } from '@lumino/widgets';

import { APIError, errorMessage, requestAPI } from './api';
import { input, note, row } from './forms';
import { ISchedule } from './types';

/** The job part of a schedule, as the run dialog collected it. */
export interface IJobTemplate {
  notebook: string;
  name: string | null;
  parameters: { [name: string]: unknown };
  model: string | null;
}

interface IWhen {
  when: string;
  timezone: string;
}

class WhenForm extends Widget {
  constructor(template: IJobTemplate, raw: IWhen) {
    super();
    this.addClass('jp-modelshelf-form');
    this.node.dataset.testid = 'modelshelf-schedule-form';
    this._when = input('modelshelf-schedule-when', {
      value: raw.when,
      placeholder: '15m, 1h, or cron: 0 3 * * 1'
    });
    this._timezone = input('modelshelf-schedule-timezone', {
      value: raw.timezone,
      placeholder: browserZone()
    });
    this.node.append(
      note(`Runs ${template.notebook} as a job on a timetable, with the parameters you set.`),
      row('When', this._when, 'A rate (30s, 15m, 2h, 1d) or a cron expression (five fields).'),
      row('Time zone', this._timezone, "Of a cron expression (IANA name); default: this browser's.")
    );
  }

  getValue(): IWhen {
    return { when: this._when.value.trim(), timezone: this._timezone.value.trim() };
  }

  private _when: HTMLInputElement;
  private _timezone: HTMLInputElement;
}

/** The browser's IANA time zone: what a cron expression means when none is typed. */
function browserZone(): string {
  return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
}

/** A cron expression has five space-separated fields; anything else is a rate. */
export function timingOf(raw: IWhen): { cron?: string; every?: string; timezone?: string } {
  if (raw.when.split(/\s+/).length >= 5) {
    return { cron: raw.when, timezone: raw.timezone || browserZone() };
  }
  return { every: raw.when };
}

/** Ask when, then create the schedule; returns it, or null when cancelled. */
export async function scheduleJob(template: IJobTemplate): Promise<ISchedule | null> {
  let raw: IWhen = { when: '', timezone: '' };
  for (;;) {
    const result = await showDialog({
      title: 'Schedule the job',
      body: new WhenForm(template, raw),
      buttons: [Dialog.cancelButton(), Dialog.okButton({ label: 'Create schedule' })],
      focusNodeSelector: 'input'
    });
    if (!result.button.accept || !result.value) {
      return null;
    }
    raw = result.value;
    try {
      const schedule = await requestAPI<ISchedule>('schedules', {
        method: 'POST',
        body: { ...template, ...timingOf(raw) }
      });
      Notification.success(`Schedule ${schedule.name}: ${schedule.when}`, { autoClose: 4000 });
      return schedule;
    } catch (error) {
      await showErrorMessage('The server refused the schedule', errorMessage(error));
      if (!(error instanceof APIError && error.status === 400)) {
        return null;
      }
    }
  }
}
