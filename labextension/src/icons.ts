/**
 * The sidebar's icon: a shelf holding two boxes. `jp-icon3` lets JupyterLab recolor
 * it with the theme (light, dark, and the active-tab highlight).
 */
import { LabIcon } from '@jupyterlab/ui-components';

const shelfSvg = `<svg xmlns="http://www.w3.org/2000/svg" width="16" viewBox="0 0 24 24">
  <g class="jp-icon3" fill="#616161">
    <rect x="3" y="5" width="7" height="8" rx="1"/>
    <rect x="12" y="8" width="8" height="5" rx="1"/>
    <rect x="1" y="14" width="22" height="2"/>
    <rect x="3" y="16" width="2" height="4"/>
    <rect x="19" y="16" width="2" height="4"/>
  </g>
</svg>`;

export const shelfIcon = new LabIcon({ name: 'modelshelf:shelf', svgstr: shelfSvg });
