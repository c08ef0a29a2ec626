/**
 * The evaluation scores of a model's versions, for the Metrics tab. The versions listing
 * carries no evaluations (only a version's own answer does), so they are read from the
 * versions' answers, a few requests at a time, once per page load; a listing that does
 * carry them (`evaluations` on its entries) is used as it is.
 */
import { fetchManifest } from './modelData';
import { IEvaluation, IPageVersion } from './pageTypes';

/** Requests in flight at once: enough to be quick, few enough not to crowd the server. */
const PARALLEL = 6;

export type EvaluationsByVersion = Map<number, IEvaluation[]>;

/** The evaluations the listing already has, or null when it has none to give. */
function fromListing(versions: IPageVersion[]): EvaluationsByVersion | null {
  if (!versions.some(v => Array.isArray(v.evaluations))) {
    return null;
  }
  return new Map(versions.map(v => [v.version, v.evaluations ?? []]));
}

/** Every version's evaluations, by version number (none for a version that has none). */
export async function loadEvaluations(
  name: string,
  versions: IPageVersion[]
): Promise<EvaluationsByVersion> {
  const listed = fromListing(versions);
  if (listed) {
    return listed;
  }
  const found: EvaluationsByVersion = new Map();
  const queue = versions.map(v => v.version);
  const worker = async (): Promise<void> => {
    for (let next = queue.shift(); next !== undefined; next = queue.shift()) {
      const number = next;
      const manifest = await fetchManifest(name, number).catch(() => null);
      found.set(number, manifest?.evaluations ?? []);
    }
  };
  await Promise.all(Array.from({ length: Math.min(PARALLEL, queue.length) }, worker));
  return found;
}

/** The versions with their evaluations attached, for the charts. */
export function withEvaluations(
  versions: IPageVersion[],
  evaluations: EvaluationsByVersion | null
): IPageVersion[] {
  if (!evaluations) {
    return versions;
  }
  return versions.map(v => ({ ...v, evaluations: evaluations.get(v.version) ?? [] }));
}
