/**
 * Where a version came from and what uses it, as nodes and edges placed on a grid:
 * the chain of parents left to right ending at the version, the job that produced it and
 * the notebook the job ran above it, its dataset below, and its users (aliases, jobs,
 * deployments, child versions) in a column on the right. lineageGraph.tsx draws this.
 */
import { formatTime } from './format';
import { relativeTime } from './relativeTime';
import { IPageManifest, IVersionUsage } from './pageTypes';

export type NodeKind =
  'version' | 'focus' | 'job' | 'notebook' | 'dataset' | 'alias' | 'deployment' | 'user';

/** What clicking a node does. */
export type NodeAction =
  | { kind: 'version'; ref: string }
  | { kind: 'job'; id: string }
  | { kind: 'notebook'; jobId: string }
  | { kind: 'deployment'; name: string }
  | null;

export interface ILineageNode {
  id: string;
  kind: NodeKind;
  label: string;
  detail: string;
  tooltip: string;
  column: number;
  row: number;
  action: NodeAction;
}

export interface ILineageEdge {
  from: string;
  to: string;
  label: string;
}

export interface ILineage {
  nodes: ILineageNode[];
  edges: ILineageEdge[];
}

const short = (hash: unknown): string => (typeof hash === 'string' ? `${hash.slice(0, 12)}…` : '');

/** A lease owner "job train (20260101-...)" -> its job id; "deployment api" -> "api". */
export function holderAction(kind: string, owner: string): NodeAction {
  if (kind === 'job') {
    const match = /\(([^()]+)\)\s*$/.exec(owner);
    return match ? { kind: 'job', id: match[1] } : null;
  }
  if (kind === 'deployment') {
    return { kind: 'deployment', name: owner.replace(/^deployment\s+/, '') };
  }
  return null;
}

function versionNode(m: IPageManifest, column: number, focus: boolean): ILineageNode {
  const ref = `${m.name}:${m.version}`;
  return {
    id: ref,
    kind: focus ? 'focus' : 'version',
    label: focus ? ref : `${m.name === '' ? '' : m.name}:${m.version}`,
    detail: relativeTime(m.created_at),
    tooltip: `${ref} · ${m.source}`,
    column,
    row: 0,
    action: focus ? null : { kind: 'version', ref }
  };
}

/** The parent where the drawn chain stops: older than shown, or not readable. */
export interface IChainEnd {
  ref: string;
  why: 'older' | 'unreadable';
}

/**
 * The graph of `focus`, given its ancestors (nearest parent first), where the chain was cut
 * (`end`), and its users. Rows are counted from the chain's (above it negative) and
 * shifted so that the top row is 0.
 */
