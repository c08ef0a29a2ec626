/**
 * The one way the sidebar talks to the server extension.
 *
 * Every call goes through `ServerConnection.makeRequest`, which adds the token and the
 * `_xsrf` header that Jupyter's authentication needs; errors become `APIError`s carrying
 * the server's own message, so that the UI can show exactly what the server said.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';

/** The route prefix of the server extension, relative to the server's base URL. */
const API_ROOT = 'modelshelf/api';

/** An answer other than 2xx, or no answer at all. */
export class APIError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly body: { [key: string]: unknown } = {}
  ) {
    super(message);
    this.name = 'APIError';
  }

  /** The names of the jobs/deployments holding a version (a 409 on delete). */
  get holders(): string[] {
    const holders = this.body['holders'];
    return Array.isArray(holders) ? holders.map(String) : [];
  }
}

/** `name`, `a/b.txt`: one encoded path segment per segment, so `/` stays a separator. */
export function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** The absolute URL of a route (for links the browser follows itself, e.g. downloads). */
export function apiURL(
  route: string,
  query: Record<string, string | undefined> = {},
  settings = ServerConnection.makeSettings()
): string {
  const url = URLExt.join(settings.baseUrl, API_ROOT, route);
  const params = Object.entries(query).filter(([, v]) => v !== undefined && v !== '');
  if (params.length === 0) {
    return url;
  }
  return url + URLExt.objectToQueryString(Object.fromEntries(params) as Record<string, string>);
}

/** Options of `requestAPI`: the fetch init plus an optional JSON body and query. */
export interface IRequestOptions {
  method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  body?: unknown;
  query?: Record<string, string | undefined>;
}

/**
 * Call a route of the REST API and return its JSON answer.
 *
 * @throws APIError with the server's `message` (or the HTTP reason) for any non-2xx answer.
 */
export async function requestAPI<T>(route: string, options: IRequestOptions = {}): Promise<T> {
  const settings = ServerConnection.makeSettings();
  const url = apiURL(route, options.query, settings);
  const init: RequestInit = { method: options.method ?? 'GET' };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers = { 'Content-Type': 'application/json' };
  }
  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    // No answer at all (server stopped, network down).
    throw new APIError(`The Jupyter server did not answer: ${String(error)}`, 0);
  }
  const text = await response.text();
  let data: unknown = undefined;
  if (text.length > 0) {
    try {
      data = JSON.parse(text);
    } catch {
      data = undefined;
    }
  }
  if (!response.ok) {
    const body = (data && typeof data === 'object' ? data : {}) as { [key: string]: unknown };
    const message =
      typeof body['message'] === 'string' && body['message']
        ? (body['message'] as string)
        : `${response.status} ${response.statusText || 'error'} from ${route}` +
          (response.status === 404 && !data
            ? ' (is the modelshelf server extension enabled?)'
            : '');
    throw new APIError(message, response.status, body);
  }
  return data as T;
}

/** The message of anything thrown, for an error line or dialog. */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return String(error);
}
