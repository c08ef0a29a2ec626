/**
 * The REST shapes the model, job and deployment pages read beyond the sidebar's
 * (types.ts): what uses a version, an alias's history, a diff, evaluation records.
 * As written in src/modelshelf/server/openapi.yaml.
 */
import { IModelVersion, IVersionSummary } from './types';

/** One evaluation of a version (added by the pipelines work; absent on older servers). */
export interface IEvaluation {
  score: number;
  data?: string | null;
  data_hash?: string | null;
  created: number;
  job?: string | null;
  pipeline: 'evaluate' | 'full' | string;
}

/** A version as the page reads it: the listing's summary, maybe with evaluations. */
export type IPageVersion = IVersionSummary & {
  job?: { id?: string; name?: string; [key: string]: unknown } | null;
  notebook?: string | null;
  evaluations?: IEvaluation[];
};

/** A manifest, maybe with evaluations. */
export type IPageManifest = IModelVersion & { evaluations?: IEvaluation[] };

export interface IHolder {
  kind: 'job' | 'deployment' | 'other';
  owner: string;
  expires_at: number;
}

export interface IVersionUsage {
  ref: string;
  aliases: string[];
  holders: IHolder[];
  children: string[];
}

export interface IAliasMove {
  name: string;
  alias: string;
  seq: number;
  version: number | null;
  moved_at: string;
  moved_by: string;
}

export interface IAliasHistory {
  name: string;
  alias: string;
  moves: IAliasMove[];
}

export interface IModelDiff {
  a: string;
  b: string;
  added: string[];
  removed: string[];
  changed: string[];
  params: { [key: string]: { a: unknown; b: unknown } };
  metrics: { [key: string]: { a: unknown; b: unknown } };
  same_files: boolean;
}
