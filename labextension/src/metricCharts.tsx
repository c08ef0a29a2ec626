/**
 * Each metric across versions, one small Vega-Lite chart per metric (a line through the
 * points, a tooltip naming each point's version), and the evaluation scores of the
 * versions beside them when the server records any. The metrics shown are picked by the user.
 */
import * as React from 'react';
import { VisualizationSpec } from 'vega-embed';

import { IPageVersion } from './pageTypes';
import { useChart } from './vegaChart';

/** Charts shown before the user picks: enough to see, few enough to draw at once. */
const DEFAULT_SHOWN = 12;
/** The chart whose points are the versions' evaluation scores. */
export const EVALUATION_CHART = 'evaluation score';

interface IPoint {
  version: number;
  ref: string;
  value: number;
  series: string;
}

/** The numeric metric names of the versions, sorted. */
export function metricNames(versions: IPageVersion[]): string[] {
  const names = new Set<string>();
  for (const v of versions) {
    for (const [key, value] of Object.entries(v.metrics ?? {})) {
      if (typeof value === 'number' && Number.isFinite(value)) {
        names.add(key);
      }
    }
  }
  return [...names].sort();
}

function metricPoints(versions: IPageVersion[], metric: string): IPoint[] {
  return versions.flatMap(v => {
    const value = (v.metrics ?? {})[metric];
    return typeof value === 'number' && Number.isFinite(value)
      ? [{ version: v.version, ref: v.ref, value, series: 'training' }]
      : [];
  });
}

/** Every evaluation of every version, a series per pipeline ("evaluate", "full"). */
export function evaluationPoints(versions: IPageVersion[]): IPoint[] {
  return versions.flatMap(v =>
    (v.evaluations ?? [])
      .filter(e => typeof e.score === 'number' && Number.isFinite(e.score))
      .map(e => ({
        version: v.version,
        ref: v.ref,
        value: e.score,
        series: `${e.pipeline} on ${e.data ?? 'its data'}`
      }))
  );
}

/** Every chart spans all the versions (half a version of room at each end), so the
 * evaluation scores line up with the training metrics beside them. */
function versionDomain(versions: IPageVersion[]): [number, number] {
  const numbers = versions.map(v => v.version);
  return [Math.min(...numbers) - 0.5, Math.max(...numbers) + 0.5];
}

function chartSpec(title: string, points: IPoint[], domain: [number, number]): VisualizationSpec {
  const several = new Set(points.map(p => p.series)).size > 1;
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: title, anchor: 'start', fontSize: 12 },
    width: 'container',
    height: 160,
    autosize: { type: 'fit', contains: 'padding' },
    data: { values: points },
    encoding: {
      x: {
        field: 'version',
        type: 'quantitative',
        title: 'version',
        axis: { tickMinStep: 1, format: 'd' },
        scale: { nice: false, domain }
      },
      y: { field: 'value', type: 'quantitative', title: null, scale: { zero: false } },
      color: several
        ? { field: 'series', type: 'nominal', title: null, legend: { orient: 'bottom' } }
        : { value: '#1976d2' },
      tooltip: [
        { field: 'ref', type: 'nominal', title: 'version' },
        { field: 'value', type: 'quantitative', title },
        ...(several ? [{ field: 'series', type: 'nominal' as const, title: 'series' }] : [])
      ]
    },
    layer: [
      { mark: { type: 'line', strokeWidth: 1.5 } },
      { mark: { type: 'point', filled: true, size: 50, cursor: 'pointer' } }
    ]
  } as VisualizationSpec;
}

/** One chart; clicking a point selects its version. */
function Chart(props: {
  title: string;
  points: IPoint[];
  domain: [number, number];
  onSelect: (version: number) => void;
}): JSX.Element {
  const node = React.useRef<HTMLDivElement>(null);
  const { title, points, onSelect } = props;
  const [low, high] = props.domain;
  const spec = React.useMemo(
    () => chartSpec(title, points, [low, high]),
    [title, points, low, high]
  );
  const onClick = React.useCallback(
    (datum: { [key: string]: unknown }) => {
      if (typeof datum['version'] === 'number') {
        onSelect(datum['version']);
      }
    },
    [onSelect]
  );
  useChart(node, spec, onClick);
  return (
    <div
      className="jp-modelshelf-chart"
      data-testid="modelshelf-metric-chart"
      data-metric={title}
      data-points={points.length}
      ref={node}
    />
  );
}

interface IProps {
  versions: IPageVersion[];
  onSelect: (version: number) => void;
}

export function MetricCharts(props: IProps): JSX.Element {
  const names = React.useMemo(() => metricNames(props.versions), [props.versions]);
  const evaluations = React.useMemo(() => evaluationPoints(props.versions), [props.versions]);
  const domain = versionDomain(props.versions);
  const [picked, setPicked] = React.useState<Set<string> | null>(null);
  const shown = picked ?? new Set(names.slice(0, DEFAULT_SHOWN));
  const toggle = (name: string): void => {
    const next = new Set(shown);
    if (next.has(name)) {
      next.delete(name);
    } else {
      next.add(name);
    }
    setPicked(next);
  };
  const points = React.useMemo(
    () => new Map(names.map(name => [name, metricPoints(props.versions, name)])),
    [names, props.versions]
  );
  if (names.length === 0 && evaluations.length === 0) {
    return (
      <div className="jp-modelshelf-empty">
        No version records a numeric metric yet: save one with metrics (e.g. `--metric auc=0.9`).
      </div>
    );
  }
  return (
    <div className="jp-modelshelf-charts-view" data-testid="modelshelf-metric-charts">
      <div className="jp-modelshelf-toolbar jp-modelshelf-metric-picker">
        <span className="jp-modelshelf-meta">Metrics:</span>
        {names.map(name => (
          <label key={name}>
            <input
              type="checkbox"
              data-metric={name}
              checked={shown.has(name)}
              onChange={() => toggle(name)}
            />
            {name}
          </label>
        ))}
      </div>
      <div className="jp-modelshelf-charts">
        {names
          .filter(name => shown.has(name))
          .map(name => (
            <Chart
              key={name}
              title={name}
              points={points.get(name) ?? []}
              domain={domain}
              onSelect={props.onSelect}
            />
          ))}
        {evaluations.length > 0 && (
          <Chart
            title={EVALUATION_CHART}
            points={evaluations}
            domain={domain}
            onSelect={props.onSelect}
          />
        )}
      </div>
    </div>
  );
}
