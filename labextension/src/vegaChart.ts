/**
 * The one place charts and graphs are drawn: Vega (and Vega-Lite) through `vega-embed`,
 * rendered as SVG, themed after JupyterLab's light or dark theme.
 *
 * Vega compiles its expressions with `new Function` unless told otherwise, which a strict
 * Content-Security-Policy forbids: specs are parsed to an AST (`ast: true`) and run by
 * `vega-interpreter` instead, so the page works wherever JupyterLab itself does.
 * Vega is loaded on the first chart, not with the sidebar: JupyterLab starts as fast as before.
 */
import * as React from 'react';
import type { Result, VisualizationSpec } from 'vega-embed';

/** True when JupyterLab shows a dark theme (it marks the body for its own CSS). */
export function isDarkTheme(): boolean {
  return document.body.dataset.jpThemeLight === 'false';
}

/** What clicking a mark does: the datum of the clicked mark, or nothing. */
export type MarkClick = (datum: { [key: string]: unknown }) => void;

/**
 * Draw `spec` into `node` (replacing what was there) and return the embed result, whose
 * `finalize()` the caller runs before drawing again or when disposed.
 */
export async function drawChart(
  node: HTMLElement,
  spec: VisualizationSpec,
  onClick?: MarkClick
): Promise<Result> {
  const [{ default: embed }, { expressionInterpreter }] = await Promise.all([
    import('vega-embed'),
    import('vega-interpreter')
  ]);
  const result = await embed(node, spec, {
    renderer: 'svg',
    actions: false,
    ast: true,
    expr: expressionInterpreter,
    theme: isDarkTheme() ? 'dark' : undefined,
    // The theme's own background would paint over JupyterLab's.
    config: { background: 'transparent' },
    tooltip: { theme: isDarkTheme() ? 'dark' : 'light' }
  });
  if (onClick) {
    result.view.addEventListener('click', (_event, item) => {
      const datum = (item as { datum?: { [key: string]: unknown } } | null)?.datum;
      if (datum) {
        onClick(datum);
      }
    });
  }
  return result;
}

/**
 * Call `redraw` whenever JupyterLab switches between a light and a dark theme.
 * Returns a function that stops watching.
 */
export function onThemeChange(redraw: () => void): () => void {
  let dark = isDarkTheme();
  const observer = new MutationObserver(() => {
    if (isDarkTheme() !== dark) {
      dark = isDarkTheme();
      redraw();
    }
  });
  observer.observe(document.body, { attributes: true, attributeFilter: ['data-jp-theme-light'] });
  return () => observer.disconnect();
}

/**
 * Keep `spec` drawn in `node` (nothing while it is null): redrawn when the spec, the click
 * handler or the theme changes, finalized when replaced or unmounted. The node carries
 * `data-drawn="true"` once the current spec is on screen (what the browser tests wait for).
 */
export function useChart(
  node: React.RefObject<HTMLElement>,
  spec: VisualizationSpec | null,
  onClick?: MarkClick
): void {
  React.useEffect(() => {
    let result: Result | null = null;
    let disposed = false;
    const draw = (): void => {
      result?.finalize();
      result = null;
      if (!node.current || !spec) {
        return;
      }
      void drawChart(node.current, spec, onClick).then(r => {
        if (disposed) {
          r.finalize();
        } else {
          result = r;
          node.current?.setAttribute('data-drawn', 'true');
        }
      });
    };
    node.current?.removeAttribute('data-drawn');
    draw();
    const stop = onThemeChange(draw);
    return () => {
      disposed = true;
      stop();
      result?.finalize();
    };
  }, [node, spec, onClick]);
}
