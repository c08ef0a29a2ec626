/**
 * The evaluation scores of a model's versions, for the Metrics tab: the versions listing
 * (`GET /models/{name}`) carries each version's `evaluations`, read on the server from one
 * listing of the model's records.
 */
import { IEvaluation, IPageVersion } from './pageTypes';

export type EvaluationsByVersion = Map<number, IEvaluation[]>;

/** Every version's evaluations, by version number (none for a version that has none). */
export async function loadEvaluations(versions: IPageVersion[]): Promise<EvaluationsByVersion> {
  return new Map(versions.map(v => [v.version, v.evaluations ?? []]));
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
