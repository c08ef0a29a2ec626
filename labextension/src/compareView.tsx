/**
 * Compare two versions: files added, removed and changed (with their sizes), small text
 * files (JSON, YAML, Python, text, ... under TEXT_LIMIT) as an inline line diff, and params
 * and metrics side by side with the ones that changed marked. Draws `GET /diff`.
 */
import * as React from 'react';
import { diffLines } from 'diff';

import { errorMessage } from './api';
import { formatBytes, formatValue } from './format';
import { fetchDiff, fetchFileText, fetchManifest } from './modelData';
import { IModelDiff, IPageManifest, IPageVersion } from './pageTypes';
import { renderError } from './section';

/** Files this small, with a text extension, are shown as an inline diff. */
export const TEXT_LIMIT = 64 * 1024;
const TEXT_EXTENSIONS = /\.(json|ya?ml|py|txt|md|cfg|ini|toml|csv|tsv|xml|html|js|ts|sh|r|sql)$/i;

export function isSmallText(path: string, size: number): boolean {
  return TEXT_EXTENSIONS.test(path) && size <= TEXT_LIMIT;
}

interface ILoaded {
  diff: IModelDiff;
  a: IPageManifest;
  b: IPageManifest;
  texts: Map<string, [string, string] | string>; // the two texts, or why there are none
}

async function load(name: string, a: number, b: number): Promise<ILoaded> {
  const [diff, manifestA, manifestB] = await Promise.all([
    fetchDiff(`${name}:${a}`, `${name}:${b}`),
    fetchManifest(name, a),
    fetchManifest(name, b)
  ]);
  const sizeIn = (m: IPageManifest, path: string): number =>
    m.files.find(f => f.path === path)?.size ?? Infinity;
  const texts = new Map<string, [string, string] | string>();
  await Promise.all(
    diff.changed.map(async path => {
      const biggest = Math.max(sizeIn(manifestA, path), sizeIn(manifestB, path));
      if (!isSmallText(path, biggest)) {
        return;
      }
      try {
        texts.set(
          path,
          await Promise.all([fetchFileText(name, a, path), fetchFileText(name, b, path)])
        );
      } catch (error) {
        texts.set(path, errorMessage(error));
      }
    })
  );
  return { diff, a: manifestA, b: manifestB, texts };
}

function TextDiff(props: { texts: [string, string] }): JSX.Element {
  const parts = diffLines(props.texts[0], props.texts[1]);
  return (
    <pre className="jp-modelshelf-text-diff" data-testid="modelshelf-text-diff">
      {parts.flatMap((part, index) =>
        part.value
          .replace(/\n$/, '')
          .split('\n')
          .map((line, n) => {
            const kind = part.added ? 'added' : part.removed ? 'removed' : 'same';
            const mark = part.added ? '+' : part.removed ? '-' : ' ';
            return (
              <div key={`${index}-${n}`} className={`jp-modelshelf-diff-${kind}`} data-kind={kind}>
                {mark} {line}
              </div>
            );
          })
      )}
    </pre>
  );
}