export function lineageLayout(
  focus: IPageManifest,
  ancestors: IPageManifest[],
  usage: IVersionUsage | null,
  end: IChainEnd | null
): ILineage {
  const missingParent = end?.ref ?? null;
  const nodes: ILineageNode[] = [];
  const edges: ILineageEdge[] = [];
  const chain = [...ancestors].reverse(); // oldest first, left to right
  const offset = missingParent ? 1 : 0;
  if (missingParent) {
    nodes.push({
      id: missingParent,
      kind: 'version',
      label: missingParent,
      detail: end?.why === 'older' ? 'older: click to follow' : '(not readable)',
      tooltip:
        end?.why === 'older'
          ? `${missingParent} and its parents: click to see its own lineage`
          : `${missingParent} could not be read (deleted?)`,
      column: 0,
      row: 0,
      action: end?.why === 'older' ? { kind: 'version', ref: missingParent } : null
    });
  }
  chain.forEach((m, index) => nodes.push(versionNode(m, index + offset, false)));
  const focusColumn = chain.length + offset;
  const focusNode = versionNode(focus, focusColumn, true);
  nodes.push(focusNode);
  const refs = [
    ...(missingParent ? [missingParent] : []),
    ...chain.map(m => `${m.name}:${m.version}`),
    focusNode.id
  ];
  for (let i = 1; i < refs.length; i++) {
    edges.push({ from: refs[i - 1], to: refs[i], label: 'parent of' });
  }

  const job = (focus.job ?? null) as { id?: string; name?: string } | null;
  if (job && (job.id || job.name)) {
    const id = `job:${job.id ?? job.name}`;
    nodes.push({
      id,
      kind: 'job',
      label: `job ${job.name ?? ''}`.trim(),
      detail: job.id ?? '',
      tooltip: `the job that saved ${focusNode.id}; click to open its page`,
      column: focusColumn,
      row: -1,
      action: job.id ? { kind: 'job', id: job.id } : null
    });
    edges.push({ from: id, to: focusNode.id, label: 'saved' });
    if (focus.notebook) {
      const name = focus.notebook.split('/').pop() ?? focus.notebook;
      nodes.push({
        id: 'notebook',
        kind: 'notebook',
        label: name,
        detail: 'executed notebook',
        tooltip: `${focus.notebook}; click to open the executed notebook`,
        column: focusColumn,
        row: -2,
        action: job.id ? { kind: 'notebook', jobId: job.id } : null
      });
      edges.push({ from: 'notebook', to: id, label: 'ran' });
    }
  } else if (focus.notebook) {
    nodes.push({
      id: 'notebook',
      kind: 'notebook',
      label: focus.notebook.split('/').pop() ?? '',
      detail: 'notebook',
      tooltip: focus.notebook,
      column: focusColumn,
      row: -1,
      action: null
    });
    edges.push({ from: 'notebook', to: focusNode.id, label: 'saved' });
  }
  const dataset = focus.dataset;
  // The store records a dataset's `ref` (where it was read from); `uri` in older records.
  const where = dataset ? (dataset['ref'] ?? dataset.uri) : undefined;
  if (dataset && (where || dataset.sha256)) {
    const uri = String(where ?? '');
    nodes.push({
      id: 'dataset',
      kind: 'dataset',
      label: uri.split('/').filter(Boolean).pop() ?? 'dataset',
      detail: dataset.sha256 ? `sha256 ${short(dataset.sha256)}` : '',
      tooltip: `${uri}${dataset.sha256 ? `\nsha256 ${dataset.sha256}` : ''}`,
      column: focusColumn,
      row: 1,
      action: null
    });
    edges.push({ from: 'dataset', to: focusNode.id, label: 'trained on' });
  }

  const users: Omit<ILineageNode, 'column' | 'row'>[] = [];
  for (const alias of usage?.aliases ?? []) {
    users.push({
      id: `alias:${alias}`,
      kind: 'alias',
      label: `@${alias}`,
      detail: 'alias',
      tooltip: `${focus.name}@${alias} points here`,
      action: null
    });
  }
  for (const holder of usage?.holders ?? []) {
    users.push({
      id: `holder:${holder.owner}`,
      kind: holder.kind === 'deployment' ? 'deployment' : 'user',
      label: holder.owner,
      detail: `uses it (lease until ${formatTime(holder.expires_at)})`,
      tooltip: `${holder.owner} holds a lease on ${focusNode.id}`,
      action: holderAction(holder.kind, holder.owner)
    });
  }
  for (const child of usage?.children ?? []) {
    users.push({
      id: `child:${child}`,
      kind: 'version',
      label: child,
      detail: 'child version',
      tooltip: `${child} names ${focusNode.id} as its parent`,
      action: { kind: 'version', ref: child }
    });
  }
  // Users in a column centred on the chain's row.
  const first = -Math.floor((users.length - 1) / 2);
  users.forEach((user, index) => {
    nodes.push({ ...user, column: focusColumn + 1, row: first + index });
    edges.push({
      from: focusNode.id,
      to: user.id,
      label: user.kind === 'version' ? 'parent of' : 'used by'
    });
  });
  const top = Math.min(...nodes.map(n => n.row));
  return { nodes: nodes.map(n => ({ ...n, row: n.row - top })), edges };
}
