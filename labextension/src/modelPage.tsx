/**
 * One model's page in JupyterLab's main area (one tab per model): its versions as a
 * sortable table, its metrics as charts, two versions compared, a version's lineage graph,
 * and a version's files with the model's aliases and their history.
 *
 * The header keeps an empty element for a drop zone (uploads are wired in by the plugin
 * through `onModelPageOpened`); nothing here uploads.
 */
import * as React from 'react';
import { ReactWidget, refreshIcon } from '@jupyterlab/ui-components';

import { errorMessage } from './api';
import { EvaluationsByVersion, loadEvaluations, withEvaluations } from './evaluationsData';
import { CompareView } from './compareView';
import { FilesView } from './filesView';
import { shelfIcon } from './icons';
import { LineageGraph } from './lineageGraph';
import { NodeAction } from './lineageLayout';
import { MetricCharts } from './metricCharts';
import { fetchListing, fetchManifest } from './modelData';
import {
  openDeploymentCard,
  openJobNotebook,
  openJobPage,
  openModelPage,
  splitRef
} from './pageOpeners';
import { IPageManifest, IPageVersion } from './pageTypes';
import { renderError } from './section';
import { IVersionListing } from './types';
import { VersionsTable } from './versionsTable';

export type ModelPageTab = 'versions' | 'metrics' | 'compare' | 'lineage' | 'files';
const TABS: [ModelPageTab, string][] = [
  ['versions', 'Versions'],
  ['metrics', 'Metrics'],
  ['compare', 'Compare'],
  ['lineage', 'Lineage'],
  ['files', 'Files & aliases']
];

/** What the plugin may attach to a model page (e.g. an upload drop zone). */
export interface IModelPageHandle {
  /** The page's root node (the whole tab's content). */
  readonly node: HTMLElement;
  /** The model the page shows. */
  readonly modelName: string;
  /** An empty element in the page's header, kept for a drop zone. */
  readonly dropZone: HTMLElement;
  /** Reload the versions (e.g. after an upload saved a new one). */
  refresh(): Promise<void>;
}

const openedCallbacks: ((page: IModelPageHandle) => void)[] = [];

/** Run `callback` on every model page when it opens (the lead wires upload.ts here). */
export function onModelPageOpened(callback: (page: IModelPageHandle) => void): void {
  openedCallbacks.push(callback);
}

/** The id of a model's page: one tab per model. */
export function modelPageId(name: string): string {
  return `modelshelf-model-page-${encodeURIComponent(name)}`;
}

export class ModelPage extends ReactWidget implements IModelPageHandle {
  readonly dropZone: HTMLElement;

  constructor(
    readonly modelName: string,
    version?: number
  ) {
    super();
    this.id = modelPageId(modelName);
    this.addClass('jp-modelshelf-page');
    this.addClass('jp-modelshelf-model-page');
    this.node.dataset.testid = 'modelshelf-model-page';
    this.node.dataset.model = modelName;
    this.title.label = modelName;
    this.title.caption = `Model ${modelName}: versions, metrics, compare, lineage, files`;
    this.title.icon = shelfIcon;
    this.title.closable = true;
    this.dropZone = document.createElement('div');
    this.dropZone.className = 'jp-modelshelf-drop-zone';
    this.dropZone.dataset.testid = 'modelshelf-upload-slot';
    this._selected = version ?? null;
    void this.refresh();
    for (const callback of openedCallbacks) {
      callback(this);
    }
  }

  /** Show `version` (in the lineage and files views); the newest when not given. */
  select(version?: number, tab?: ModelPageTab): void {
    if (version !== undefined && version !== this._selected) {
      this._selected = version;
      void this._loadManifest();
    }
    if (tab) {
      this._tab = tab;
      if (tab === 'metrics') {
        void this._loadEvaluations();
      }
    }
    this.update();
  }

  /** Read the versions' evaluation scores, once per load of the listing. */
  private async _loadEvaluations(): Promise<void> {
    const listing = this._listing;
    if (!listing || this._evaluationsOf === listing) {
      return;
    }
    this._evaluationsOf = listing;
    const found = await loadEvaluations(listing.versions as IPageVersion[]);
    if (this._listing === listing) {
      this._evaluations = found;
      this.update();
    }
  }

  async refresh(): Promise<void> {
    try {
      this._listing = await fetchListing(this.modelName);
      this._error = null;
      const numbers = this._listing.versions.map(v => v.version);
      if (this._selected === null || !numbers.includes(this._selected)) {
        this._selected = numbers.length ? Math.max(...numbers) : null;
      }
      await this._loadManifest();
      if (this._tab === 'metrics') {
        void this._loadEvaluations();
      }
    } catch (error) {
      this._error = errorMessage(error);
    }
    this.update();
  }

