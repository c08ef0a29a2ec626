/**
 * The requests the model page makes, one function each, over `requestAPI` (JSON) or the
 * file download route (text of small files for the compare view).
 */
import { ServerConnection } from '@jupyterlab/services';

import { APIError, apiURL, encodePath, requestAPI } from './api';
import { IAliasHistory, IModelDiff, IPageManifest, IVersionUsage } from './pageTypes';
import { IVersionListing } from './types';

const model = (name: string): string => `models/${encodeURIComponent(name)}`;
const version = (name: string, number: number): string => `${model(name)}/versions/${number}`;

export function fetchListing(name: string): Promise<IVersionListing> {
  return requestAPI<IVersionListing>(model(name));
}

export function fetchManifest(name: string, number: number): Promise<IPageManifest> {
  return requestAPI<IPageManifest>(version(name, number));
}

/** A manifest from a ref (`name:3`), for parents that may belong to another model. */
export function fetchManifestOf(ref: string): Promise<IPageManifest> {
  const match = /^(.*):(\d+)$/.exec(ref);
  if (!match) {
    return Promise.reject(new APIError(`not a name:version ref: ${ref}`, 400));
  }
  return fetchManifest(match[1], Number(match[2]));
}

export function fetchUsage(name: string, number: number): Promise<IVersionUsage> {
  return requestAPI<IVersionUsage>(`${version(name, number)}/usage`);
}

export function fetchAliasHistory(name: string, alias: string): Promise<IAliasHistory> {
  return requestAPI<IAliasHistory>(`${model(name)}/aliases/${encodeURIComponent(alias)}`);
}

export function fetchDiff(a: string, b: string): Promise<IModelDiff> {
  return requestAPI<IModelDiff>('diff', { query: { a, b } });
}

/** The URL the browser downloads a file of a version from (the session's cookie goes along). */
export function fileURL(name: string, number: number, path: string): string {
  return apiURL(`${version(name, number)}/files/${encodePath(path)}`);
}

/** A small file's text (the caller checks the size first, from the manifest). */
export async function fetchFileText(name: string, number: number, path: string): Promise<string> {
  const settings = ServerConnection.makeSettings();
  const response = await ServerConnection.makeRequest(
    fileURL(name, number, path),
    { method: 'GET' },
    settings
  );
  if (!response.ok) {
    throw new APIError(`${response.status} reading ${path} of ${name}:${number}`, response.status);
  }
  return response.text();
}
