/**
 * The model page's versions table: one row per version, params and metrics as columns,
 * sorted by any column (click its header; again to reverse), the columns to show chosen
 * by the user. Clicking a row selects that version for the lineage and files views.
 */
import * as React from 'react';

import { formatBytes, formatValue } from './format';
import { openJobPage } from './pageOpeners';
import { IPageVersion } from './pageTypes';
import { Time } from './relativeTime';

/** A column: a fixed field of the version, or one param or metric. */
export interface IColumn {
  id: string;
  label: string;
  group: 'version' | 'params' | 'metrics';
  value: (v: IPageVersion) => unknown;
  render?: (v: IPageVersion) => React.ReactNode;
}

const BASE_COLUMNS: IColumn[] = [
  {
    id: 'version',
    label: 'Version',
    group: 'version',
    value: v => v.version,
    render: v => `v${v.version}`
  },
  {
    id: 'aliases',
    label: 'Aliases',
    group: 'version',
    value: v => (v.aliases ?? []).join(','),
    render: v =>
      (v.aliases ?? []).map(a => (
        <span key={a} className="jp-modelshelf-chip">
          @{a}
        </span>
      ))
  },
  {
    id: 'created',
    label: 'Created',
    group: 'version',
    value: v => Date.parse(v.created_at),
    render: v => <Time value={v.created_at} />
  },
  {
    id: 'size',
    label: 'Size',
    group: 'version',
    value: v => v.size,
    render: v => formatBytes(v.size)
  },
  {
    id: 'source',
    label: 'Source',
    group: 'version',
    value: v => v.source,
    render: v => <span title={v.source}>{v.source}</span>
  },
  { id: 'job', label: 'Job', group: 'version', value: v => jobLabel(v), render: v => renderJob(v) }
];

function jobLabel(v: IPageVersion): string {
  const job = (v.job ?? {}) as { name?: string; id?: string };
  return job.name ?? job.id ?? '';
}

function renderJob(v: IPageVersion): React.ReactNode {
  const job = (v.job ?? {}) as { name?: string; id?: string };
  if (!job.id) {
    return jobLabel(v);
  }
  return (
    <a
      href="#"
      title={`Open the page of job ${job.name ?? ''} (${job.id})`}
      onClick={event => {
        event.preventDefault();
        event.stopPropagation();
        openJobPage(String(job.id));
      }}
    >
      {jobLabel(v)}
    </a>
  );
}

/** Every column the versions have: the fixed ones, then each param and metric key. */
export function allColumns(versions: IPageVersion[]): IColumn[] {
  const keys = (group: 'params' | 'metrics'): string[] =>
    [...new Set(versions.flatMap(v => Object.keys(v[group] ?? {})))].sort();
  const mapped = (group: 'params' | 'metrics'): IColumn[] =>
    keys(group).map(key => ({
      id: `${group}.${key}`,
      label: key,
      group,
      value: v => (v[group] ?? {})[key],
      render: v => formatValue((v[group] ?? {})[key] ?? '')
    }));
  return [...BASE_COLUMNS, ...mapped('params'), ...mapped('metrics')];
}

/** Numbers before text, missing values last, whatever the direction. */
function compareValues(a: unknown, b: unknown): number {
  const missing = (x: unknown): boolean => x === undefined || x === null || x === '';
  if (missing(a) || missing(b)) {
    return missing(a) === missing(b) ? 0 : missing(a) ? 1 : -1;
  }
  if (typeof a === 'number' && typeof b === 'number') {
    return a - b;
  }
  return formatValue(a).localeCompare(formatValue(b), undefined, { numeric: true });
}

interface IProps {
  versions: IPageVersion[];
  selected: number | null;
  onSelect: (version: number) => void;
}

