/**
 * The lineage graph of one version, drawn with Vega: boxes for versions, the job and
 * notebook that made it, its dataset and its users (lineageLayout.ts places them), lines
 * between them. Clicking a box opens what it stands for (a version, a job's page, the
 * executed notebook, a deployment's card).
 */
import * as React from 'react';
import { VisualizationSpec } from 'vega-embed';

import { errorMessage } from './api';
import { IChainEnd, ILineage, ILineageNode, lineageLayout, NodeAction } from './lineageLayout';
import { fetchManifestOf, fetchUsage } from './modelData';
import { IPageManifest } from './pageTypes';
import { renderError } from './section';
import { useChart } from './vegaChart';

/** Parents drawn at most: a longer chain ends in a box naming the next older parent. */
const MAX_ANCESTORS = 4;
const BOX_W = 150;
const BOX_H = 44;
const COL_GAP = 56;
const ROW_GAP = 24;

/** A theme color from JupyterLab's CSS variables, so the graph follows light and dark. */
function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.body).getPropertyValue(name).trim() || fallback;
}

export function lineageSpec(lineage: ILineage): VisualizationSpec {
  const at = new Map(lineage.nodes.map(n => [n.id, n]));
  const x = (column: number): number => column * (BOX_W + COL_GAP);
  const y = (row: number): number => row * (BOX_H + ROW_GAP);
  const nodes = lineage.nodes.map(n => ({
    ...n,
    x: x(n.column),
    y: y(n.row),
    clickable: n.action !== null
  }));
  const edges = lineage.edges.flatMap(e => {
    const from = at.get(e.from);
    const to = at.get(e.to);
    if (!from || !to) {
      return [];
    }
    const sameColumn = from.column === to.column;
    const x1 = x(from.column) + (sameColumn ? BOX_W / 2 : BOX_W);
    const y1 = y(from.row) + (sameColumn ? (from.row < to.row ? BOX_H : 0) : BOX_H / 2);
    const x2 = x(to.column) + (sameColumn ? BOX_W / 2 : 0);
    const y2 = y(to.row) + (sameColumn ? (from.row < to.row ? 0 : BOX_H) : BOX_H / 2);
    return [{ ...e, x1, y1, x2, y2, mx: (x1 + x2) / 2, my: (y1 + y2) / 2 }];
  });
  const columns = Math.max(...lineage.nodes.map(n => n.column)) + 1;
  const rows = Math.max(...lineage.nodes.map(n => n.row)) + 1;
  // Every box on the panel's own color with the theme's text, so both themes read well;
  // the kind shows in the border's color (the version itself is filled).
  const panel = cssVar('--jp-layout-color2', '#eee');
  const edge: { [kind: string]: string } = {
    focus: cssVar('--jp-brand-color1', '#1976d2'),
    version: cssVar('--jp-border-color1', '#999'),
    job: cssVar('--jp-warn-color1', '#f57c00'),
    notebook: cssVar('--jp-warn-color1', '#f57c00'),
    dataset: cssVar('--jp-success-color1', '#388e3c'),
    alias: cssVar('--jp-brand-color2', '#64b5f6'),
    deployment: cssVar('--jp-info-color1', '#0097a7'),
    user: cssVar('--jp-info-color1', '#0097a7')
  };
  const fill: { [kind: string]: string } = {
    ...Object.fromEntries(Object.keys(edge).map(k => [k, panel])),
    focus: edge.focus
  };
  const text = cssVar('--jp-ui-font-color1', '#222');
  const inverse = cssVar('--jp-ui-inverse-font-color1', '#fff');
  const line = cssVar('--jp-border-color1', '#999');
  const muted = cssVar('--jp-ui-font-color2', '#666');
  /** One line of text centred in every box, inverted on the version the page shows. */
  const boxLine = (field: string, y: number, size: number, colour: string, bold: boolean) => ({
    type: 'text',
    from: { data: 'nodes' },
    interactive: false,
    encode: {
      enter: {
        x: { signal: `datum.x + ${BOX_W / 2}` },
        y: { signal: `datum.y + ${y}` },
        align: { value: 'center' },
        text: { field },
        limit: { value: BOX_W - 10 },
        fontSize: { value: size },
        ...(bold ? { fontWeight: { value: 'bold' } } : {}),
        fill: { signal: `datum.kind === 'focus' ? '${inverse}' : '${colour}'` }
      }
    }
  });
  const kinds = Object.keys(fill);
  return {
    $schema: 'https://vega.github.io/schema/vega/v6.json',
    width: x(columns) - COL_GAP,
    height: y(rows) - ROW_GAP,
    padding: 8,
    data: [
      { name: 'nodes', values: nodes },
      { name: 'edges', values: edges }
    ],
    scales: [
      { name: 'fill', type: 'ordinal', domain: kinds, range: kinds.map(k => fill[k]) },
      { name: 'edge', type: 'ordinal', domain: kinds, range: kinds.map(k => edge[k]) }
    ],
    marks: [
      {
        type: 'rule',
        from: { data: 'edges' },
        encode: {
          enter: {
            x: { field: 'x1' },
            y: { field: 'y1' },
            x2: { field: 'x2' },
            y2: { field: 'y2' },
            stroke: { value: line },
            strokeWidth: { value: 1.5 }
          }
        }
      },
      {
        type: 'text',
        from: { data: 'edges' },
        encode: {
          enter: {
            x: { field: 'mx' },
            y: { field: 'my' },
            dy: { value: -4 },
            align: { value: 'center' },
            text: { field: 'label' },
            fill: { value: muted },
            fontSize: { value: 10 }
          }
        }
      },
      {
        type: 'rect',
        name: 'box',
        from: { data: 'nodes' },
        encode: {
          enter: {
            x: { field: 'x' },
            y: { field: 'y' },
            width: { value: BOX_W },
            height: { value: BOX_H },
            cornerRadius: { value: 6 },
            fill: { scale: 'fill', field: 'kind' },
            stroke: { scale: 'edge', field: 'kind' },
            tooltip: { field: 'tooltip' },
            // Read by screen readers (and the browser test) as the box's name.
            description: { field: 'label' },
            cursor: { signal: "datum.clickable ? 'pointer' : 'default'" }
          },
          hover: { strokeWidth: { signal: 'datum.clickable ? 3 : 1.5' } },
          update: { strokeWidth: { value: 1.5 } }
        }
      },
      // Each box's two lines: its name in bold, then a detail in a muted colour.
      boxLine('label', 18, 12, text, true),
      boxLine('detail', 34, 10, muted, false)
    ]
  } as VisualizationSpec;
}

