/**
 * How any part of the extension opens a page in the main area (a model's page, a job's
 * page, a deployment's card) without holding the app: the plugin registers the openers
 * once at activation (index.ts), sections and pages call these functions.
 */

export interface IPageOpeners {
  /** The model's page; with a version, that version selected. */
  model(name: string, version?: number): void;
  job(id: string): void;
  /** The executed notebook of a job, opened as a notebook. */
  jobNotebook(id: string): void;
  deployment(name: string): void;
}

let openers: IPageOpeners | null = null;

/** Called once by the plugin. */
export function setPageOpeners(value: IPageOpeners): void {
  openers = value;
}

export function openModelPage(name: string, version?: number): void {
  openers?.model(name, version);
}

export function openJobPage(id: string): void {
  openers?.job(id);
}

export function openJobNotebook(id: string): void {
  openers?.jobNotebook(id);
}

export function openDeploymentCard(name: string): void {
  openers?.deployment(name);
}

/** `name:3` -> ["name", 3]; `name` -> ["name", undefined] (refs the pages link to). */
export function splitRef(ref: string): [string, number | undefined] {
  const match = /^(.*):(\d+)$/.exec(ref);
  return match ? [match[1], Number(match[2])] : [ref.split('@')[0], undefined];
}
