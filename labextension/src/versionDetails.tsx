/**
 * One version's metadata, as the Models section shows it under the selected version:
 * what it is (created, size, source), what made it (params, metrics, lineage) and its
 * files, each a download link the browser follows with the session's cookie.
 */
import * as React from 'react';
import { copyIcon, deleteIcon, downloadIcon, launchIcon } from '@jupyterlab/ui-components';

import { apiURL, encodePath } from './api';
import { formatBytes, formatValue } from './format';
import { Time } from './relativeTime';
import { IModelVersion, JSONObject } from './types';

interface IProps {
  detail: IModelVersion;
  aliases: string[];
  onCopyRef: (ref: string) => void;
  onDelete: (name: string, version: number) => void;
  onDeploy: (ref: string) => void;
  onOpenPage: (name: string, version: number) => void;
}

/** A two-column table of key/value rows; rows with an empty value are left out. */
function Table(props: { rows: [string, React.ReactNode][]; testid?: string }): JSX.Element {
  const rows = props.rows.filter(([, v]) => v !== '' && v !== null && v !== undefined);
  return (
    <table className="jp-modelshelf-kv" data-testid={props.testid}>
      <tbody>
        {rows.map(([key, value]) => (
          <tr key={key}>
            <th>{key}</th>
            <td>{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** Params or metrics: a heading and its table, or nothing when empty. */
function Mapping(props: { title: string; values: JSONObject; testid: string }): JSX.Element | null {
  const entries = Object.entries(props.values ?? {});
  if (entries.length === 0) {
    return null;
  }
  return (
    <div className="jp-modelshelf-detail-group">
      <h4>{props.title}</h4>
      <Table testid={props.testid} rows={entries.map(([k, v]) => [k, formatValue(v)])} />
    </div>
  );
}

/** A sha256 shortened for the eye, whole in the tooltip and when copied. */
function Hash(props: { value?: string }): JSX.Element | null {
  if (!props.value) {
    return null;
  }
  return (
    <code title={props.value} className="jp-modelshelf-hash">
      {props.value.slice(0, 12)}…
    </code>
  );
}

function lineageRows(detail: IModelVersion): [string, React.ReactNode][] {
  const job = detail.job;
  const dataset = detail.dataset;
  return [
    ['Parent', detail.parent ?? ''],
    ['Job', job ? `${job.name ?? ''}${job.id ? ` (${job.id})` : ''}` : ''],
    // The store records where a dataset was read from as `ref` (`uri` in older records).
    ['Dataset', String(dataset?.['ref'] ?? dataset?.uri ?? '')],
    ['Dataset sha256', dataset?.sha256 ? <Hash value={String(dataset.sha256)} /> : ''],
    ['Notebook', detail.notebook ?? '']
  ];
}

export function VersionDetails(props: IProps): JSX.Element {
  const { detail } = props;
  const ref = `${detail.name}:${detail.version}`;
  const lineage = lineageRows(detail).filter(([, v]) => v !== '');
  const fileRoute = (path: string): string =>
    apiURL(
      `models/${encodeURIComponent(detail.name)}/versions/${detail.version}/files/${encodePath(path)}`
    );
  return (
    <div className="jp-modelshelf-details" data-testid="modelshelf-version-details" data-ref={ref}>
      <div className="jp-modelshelf-actions">
        <button
          className="jp-modelshelf-button"
          data-testid="modelshelf-open-version-page"
          title={`Open ${ref} on the model's page (charts, compare, lineage)`}
          onClick={() => props.onOpenPage(detail.name, detail.version)}
        >
          <launchIcon.react tag="span" className="jp-modelshelf-button-icon" /> Page
        </button>
        <button
          className="jp-modelshelf-button"
          data-testid="modelshelf-copy-ref"
          title={`Copy "${ref}" to the clipboard`}
          onClick={() => props.onCopyRef(ref)}
        >
          <copyIcon.react tag="span" className="jp-modelshelf-button-icon" /> Copy ref
        </button>
        <button
          className="jp-modelshelf-button"
          data-testid="modelshelf-deploy-version"
          title={`Serve ${ref} over HTTP`}
          onClick={() => props.onDeploy(ref)}
        >
          Deploy…
        </button>
        <button
          className="jp-modelshelf-button jp-mod-danger"
          data-testid="modelshelf-delete-version"
          title={`Delete ${ref} from the store`}
          onClick={() => props.onDelete(detail.name, detail.version)}
        >
          <deleteIcon.react tag="span" className="jp-modelshelf-button-icon" /> Delete
        </button>
      </div>
      <Table
        testid="modelshelf-version-summary"
        rows={[
          ['Ref', <code key="ref">{ref}</code>],
          ['Created', <Time key="created" value={detail.created_at} />],
          ['Size', `${formatBytes(detail.size)} in ${detail.file_count} file(s)`],
          ['Source', detail.source ?? ''],
          ['Message', detail.message ?? ''],
          ['Tags', (detail.tags ?? []).join(', ')],
          ['Aliases', props.aliases.join(', ')]
        ]}
      />
      <Mapping title="Params" values={detail.params} testid="modelshelf-version-params" />
      <Mapping title="Metrics" values={detail.metrics} testid="modelshelf-version-metrics" />
      {lineage.length > 0 && (
        <div className="jp-modelshelf-detail-group">
          <h4>Lineage</h4>
          <Table testid="modelshelf-version-lineage" rows={lineage} />
        </div>
      )}
      <div className="jp-modelshelf-detail-group">
        <h4>Files</h4>
        <ul className="jp-modelshelf-files" data-testid="modelshelf-version-files">
          {(detail.files ?? []).map(file => (
            <li key={file.path}>
              <a
                href={fileRoute(file.path)}
                download={file.path.split('/').pop()}
                title={`Download ${file.path} (${file.algorithm} ${file.digest})`}
              >
                <downloadIcon.react tag="span" className="jp-modelshelf-button-icon" />
                {file.path}
              </a>
              <span className="jp-modelshelf-meta">{formatBytes(file.size)}</span>
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}