export function VersionsTable(props: IProps): JSX.Element {
  const columns = React.useMemo(() => allColumns(props.versions), [props.versions]);
  const [hidden, setHidden] = React.useState<Set<string>>(new Set());
  const [sort, setSort] = React.useState<{ id: string; descending: boolean }>({
    id: 'version',
    descending: true
  });
  const [choosing, setChoosing] = React.useState(false);
  const shown = columns.filter(c => !hidden.has(c.id));
  const sortColumn = columns.find(c => c.id === sort.id) ?? columns[0];
  const rows = React.useMemo(() => {
    const sorted = [...props.versions].sort((a, b) => {
      const order = compareValues(sortColumn.value(a), sortColumn.value(b));
      return sort.descending ? -order : order;
    });
    return sorted;
  }, [props.versions, sortColumn, sort.descending]);

  const toggleColumn = (id: string): void => {
    const next = new Set(hidden);
    if (next.has(id)) {
      next.delete(id);
    } else {
      next.add(id);
    }
    setHidden(next);
  };
  const sortBy = (id: string): void =>
    setSort(sort.id === id ? { id, descending: !sort.descending } : { id, descending: false });

  return (
    <div className="jp-modelshelf-versions-table" data-testid="modelshelf-versions-table">
      <div className="jp-modelshelf-toolbar">
        <span className="jp-modelshelf-meta">
          {props.versions.length} version{props.versions.length === 1 ? '' : 's'}
        </span>
        <button
          className="jp-modelshelf-button"
          data-testid="modelshelf-columns-button"
          aria-expanded={choosing}
          onClick={() => setChoosing(!choosing)}
        >
          Columns…
        </button>
      </div>
      {choosing && (
        <fieldset className="jp-modelshelf-columns" data-testid="modelshelf-columns">
          {(['version', 'params', 'metrics'] as const).map(group => (
            <div key={group} className="jp-modelshelf-column-group">
              <span className="jp-modelshelf-column-group-title">{group}</span>
              {columns
                .filter(c => c.group === group)
                .map(c => (
                  <label key={c.id}>
                    <input
                      type="checkbox"
                      data-column={c.id}
                      checked={!hidden.has(c.id)}
                      disabled={c.id === 'version'}
                      onChange={() => toggleColumn(c.id)}
                    />
                    {c.label}
                  </label>
                ))}
            </div>
          ))}
        </fieldset>
      )}
      <div className="jp-modelshelf-table-scroll">
        <table className="jp-modelshelf-grid">
          <thead>
            <tr>
              {shown.map(c => (
                <th
                  key={c.id}
                  className={`jp-modelshelf-col-${c.group}`}
                  data-column={c.id}
                  aria-sort={
                    sort.id === c.id ? (sort.descending ? 'descending' : 'ascending') : 'none'
                  }
                >
                  <button
                    className="jp-modelshelf-sort"
                    title={`Sort by ${c.label}${c.group === 'version' ? '' : ` (${c.group})`}`}
                    onClick={() => sortBy(c.id)}
                  >
                    {c.label}
                    {sort.id === c.id ? (sort.descending ? ' ▾' : ' ▴') : ''}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            {rows.map(v => (
              <tr
                key={v.version}
                data-testid="modelshelf-version-table-row"
                data-version={v.version}
                className={v.version === props.selected ? 'jp-mod-selected' : ''}
                tabIndex={0}
                aria-selected={v.version === props.selected}
                onClick={() => props.onSelect(v.version)}
                onKeyDown={event => {
                  if (event.key === 'Enter' || event.key === ' ') {
                    event.preventDefault();
                    props.onSelect(v.version);
                  }
                }}
              >
                {shown.map(c => (
                  <td
                    key={c.id}
                    data-column={c.id}
                    className={`jp-modelshelf-col-${c.group}`}
                    title={c.group === 'version' ? undefined : formatValue(c.value(v) ?? '')}
                  >
                    {c.render ? c.render(v) : formatValue(c.value(v) ?? '')}
                  </td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </div>
  );
}