interface IGraphData {
  lineage: ILineage;
}

async function loadLineage(focus: IPageManifest): Promise<IGraphData> {
  const usage = fetchUsage(focus.name, focus.version).catch(() => null);
  const ancestors: IPageManifest[] = [];
  let end: IChainEnd | null = null;
  let parent = focus.parent ?? null;
  const seen = new Set([`${focus.name}:${focus.version}`]);
  while (parent && !seen.has(parent)) {
    if (ancestors.length === MAX_ANCESTORS) {
      end = { ref: parent, why: 'older' };
      break;
    }
    const ref: string = parent;
    seen.add(ref);
    try {
      const manifest = await fetchManifestOf(ref);
      ancestors.push(manifest);
      parent = manifest.parent ?? null;
    } catch {
      end = { ref, why: 'unreadable' };
      break;
    }
  }
  return { lineage: lineageLayout(focus, ancestors, await usage, end) };
}

interface IProps {
  manifest: IPageManifest;
  onAction: (action: NodeAction) => void;
}

export function LineageGraph(props: IProps): JSX.Element {
  const node = React.useRef<HTMLDivElement>(null);
  const [error, setError] = React.useState<string | null>(null);
  const [links, setLinks] = React.useState<ILineageNode[]>([]);
  const { manifest, onAction } = props;
  const [lineage, setLineage] = React.useState<ILineage | null>(null);
  React.useEffect(() => {
    let disposed = false;
    setError(null);
    setLinks([]);
    setLineage(null);
    loadLineage(manifest).then(
      loaded => {
        if (!disposed) {
          node.current?.setAttribute('data-nodes', loaded.lineage.nodes.map(n => n.id).join('\n'));
          setLinks(loaded.lineage.nodes.filter(n => n.action !== null));
          setLineage(loaded.lineage);
        }
      },
      reason => !disposed && setError(errorMessage(reason))
    );
    return () => {
      disposed = true;
    };
  }, [manifest]);
  const spec = React.useMemo(() => (lineage ? lineageSpec(lineage) : null), [lineage]);
  const onClick = React.useCallback(
    (datum: { [key: string]: unknown }) => onAction((datum['action'] as NodeAction) ?? null),
    [onAction]
  );
  useChart(node, spec, onClick);
  return (
    <div className="jp-modelshelf-lineage">
      {renderError(error)}
      <div
        className="jp-modelshelf-lineage-graph"
        data-testid="modelshelf-lineage-graph"
        ref={node}
      />
      {links.length > 0 && (
        // What the boxes open, also as buttons: reachable from the keyboard.
        <div className="jp-modelshelf-toolbar jp-modelshelf-lineage-links">
          <span className="jp-modelshelf-meta">Open:</span>
          {links.map(link => (
            <button
              key={link.id}
              className="jp-modelshelf-button"
              data-node={link.id}
              title={link.tooltip}
              onClick={() => onAction(link.action)}
            >
              {link.label}
            </button>
          ))}
        </div>
      )}
    </div>
  );
}
