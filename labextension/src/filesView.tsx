/**
 * A version's files as a tree (folders first, each with the size of what it holds), each
 * file a download link; and the model's aliases with the history of their moves.
 */
import * as React from 'react';
import { downloadIcon, folderIcon } from '@jupyterlab/ui-components';

import { errorMessage } from './api';
import { formatBytes } from './format';
import { fetchAliasHistory, fileURL } from './modelData';
import { IAliasHistory, IPageManifest } from './pageTypes';
import { Time } from './relativeTime';
import { renderError } from './section';
import { IFileEntry } from './types';

interface ITreeNode {
  name: string;
  path: string;
  size: number;
  file?: IFileEntry;
  children: Map<string, ITreeNode>;
}

export function fileTree(files: IFileEntry[]): ITreeNode {
  const root: ITreeNode = { name: '', path: '', size: 0, children: new Map() };
  for (const file of files) {
    let node = root;
    const parts = file.path.split('/');
    parts.forEach((part, index) => {
      node.size += file.size;
      let child = node.children.get(part);
      if (!child) {
        child = {
          name: part,
          path: parts.slice(0, index + 1).join('/'),
          size: 0,
          children: new Map()
        };
        node.children.set(part, child);
      }
      node = child;
    });
    node.size += file.size;
    node.file = file;
  }
  return root;
}

function TreeRows(props: {
  node: ITreeNode;
  depth: number;
  name: string;
  version: number;
}): JSX.Element {
  const entries = [...props.node.children.values()].sort((a, b) =>
    a.file === b.file || !!a.file === !!b.file ? a.name.localeCompare(b.name) : a.file ? 1 : -1
  );
  return (
    <>
      {entries.map(entry => (
        <React.Fragment key={entry.path}>
          <tr data-path={entry.path} data-testid={entry.file ? 'modelshelf-file-row' : undefined}>
            <td style={{ paddingLeft: `${8 + props.depth * 16}px` }}>
              {entry.file ? (
                <a
                  href={fileURL(props.name, props.version, entry.path)}
                  download={entry.name}
                  title={`Download ${entry.path} (${entry.file.algorithm} ${entry.file.digest})`}
                >
                  <downloadIcon.react tag="span" className="jp-modelshelf-button-icon" />
                  {entry.name}
                </a>
              ) : (
                <span title={entry.path}>
                  <folderIcon.react tag="span" className="jp-modelshelf-button-icon" />
                  {entry.name}/
                </span>
              )}
            </td>
            <td className="jp-modelshelf-num">{formatBytes(entry.size)}</td>
            <td>
              <code title={entry.file?.digest}>
                {entry.file ? `${entry.file.digest.slice(0, 12)}…` : ''}
              </code>
            </td>
          </tr>
          {!entry.file && (
            <TreeRows
              node={entry}
              depth={props.depth + 1}
              name={props.name}
              version={props.version}
            />
          )}
        </React.Fragment>
      ))}
    </>
  );
}

function AliasHistories(props: { name: string; aliases: string[] }): JSX.Element {
  const [histories, setHistories] = React.useState<IAliasHistory[] | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let current = true;
    Promise.all(props.aliases.map(alias => fetchAliasHistory(props.name, alias))).then(
      found => current && setHistories(found),
      reason => current && setError(errorMessage(reason))
    );
    return () => {
      current = false;
    };
  }, [props.name, props.aliases.join(',')]);
  if (props.aliases.length === 0) {
    return (
      <div className="jp-modelshelf-empty">
        No aliases: point one with `modelshelf alias {props.name} production 3`.
      </div>
    );
  }
  if (error) {
    return renderError(error);
  }
  return (
    <div className="jp-modelshelf-aliases" data-testid="modelshelf-alias-history">
      {(histories ?? []).map(history => (
        <div key={history.alias} className="jp-modelshelf-alias" data-alias={history.alias}>
          <h4>@{history.alias}</h4>
          <ol reversed>
            {[...history.moves].reverse().map(move => (
              <li key={move.seq}>
                {move.version === null ? 'removed' : `→ v${move.version}`}{' '}
                <span className="jp-modelshelf-meta">
                  <Time value={move.moved_at} />
                  {move.moved_by ? ` by ${move.moved_by}` : ''}
                </span>
              </li>
            ))}
          </ol>
        </div>
      ))}
    </div>
  );
}

export function FilesView(props: { manifest: IPageManifest; aliases: string[] }): JSX.Element {
  const { manifest } = props;
  const tree = React.useMemo(() => fileTree(manifest.files ?? []), [manifest]);
  return (
    <div className="jp-modelshelf-files-view">
      <div className="jp-modelshelf-compare-group">
        <h3>
          Files of {manifest.name}:{manifest.version}{' '}
          <span className="jp-modelshelf-meta">
            {formatBytes(manifest.size)} in {manifest.file_count} file
            {manifest.file_count === 1 ? '' : 's'}
          </span>
        </h3>
        <table
          className="jp-modelshelf-grid jp-modelshelf-file-tree"
          data-testid="modelshelf-file-tree"
        >
          <thead>
            <tr>
              <th>path</th>
              <th>size</th>
              <th>{(manifest.files ?? [])[0]?.algorithm ?? 'digest'}</th>
            </tr>
          </thead>
          <tbody>
            <TreeRows node={tree} depth={0} name={manifest.name} version={manifest.version} />
          </tbody>
        </table>
      </div>
      <div className="jp-modelshelf-compare-group">
        <h3>Aliases</h3>
        <AliasHistories name={manifest.name} aliases={props.aliases} />
      </div>
    </div>
  );
}
