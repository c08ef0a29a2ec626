/**
 * A JupyterLab notification when a job launched from this browser ends, with a button
 * that opens its page. The launched jobs are remembered in localStorage, so a reload
 * does not lose them; each is asked about every few seconds until it ends, whether or
 * not the sidebar is open.
 */
import { Notification } from '@jupyterlab/apputils';
import { Poll } from '@lumino/polling';

import { APIError, requestAPI } from './api';
import { openJobPage } from './pageOpeners';
import { IJob } from './types';

const STORAGE_KEY = 'modelshelf:launched-jobs';
const ACTIVE = new Set(['queued', 'running']);

function load(): Map<string, string> {
  try {
    const stored = JSON.parse(window.localStorage.getItem(STORAGE_KEY) ?? '{}');
    return new Map(Object.entries(stored as { [id: string]: string }));
  } catch {
    return new Map();
  }
}

function save(jobs: Map<string, string>): void {
  try {
    window.localStorage.setItem(STORAGE_KEY, JSON.stringify(Object.fromEntries(jobs)));
  } catch {
    // Storage full or refused (private mode): notifications last for this page only.
  }
}

/** The notification of a job that ended; exported for the tests of its wording. */
export function notifyEnded(job: IJob): void {
  const actions = [{ label: 'Open job page', callback: () => openJobPage(job.id) }];
  const outputs = (job.outputs ?? []).length ? ` → ${(job.outputs ?? []).join(', ')}` : '';
  if (job.status === 'succeeded') {
    Notification.success(`Job ${job.name} succeeded${outputs}`, { autoClose: false, actions });
  } else {
    const reason = job.error ? `: ${job.error.split('\n')[0]}` : '';
    Notification.error(`Job ${job.name} ${job.status}${reason}`, { autoClose: false, actions });
  }
}

class JobNotifier {
  constructor() {
    this._jobs = load();
    this._poll = new Poll({
      factory: () => this._check(),
      frequency: { interval: 2000, backoff: true, max: 30 * 1000 },
      name: 'modelshelf:job-notifier'
    });
  }

  watch(job: IJob): void {
    this._jobs.set(job.id, job.name);
    save(this._jobs);
    void this._poll.refresh();
  }

  private async _check(): Promise<void> {
    for (const id of [...this._jobs.keys()]) {
      let job: IJob;
      try {
        job = await requestAPI<IJob>(`jobs/${encodeURIComponent(id)}`);
      } catch (error) {
        if (error instanceof APIError && error.status === 404) {
          this._jobs.delete(id); // pruned or from another server: nothing to say
          save(this._jobs);
          continue;
        }
        throw error; // the server is away: back off
      }
      if (!ACTIVE.has(job.status)) {
        this._jobs.delete(id);
        save(this._jobs);
        notifyEnded(job);
      }
    }
  }

  private _jobs: Map<string, string>;
  private _poll: Poll;
}

let notifier: JobNotifier | null = null;

/** Notify when `job` (just launched from this browser) ends. */
export function watchLaunchedJob(job: IJob): void {
  notifier ??= new JobNotifier();
  notifier.watch(job);
}

/** Start following the jobs launched before a reload (called once by the plugin). */
export function resumeJobNotifications(): void {
  if (load().size > 0) {
    notifier ??= new JobNotifier();
  }
}
