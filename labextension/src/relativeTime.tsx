/**
 * Times as people read them in a narrow column: "5 min ago", "yesterday", "3 Mar",
 * with the full local date and time on hover (and in `dateTime` for machines).
 */
import * as React from 'react';

import { formatTime } from './format';

const MINUTE = 60;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;

/** An ISO string or epoch seconds as a Date, or null when it is not a time. */
export function toDate(value: string | number | null | undefined): Date | null {
  if (value === null || value === undefined || value === '') {
    return null;
  }
  const date = typeof value === 'number' ? new Date(value * 1000) : new Date(value);
  return Number.isNaN(date.getTime()) ? null : date;
}

/**
 * "just now", "42 s ago", "5 min ago", "3 h ago", "yesterday", "4 days ago", then the
 * date ("3 Mar", or "3 Mar 2025" in another year). Times ahead say "in 5 min".
 */
export function relativeTime(value: string | number | null | undefined, now = Date.now()): string {
  const date = toDate(value);
  if (!date) {
    return value === null || value === undefined ? '' : String(value);
  }
  const seconds = Math.round((now - date.getTime()) / 1000);
  const ahead = seconds < 0;
  const span = Math.abs(seconds);
  const say = (text: string): string => (ahead ? `in ${text}` : `${text} ago`);
  if (span < 10) {
    return 'just now';
  }
  if (span < MINUTE) {
    return say(`${span} s`);
  }
  if (span < HOUR) {
    return say(`${Math.floor(span / MINUTE)} min`);
  }
  if (span < DAY) {
    return say(`${Math.floor(span / HOUR)} h`);
  }
  if (!ahead && span < 2 * DAY) {
    return 'yesterday';
  }
  if (span < 7 * DAY) {
    return say(`${Math.floor(span / DAY)} days`);
  }
  const sameYear = date.getFullYear() === new Date(now).getFullYear();
  return date.toLocaleDateString(undefined, {
    day: 'numeric',
    month: 'short',
    ...(sameYear ? {} : { year: 'numeric' })
  });
}

/** A `<time>` showing the relative time, the absolute one in its tooltip. */
export function Time(props: {
  value: string | number | null | undefined;
  prefix?: string;
  className?: string;
}): JSX.Element | null {
  const date = toDate(props.value);
  if (!date) {
    return null;
  }
  return (
    <time
      className={props.className}
      dateTime={date.toISOString()}
      title={`${props.prefix ? `${props.prefix} ` : ''}${formatTime(props.value)}`}
    >
      {props.prefix ? `${props.prefix} ` : ''}
      {relativeTime(props.value)}
    </time>
  );
}
