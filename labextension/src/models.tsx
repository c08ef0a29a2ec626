/**
 * The Models section: model names (filtered on the server with `?q=`), each expanding
 * to its versions; the selected version's details open under it.
 *
 * State lives in plain fields and `update()` re-renders: the section is small and
 * every change comes from one of its own requests.
 */
import * as React from 'react';
import {
  Clipboard,
  Dialog,
  Notification,
  showDialog,
  showErrorMessage
} from '@jupyterlab/apputils';
import { caretDownIcon, caretRightIcon, launchIcon } from '@jupyterlab/ui-components';
import { ISignal, Signal } from '@lumino/signaling';

import { APIError, errorMessage, requestAPI } from './api';
import { deployVersion } from './deployModel';
import { formatBytes } from './format';
import { activatable } from './keyboard';
import { openModelPage } from './pageOpeners';
import { Time } from './relativeTime';
import { renderError, Section } from './section';
import { IModelPage, IModelVersion, IVersionListing } from './types';
import { attachUploadDrop, modelNameAt } from './uploadDrop';
import { VersionDetails } from './versionDetails';

/** Names per page: enough for a sidebar; "More" fetches the next page. */
const PAGE_SIZE = 100;
/** The most names the server gives in one answer. */
const MAX_LIMIT = 1000;

interface ISelection {
  name: string;
  version: number;
}

export class ModelsSection extends Section {
  constructor() {
    super('modelshelf-models-section', 'Models');
    // Files, a folder or an archive dropped here become a version: of the model row they
    // land on, or of a model the upload dialog asks for.
    attachUploadDrop(this.node, modelNameAt, () => void this.refresh());
  }

  /** Emitted when a version was deployed from here: the Deployments section shows it. */
  get deployed(): ISignal<this, void> {
    return this._deployed;
  }

  /** Reload the names, the open version lists and the selected version. */
  async refresh(): Promise<void> {
    const request = ++this._request;
    this._loading = true;
    this.update();
    try {
      const page = await requestAPI<IModelPage>('models', {
        query: { q: this._query || undefined, limit: String(this._limit) }
      });
      if (request !== this._request) {
        return; // a newer search answered first
      }
      this._page = page;
      this._error = null;
      const names = new Set(page.models.map(m => m.name));
      for (const name of [...this._expanded]) {
        if (names.has(name)) {
          void this._loadVersions(name);
        } else {
          this._expanded.delete(name);
        }
      }
      if (this._selected && names.has(this._selected.name)) {
        void this._loadDetail(this._selected);
      }
    } catch (error) {
      if (request === this._request) {
        this._error = errorMessage(error);
      }
    } finally {
      if (request === this._request) {
        this._loading = false;
        this.update();
      }
    }
  }

  protected onAfterShow(): void {
    void this.refresh();
  }

  private _onQuery(value: string): void {
    this._query = value;
    this._limit = PAGE_SIZE;
    this.update();
    // Ask the server once typing pauses, not on every key.
    window.clearTimeout(this._debounce);
    this._debounce = window.setTimeout(() => void this.refresh(), 250);
  }

  private _toggle(name: string): void {
    if (this._expanded.has(name)) {
      this._expanded.delete(name);
      this.update();
    } else {
      this._expanded.add(name);
      void this._loadVersions(name);
    }
  }

  private async _loadVersions(name: string): Promise<void> {
    this.update();
    try {
      const listing = await requestAPI<IVersionListing>(`models/${encodeURIComponent(name)}`);
      this._listings.set(name, listing);
      this._listingErrors.delete(name);
    } catch (error) {
      this._listingErrors.set(name, errorMessage(error));
    }
    this.update();
  }

  private _select(selection: ISelection): void {
    const same =
      this._selected?.name === selection.name && this._selected?.version === selection.version;
    this._selected = same ? null : selection;
    this._detail = null;
    this._detailError = null;
    this.update();
    if (!same) {
      void this._loadDetail(selection);
    }
  }

  private async _loadDetail(selection: ISelection): Promise<void> {
    try {
      const detail = await requestAPI<IModelVersion>(
        `models/${encodeURIComponent(selection.name)}/versions/${selection.version}`
      );
      if (this._selected === selection) {
        this._detail = detail;
        this._detailError = null;
      }
    } catch (error) {
      if (this._selected === selection) {
        this._detailError = errorMessage(error);
      }
    }
    this.update();
  }

  private async _copyRef(ref: string): Promise<void> {
    Clipboard.copyToSystem(ref);
    Notification.success(`Copied ${ref}`, { autoClose: 2000 });
  }

  private async _delete(name: string, version: number): Promise<void> {
    const ref = `${name}:${version}`;
    const answer = await showDialog({
      title: `Delete ${ref}?`,
      body:
        'The version leaves the store; its files are freed by the next `modelshelf gc` ' +
        'unless another version shares them. This cannot be undone.',
      buttons: [Dialog.cancelButton(), Dialog.warnButton({ label: 'Delete' })]
    });
    if (!answer.button.accept) {
      return;
    }
    try {
      await requestAPI(`models/${encodeURIComponent(name)}/versions/${version}`, {
        method: 'DELETE'
      });
    } catch (error) {
      let message = errorMessage(error);
      if (error instanceof APIError && error.status === 409) {
        // The server names the holders in its message; list any it left out.
        const missing = error.holders.filter(h => !message.includes(h));
        if (missing.length > 0) {
          message += `\nHeld by: ${missing.join(', ')}`;
        }
        await showErrorMessage(`${ref} is in use`, message);
      } else {
        await showErrorMessage(`Could not delete ${ref}`, message);
      }
      return;
    }
    this._selected = null;
    this._detail = null;
    Notification.success(`Deleted ${ref}`, { autoClose: 3000 });
    await this.refresh();
  }

