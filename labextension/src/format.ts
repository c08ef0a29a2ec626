/** Small formatters shared by the sections: sizes, durations, dates, refs. */

/** 1536 -> "1.5 KB" (powers of 1024, as the CLI prints them). */
export function formatBytes(size: number | null | undefined): string {
  if (size === null || size === undefined || !Number.isFinite(size)) {
    return '';
  }
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = size;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

/** Seconds -> "4.2s", "3m 05s", "2h 03m". */
export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) {
    return '';
  }
  if (seconds < 60) {
    return `${seconds.toFixed(seconds < 10 ? 1 : 0)}s`;
  }
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) {
    return `${minutes}m ${String(Math.floor(seconds % 60)).padStart(2, '0')}s`;
  }
  return `${Math.floor(minutes / 60)}h ${String(minutes % 60).padStart(2, '0')}m`;
}

/** An ISO string or epoch seconds -> the browser's local date and time. */
export function formatTime(value: string | number | null | undefined): string {
  if (value === null || value === undefined || value === '') {
    return '';
  }
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? String(value) : date.toLocaleString();
}

/** A JSON value as a short single line (params and metrics tables). */
export function formatValue(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  return JSON.stringify(value) ?? String(value);
}

/** The seconds a job has run: the server's figure once it ended, else counted here. */
export function jobElapsed(job: {
  elapsed?: number | null;
  started_at?: number | null;
  ended_at?: number | null;
}): number | null {
  if (job.elapsed !== null && job.elapsed !== undefined) {
    return job.elapsed;
  }
  if (job.started_at) {
    const end = job.ended_at ?? Date.now() / 1000;
    return Math.max(0, end - job.started_at);
  }
  return null;
}