  private async _loadManifest(): Promise<void> {
    const wanted = this._selected;
    if (wanted === null) {
      this._manifest = null;
      return;
    }
    try {
      const manifest = await fetchManifest(this.modelName, wanted);
      if (this._selected === wanted) {
        this._manifest = manifest;
      }
    } catch (error) {
      this._error = errorMessage(error);
    }
    this.update();
  }

  private _onSelect = (version: number): void => this.select(version);

  private _onAction = (action: NodeAction): void => {
    if (!action) {
      return;
    }
    if (action.kind === 'version') {
      const [name, version] = splitRef(action.ref);
      if (name === this.modelName && version !== undefined) {
        this.select(version);
      } else {
        openModelPage(name, version);
      }
    } else if (action.kind === 'job') {
      openJobPage(action.id);
    } else if (action.kind === 'notebook') {
      openJobNotebook(action.jobId);
    } else if (action.kind === 'deployment') {
      openDeploymentCard(action.name);
    }
  };

  private _renderTab(versions: IPageVersion[]): JSX.Element | null {
    const manifest = this._manifest;
    switch (this._tab) {
      case 'versions':
        return (
          <VersionsTable versions={versions} selected={this._selected} onSelect={this._onSelect} />
        );
      case 'metrics':
        return <MetricCharts versions={this._chartVersions(versions)} onSelect={this._onSelect} />;
      case 'compare':
        return versions.length > 0 ? (
          <CompareView name={this.modelName} versions={versions} />
        ) : null;
      case 'lineage':
        return manifest ? <LineageGraph manifest={manifest} onAction={this._onAction} /> : null;
      case 'files':
        return manifest ? <FilesView manifest={manifest} aliases={this._aliasesOfModel()} /> : null;
    }
  }

  /** The versions with their evaluations, the same array while neither changes. */
  private _chartVersions(versions: IPageVersion[]): IPageVersion[] {
    if (this._charted?.versions !== versions || this._charted.evaluations !== this._evaluations) {
      this._charted = {
        versions,
        evaluations: this._evaluations,
        merged: withEvaluations(versions, this._evaluations)
      };
    }
    return this._charted.merged;
  }

  private _aliasesOfModel(): string[] {
    return Object.keys(this._listing?.aliases ?? {}).sort();
  }

  protected render(): JSX.Element {
    const versions = (this._listing?.versions ?? []) as IPageVersion[];
    const selected = this._selected;
    const needsVersion = this._tab === 'lineage' || this._tab === 'files';
    return (
      <div className="jp-modelshelf-page-content">
        <header className="jp-modelshelf-page-header">
          <h1>{this.modelName}</h1>
          <span className="jp-modelshelf-meta">
            {this._listing
              ? `${versions.length} version${versions.length === 1 ? '' : 's'}`
              : 'Loading…'}
            {Object.entries(this._listing?.aliases ?? {})
              .map(([alias, v]) => ` · @${alias} → v${v}`)
              .join('')}
          </span>
          <button
            className="jp-modelshelf-button"
            title="Reload the versions"
            data-testid="modelshelf-page-refresh"
            onClick={() => void this.refresh()}
          >
            <refreshIcon.react tag="span" className="jp-modelshelf-button-icon" /> Refresh
          </button>
          <div
            className="jp-modelshelf-drop-zone-host"
            ref={host => {
              if (host && host.firstChild !== this.dropZone) {
                host.appendChild(this.dropZone);
              }
            }}
          />
        </header>
        <nav className="jp-modelshelf-tabs" role="tablist">
          {TABS.map(([id, label]) => (
            <button
              key={id}
              role="tab"
              aria-selected={this._tab === id}
              data-tab={id}
              data-testid={`modelshelf-page-tab-${id}`}
              className={`jp-modelshelf-tab${this._tab === id ? ' jp-mod-active' : ''}`}
              onClick={() => this.select(undefined, id)}
            >
              {label}
            </button>
          ))}
          {needsVersion && versions.length > 0 && (
            <label className="jp-modelshelf-tab-version">
              Version{' '}
              <select
                className="jp-mod-styled"
                data-testid="modelshelf-page-version"
                value={selected ?? ''}
                onChange={event => this.select(Number(event.target.value))}
              >
                {[...versions].reverse().map(v => (
                  <option key={v.version} value={v.version}>
                    v{v.version}
                  </option>
                ))}
              </select>
            </label>
          )}
        </nav>
        {renderError(this._error)}
        <section className="jp-modelshelf-page-body" role="tabpanel" data-tab={this._tab}>
          {this._listing && this._renderTab(versions)}
        </section>
      </div>
    );
  }

  private _listing: IVersionListing | null = null;
  private _selected: number | null;
  private _manifest: IPageManifest | null = null;
  private _error: string | null = null;
  private _tab: ModelPageTab = 'versions';
  private _evaluations: EvaluationsByVersion | null = null;
  private _evaluationsOf: IVersionListing | null = null;
  private _charted: {
    versions: IPageVersion[];
    evaluations: EvaluationsByVersion | null;
    merged: IPageVersion[];
  } | null = null;
}