function SideBySide(props: {
  title: string;
  pairs: { [key: string]: { a: unknown; b: unknown } };
  a: string;
  b: string;
}): JSX.Element | null {
  const entries = Object.entries(props.pairs);
  if (entries.length === 0) {
    return null;
  }
  return (
    <div className="jp-modelshelf-compare-group">
      <h3>{props.title}</h3>
      <table
        className="jp-modelshelf-grid"
        data-testid={`modelshelf-compare-${props.title.toLowerCase()}`}
      >
        <thead>
          <tr>
            <th>{props.title === 'Params' ? 'param' : 'metric'}</th>
            <th>{props.a}</th>
            <th>{props.b}</th>
          </tr>
        </thead>
        <tbody>
          {entries.map(([key, { a, b }]) => {
            const changed = JSON.stringify(a) !== JSON.stringify(b);
            return (
              <tr
                key={key}
                data-key={key}
                data-changed={changed}
                className={changed ? 'jp-modelshelf-changed' : ''}
              >
                <th title={changed ? 'changed' : 'same'}>
                  {changed ? '● ' : ''}
                  {key}
                </th>
                <td>{a === null || a === undefined ? '—' : formatValue(a)}</td>
                <td>{b === null || b === undefined ? '—' : formatValue(b)}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function FileRows(props: { loaded: ILoaded }): JSX.Element {
  const { diff, a, b, texts } = props.loaded;
  const size = (m: IPageManifest, path: string): string =>
    formatBytes(m.files.find(f => f.path === path)?.size);
  const rows: [string, string, React.ReactNode][] = [
    ...diff.added.map(p => ['added', p, `${size(b, p)}`] as [string, string, string]),
    ...diff.removed.map(p => ['removed', p, `${size(a, p)}`] as [string, string, string]),
    ...diff.changed.map(
      p => ['changed', p, `${size(a, p)} → ${size(b, p)}`] as [string, string, string]
    )
  ];
  if (rows.length === 0) {
    return <div className="jp-modelshelf-empty">Same files in both versions.</div>;
  }
  return (
    <ul className="jp-modelshelf-compare-files" data-testid="modelshelf-compare-files">
      {rows.map(([kind, path, sizes]) => {
        const text = texts.get(path);
        return (
          <li key={`${kind}-${path}`} data-kind={kind} data-path={path}>
            <div className="jp-modelshelf-compare-file">
              <span className={`jp-modelshelf-file-mark jp-modelshelf-diff-${kind}`}>{kind}</span>
              <code>{path}</code>
              <span className="jp-modelshelf-meta">{sizes}</span>
            </div>
            {typeof text === 'string' && renderError(text)}
            {Array.isArray(text) && <TextDiff texts={text} />}
          </li>
        );
      })}
    </ul>
  );
}

interface IProps {
  name: string;
  versions: IPageVersion[];
}

export function CompareView(props: IProps): JSX.Element {
  const numbers = props.versions.map(v => v.version).sort((x, y) => x - y);
  const newest = numbers[numbers.length - 1];
  const [a, setA] = React.useState<number>(
    numbers.length > 1 ? numbers[numbers.length - 2] : newest
  );
  const [b, setB] = React.useState<number>(newest);
  const [loaded, setLoaded] = React.useState<ILoaded | null>(null);
  const [error, setError] = React.useState<string | null>(null);
  React.useEffect(() => {
    let current = true;
    setLoaded(null);
    setError(null);
    load(props.name, a, b).then(
      result => current && setLoaded(result),
      reason => current && setError(errorMessage(reason))
    );
    return () => {
      current = false;
    };
  }, [props.name, a, b]);
  const picker = (label: string, value: number, set: (n: number) => void): JSX.Element => (
    <label>
      {label}{' '}
      <select
        className="jp-mod-styled"
        data-testid={`modelshelf-compare-${label.toLowerCase()}`}
        value={value}
        onChange={event => set(Number(event.target.value))}
      >
        {numbers.map(n => (
          <option key={n} value={n}>
            v{n}
          </option>
        ))}
      </select>
    </label>
  );
  return (
    <div className="jp-modelshelf-compare" data-testid="modelshelf-compare">
      <div className="jp-modelshelf-toolbar">
        {picker('A', a, setA)}
        <span aria-hidden="true">→</span>
        {picker('B', b, setB)}
        <button
          className="jp-modelshelf-button"
          title="Swap A and B"
          onClick={() => {
            setA(b);
            setB(a);
          }}
        >
          Swap
        </button>
      </div>
      {renderError(error)}
      {!loaded && !error && <div className="jp-modelshelf-meta">Comparing…</div>}
      {loaded && (
        <div data-testid="modelshelf-compare-result" data-a={loaded.diff.a} data-b={loaded.diff.b}>
          <div className="jp-modelshelf-compare-group">
            <h3>Files</h3>
            <FileRows loaded={loaded} />
          </div>
          <SideBySide
            title="Params"
            pairs={loaded.diff.params}
            a={loaded.diff.a}
            b={loaded.diff.b}
          />
          <SideBySide
            title="Metrics"
            pairs={loaded.diff.metrics}
            a={loaded.diff.a}
            b={loaded.diff.b}
          />
        </div>
      )}
    </div>
  );
}