  private _renderVersions(name: string): JSX.Element {
    const listing = this._listings.get(name);
    const error = this._listingErrors.get(name);
    if (error) {
      return renderError(error);
    }
    if (!listing) {
      return <div className="jp-modelshelf-meta jp-modelshelf-indent">Loading…</div>;
    }
    return (
      <ul className="jp-modelshelf-versions">
        {listing.versions.map(v => {
          const selected = this._selected?.name === name && this._selected.version === v.version;
          return (
            <li key={v.version} className="jp-modelshelf-version" data-ref={v.ref}>
              <div
                className={`jp-modelshelf-row${selected ? ' jp-mod-selected' : ''}`}
                aria-pressed={selected}
                data-testid="modelshelf-version-row"
                title={`${v.ref}: ${v.source}`}
                {...activatable(() => this._select({ name, version: v.version }))}
              >
                <span className="jp-modelshelf-name">v{v.version}</span>
                {(v.aliases ?? []).map(alias => (
                  <span key={alias} className="jp-modelshelf-chip">
                    @{alias}
                  </span>
                ))}
                <span className="jp-modelshelf-meta">
                  <Time value={v.created_at} /> · {formatBytes(v.size)}
                </span>
              </div>
              {selected && this._renderDetail(v.aliases ?? [])}
            </li>
          );
        })}
      </ul>
    );
  }

  private _renderDetail(aliases: string[]): JSX.Element {
    if (this._detailError) {
      return renderError(this._detailError);
    }
    if (!this._detail) {
      return <div className="jp-modelshelf-meta jp-modelshelf-indent">Loading…</div>;
    }
    return (
      <VersionDetails
        detail={this._detail}
        aliases={aliases}
        onCopyRef={ref => void this._copyRef(ref)}
        onDelete={(name, version) => void this._delete(name, version)}
        onDeploy={ref => void deployVersion(ref, () => this._deployed.emit())}
        onOpenPage={(name, version) => openModelPage(name, version)}
      />
    );
  }

  protected render(): JSX.Element {
    const page = this._page;
    const models = page?.models ?? [];
    return (
      <div className="jp-modelshelf-models" data-testid="modelshelf-models">
        <input
          className="jp-mod-styled jp-modelshelf-search"
          data-testid="modelshelf-model-search"
          type="search"
          placeholder="Filter models by name"
          value={this._query}
          onChange={event => this._onQuery(event.target.value)}
        />
        {renderError(this._error, 'modelshelf-models-error')}
        <ul className="jp-modelshelf-list">
          {models.map(model => {
            const open = this._expanded.has(model.name);
            const Caret = open ? caretDownIcon : caretRightIcon;
            return (
              <li key={model.name} className="jp-modelshelf-model" data-model={model.name}>
                <div
                  className="jp-modelshelf-row"
                  aria-expanded={open}
                  data-testid="modelshelf-model-row"
                  title={`${model.name}: ${model.versions} version${model.versions === 1 ? '' : 's'}`}
                  {...activatable(() => this._toggle(model.name))}
                >
                  <Caret.react tag="span" className="jp-modelshelf-caret" />
                  <span className="jp-modelshelf-name">{model.name}</span>
                  <span className="jp-modelshelf-meta">
                    {model.versions} version{model.versions === 1 ? '' : 's'}
                  </span>
                  <button
                    className="jp-modelshelf-icon-button"
                    data-testid="modelshelf-open-model-page"
                    title={`Open the page of ${model.name}`}
                    aria-label={`Open the page of ${model.name}`}
                    onClick={event => {
                      event.stopPropagation();
                      openModelPage(model.name);
                    }}
                  >
                    <launchIcon.react tag="span" />
                  </button>
                </div>
                {open && this._renderVersions(model.name)}
              </li>
            );
          })}
        </ul>
        {page && models.length === 0 && !this._error && (
          <div className="jp-modelshelf-empty">
            {this._query
              ? `No model name contains "${this._query}".`
              : 'No models yet: save one with "Save /opt/ml/models as model…".'}
          </div>
        )}
        {page && page.total > models.length && this._limit < MAX_LIMIT && (
          <button
            className="jp-modelshelf-button"
            onClick={() => {
              this._limit = Math.min(MAX_LIMIT, this._limit + PAGE_SIZE);
              void this.refresh();
            }}
          >
            Show more ({models.length} of {page.total})
          </button>
        )}
        {this._loading && !page && <div className="jp-modelshelf-meta">Loading…</div>}
      </div>
    );
  }

  private _query = '';
  private _limit = PAGE_SIZE;
  private _debounce = 0;
  private _request = 0;
  private _loading = false;
  private _page: IModelPage | null = null;
  private _error: string | null = null;
  private _expanded = new Set<string>();
  private _listings = new Map<string, IVersionListing>();
  private _listingErrors = new Map<string, string>();
  private _selected: ISelection | null = null;
  private _detail: IModelVersion | null = null;
  private _detailError: string | null = null;
  private _deployed = new Signal<this, void>(this);
}
