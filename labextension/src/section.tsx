/**
 * What every sidebar section shares: the accordion's class, id and title, and the
 * error banner shown above its content. Kept in one place so that the three sections
 * look alike and the UI tests can find each banner by its `data-testid`.
 */
import * as React from 'react';
import { ReactWidget } from '@jupyterlab/ui-components';

export abstract class Section extends ReactWidget {
  /**
   * @param id - the widget's DOM id, unique in the app.
   * @param label - the section's title in the sidebar's accordion.
   */
  constructor(id: string, label: string) {
    super();
    this.addClass('jp-modelshelf-section');
    this.id = id;
    this.title.label = label;
  }
}

/**
 * An error message as an alert, or nothing when there is no error. `testid` is left
 * out for the smaller in-line errors that the tests do not look for.
 */
export function renderError(error: string, testid?: string): JSX.Element;
export function renderError(error: string | null, testid?: string): JSX.Element | null;
export function renderError(error: string | null, testid?: string): JSX.Element | null {
  if (!error) {
    return null;
  }
  return (
    <div className="jp-modelshelf-error" role="alert" data-testid={testid}>
      {error}
    </div>
  );
}
