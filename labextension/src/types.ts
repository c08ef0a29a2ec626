/**
 * The REST shapes of the modelshelf server extension, as written in
 * src/modelshelf/server/openapi.yaml. Only the fields the sidebar reads are typed.
 */

export type JSONObject = { [key: string]: unknown };

export interface IModelSummary {
  name: string;
  latest: number;
  versions: number;
  updated_at?: number | null;
  tags: string[];
}

export interface IModelPage {
  models: IModelSummary[];
  total: number;
  offset: number;
  limit: number;
}

export interface IVersionSummary {
  version: number;
  ref: string;
  created_at: string;
  size: number;
  file_count: number;
  source: string;
  parent?: string | null;
  params: JSONObject;
  metrics: JSONObject;
  tags: string[];
  aliases: string[];
}

export interface IVersionListing {
  name: string;
  aliases: { [alias: string]: number };
  versions: IVersionSummary[];
}

export interface IFileEntry {
  path: string;
  size: number;
  /** The file's digest, by the store's algorithm (BLAKE3 in new stores, sha256 before). */
  digest: string;
  algorithm: 'sha256' | 'blake3';
  /** The same digest under its algorithm's name, as the manifest records it. */
  sha256?: string | null;
  blake3?: string | null;
  mode?: number;
}

export interface IModelVersion {
  name: string;
  version: number;
  created_at: string;
  source: string;
  size: number;
  file_count: number;
  files: IFileEntry[];
  parent?: string | null;
  params: JSONObject;
  metrics: JSONObject;
  tags: string[];
  dataset?: { uri?: string; sha256?: string; [key: string]: unknown } | null;
  message?: string | null;
  job?: { id?: string; name?: string; [key: string]: unknown } | null;
  notebook?: string | null;
  environment?: JSONObject;
}

export interface ITaskProgress {
  phase?: string;
  done_bytes?: number;
  total_bytes?: number;
  done_files?: number;
  total_files?: number;
}

export interface ITask {
  id: string;
  kind: 'save' | 'deploy';
  description: string;
  status: 'running' | 'succeeded' | 'failed';
  progress?: ITaskProgress | null;
  result?: unknown;
  error?: string | null;
  started_at: number;
  ended_at?: number | null;
}

export interface INotebookParameter {
  name: string;
  type: string;
  default?: unknown;
  default_source?: string;
  help?: string;
}

export interface INotebookParameters {
  path: string;
  parameters: INotebookParameter[];
}

export type JobStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

export interface IJob {
  id: string;
  name: string;
  status: JobStatus | string;
  created_at: number;
  started_at?: number | null;
  ended_at?: number | null;
  elapsed?: number | null;
  notebook: string;
  parameters: JSONObject;
  output?: string | null;
  workers?: number;
  executor?: string;
  error?: string | null;
  outputs?: string[];
}

export interface IJobLogs {
  text: string;
  cursor: string;
  finished: boolean;
}

export interface IDeployment {
  name: string;
  mode: string;
  status: 'starting' | 'ready' | 'failed' | 'stopped' | string;
  url: string;
  refs: string[];
  workers?: number;
  error?: string | null;
  // How it serves, when not the model folder's own way: the handler service, the
  // model-data prefix, the names of the variables set for it (never their values).
  serving?: { handler?: string; model_data?: string; model_data_cache?: number; env?: string[] };
  // A live deployment's figures (requests, errors, last minute's latency, loaded models).
  live?: ILiveFigures | null;
  created_at: number;
  ready_at?: number | null;
  stopped_at?: number | null;
}

export interface ILiveFigures {
  requests: number;
  server_errors: number;
  client_errors: number;
  last_minute: number;
  p50_ms: number | null;
  p99_ms: number | null;
  batch_sizes: { [size: string]: number };
  models: { [name: string]: { [key: string]: unknown } };
  processes: number;
  cpu_seconds: number;
  rss_bytes: number;
}

/** One run of a schedule, as its record in the store says (newest first in `runs`). */
export interface IScheduleRun {
  due: number;
  reason: 'on time' | 'catch-up' | 'manual' | string;
  status: string;
  attempts?: { job_id: string | null; status: string; error?: string | null }[];
  error?: string | null;
}

export interface ISchedule {
  name: string;
  paused: boolean;
  cron?: string | null;
  timezone?: string | null;
  every?: number | null;
  when: string;
  next_due?: number | null;
  template: JSONObject;
  missed: string;
  max_retries: number;
  notify?: string | null;
  last_status?: string | null;
  runs: IScheduleRun[];
}
