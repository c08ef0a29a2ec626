/**
 * DOM helpers for the dialogs' forms. The forms are plain Lumino widgets with a
 * `getValue()`, which is what `showDialog` reads when the user accepts.
 */

/** An `<input>` with the attributes the dialogs and the browser test rely on. */
export function input(
  testid: string,
  options: { type?: string; value?: string; placeholder?: string; step?: string } = {}
): HTMLInputElement {
  const node = document.createElement('input');
  node.type = options.type ?? 'text';
  node.className = 'jp-mod-styled';
  node.dataset.testid = testid;
  if (options.value !== undefined) {
    node.value = options.value;
  }
  if (options.placeholder) {
    node.placeholder = options.placeholder;
  }
  if (options.step) {
    node.step = options.step;
  }
  return node;
}

/** A labelled row: the label text, the control, and an optional hint under it. */
export function row(text: string, control: HTMLElement, hint?: string): HTMLDivElement {
  const container = document.createElement('div');
  container.className = 'jp-modelshelf-form-row';
  const label = document.createElement('label');
  label.textContent = text;
  const id = `modelshelf-field-${++fieldCount}`;
  control.id = id;
  label.htmlFor = id;
  container.append(label, control);
  if (hint) {
    const small = document.createElement('div');
    small.className = 'jp-modelshelf-hint';
    small.textContent = hint;
    container.append(small);
  }
  return container;
}

/** A paragraph of explanation at the top of a form. */
export function note(text: string): HTMLParagraphElement {
  const p = document.createElement('p');
  p.className = 'jp-modelshelf-hint';
  p.textContent = text;
  return p;
}

let fieldCount = 0;
