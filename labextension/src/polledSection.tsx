/**
 * A section that shows a list the server keeps changing (jobs, deployments) and
 * re-fetches it on a `Poll` while it is visible, so rows move without a click.
 */
import * as React from 'react';
import { Poll } from '@lumino/polling';

import { errorMessage } from './api';
import { renderError, Section } from './section';

export interface IPolledSectionOptions<T> {
  /** The widget's DOM id. */
  id: string;
  /** The title in the sidebar's accordion. */
  label: string;
  /** Fetches the whole list (one request to the server extension). */
  fetch: () => Promise<T[]>;
  /** Milliseconds between fetches while all is well. */
  interval: number;
  /** The longest wait, in milliseconds, that the backoff after failures reaches. */
  max: number;
  /** The poll's name, which shows in Lumino's debugging output. */
  pollName: string;
  /** The content's class; its `data-testid`, and `${testid}-error` for its error. */
  className: string;
  testid: string;
  /** What to say when the list is empty (and there is no error to show instead). */
  empty: string;
}

export abstract class PolledSection<T> extends Section {
  constructor(options: IPolledSectionOptions<T>) {
    super(options.id, options.label);
    this._options = options;
    this._poll = new Poll({
      factory: () => this.refresh(true),
      frequency: { interval: options.interval, backoff: true, max: options.max },
      // Stand by while the section is collapsed or the sidebar closed; 'when-hidden'
      // also pauses it while the browser tab is in the background.
      standby: () => !this.isVisible || 'when-hidden',
      name: options.pollName
    });
  }

  /**
   * Fetch the list. From the poll (`rethrow`), a failure is rethrown as well as shown,
   * so that the poll backs off instead of hammering a server that is down.
   */
  async refresh(rethrow = false): Promise<void> {
    try {
      const items = await this.fetchItems();
      this.onFetched(items);
      this._items = items;
      this._error = null;
    } catch (error) {
      this._error = errorMessage(error);
      if (rethrow) {
        throw error;
      }
    } finally {
      this.update();
    }
  }

  /** Refresh now (e.g. right after a change was requested) rather than at the next tick. */
  refreshSoon(): void {
    void this._poll.refresh();
  }

  dispose(): void {
    this._poll.dispose();
    super.dispose();
  }

  protected onAfterShow(): void {
    this.refreshSoon();
  }

  /**
   * Called with a fresh list before it replaces the shown one, so that a subclass can
   * compare the two (e.g. to notice what just finished). Does nothing by default.
   */
  protected onFetched(_items: T[]): void {
    // No-op: a hook for subclasses.
  }

  /** Fetch the list: the options' `fetch` unless a subclass adds its own filters. */
  protected fetchItems(): Promise<T[]> {
    return this._options.fetch();
  }

  /** What goes above the list (filters); nothing by default. */
  protected renderToolbar(): JSX.Element | null {
    return null;
  }

  /** One `<li>` of the list, with a React `key`. */
  protected abstract renderItem(item: T): JSX.Element;

  protected render(): JSX.Element {
    const { className, testid, empty } = this._options;
    return (
      <div className={className} data-testid={testid}>
        {this.renderToolbar()}
        {renderError(this._error, `${testid}-error`)}
        <ul className="jp-modelshelf-list">{this._items.map(item => this.renderItem(item))}</ul>
        {this._items.length === 0 && !this._error && (
          <div className="jp-modelshelf-empty">{empty}</div>
        )}
      </div>
    );
  }

  private readonly _options: IPolledSectionOptions<T>;
  private _poll: Poll;
  private _items: T[] = [];
  private _error: string | null = null;
}
