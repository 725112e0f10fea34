// Modal dialogs of the grid: edit a stream, confirm a removal. Native <dialog> elements (top layer,
// focus trap, Escape to cancel), appended to the widget and removed when closed.

import { ApiError } from './server.js';
import { h } from './dom.js';

/**
 * @param {HTMLElement} host
 * @param {HTMLDialogElement} dialog
 * @param {AbortSignal} signal
 */
function show(host, dialog, signal) {
  host.append(dialog);
  dialog.addEventListener('close', () => dialog.remove(), { signal });
  signal.addEventListener('abort', () => dialog.remove(), { once: true });
  dialog.showModal();
}

/** @param {unknown} error */
export function errorText(error) {
  if (error instanceof ApiError) return `${error.message} (${error.code})`;
  if (error instanceof Error) return error.message;
  return String(error);
}

/**
 * The edit dialog for a stream's label and URL. The URL field shows the masked URL; it is only
 * sent when changed, and a changed URL must not keep the `***` mask in place of a password.
 * @param {HTMLElement} host
 * @param {import('./server.js').Stream} stream
 * @param {(change: {label?: string, url?: string}) => Promise<void>} save  rejects with the API's error
 * @param {AbortSignal} signal
 */
export function editDialog(host, stream, save, signal) {
  const label = h('input', { name: 'label', type: 'text', maxlength: 200, 'aria-label': 'Label' });
  label.value = stream.label;
  const url = h('input', { name: 'url', type: 'text', maxlength: 2048, spellcheck: 'false', 'aria-label': 'URL' });
  url.value = stream.url;
  const error = h('p', { class: 'rn-error', role: 'alert' });
  const cancel = h('button', { type: 'button', class: 'rn-button', text: 'Cancel' });
  const submit = h('button', { type: 'submit', class: 'rn-button rn-primary', text: 'Save' });
  const form = h('form', { class: 'rn-form rn-edit' }, [
    h('h3', { text: 'Edit stream' }),
    h('label', {}, [h('span', { text: 'Label' }), label]),
    h('label', {}, [h('span', { text: 'URL' }), url]),
    // only a URL that holds a password shows it masked (a demo:// URL has none)
    stream.url.includes(':***@')
      ? h('p', { class: 'rn-hint', text: 'The password is hidden as ***: leave the URL as it is, or type it again in full.' })
      : null,
    error,
    h('div', { class: 'rn-actions' }, [cancel, submit]),
  ]);
  const dialog = h('dialog', { class: 'rn-dialog', 'aria-label': `Edit ${stream.label}` }, [form]);
  cancel.addEventListener('click', () => dialog.close(), { signal });
  form.addEventListener(
    'submit',
    async (event) => {
      event.preventDefault();
      /** @type {{label?: string, url?: string}} */
      const change = {};
      if (label.value !== stream.label) change.label = label.value;
      const newUrl = url.value.trim();
      if (newUrl !== stream.url) {
        if (newUrl.includes(':***@')) {
          error.textContent = 'Type the password again in full: *** stands for the stored one.';
          return;
        }
        change.url = newUrl;
      }
      if (!Object.keys(change).length) {
        dialog.close();
        return;
      }
      submit.disabled = true;
      error.textContent = '';
      try {
        await save(change);
        dialog.close();
      } catch (e) {
        error.textContent = errorText(e);
      } finally {
        submit.disabled = false;
      }
    },
    { signal },
  );
  show(host, dialog, signal);
  label.focus();
  return dialog;
}

/**
 * Asks before removing a stream, naming it by its label and its (masked) URL.
 * @param {HTMLElement} host
 * @param {{label: string, url: string}} stream
 * @param {() => Promise<void>} remove  rejects with the API's error
 * @param {AbortSignal} signal
 */
export function confirmRemoval(host, stream, remove, signal) {
  const label = stream.label;
  const error = h('p', { class: 'rn-error', role: 'alert' });
  const cancel = h('button', { type: 'button', class: 'rn-button', text: 'Cancel' });
  const confirm = h('button', { type: 'button', class: 'rn-button rn-danger', text: 'Remove' });
  const question = h('p');
  question.append('Remove ', h('strong', { text: label }), '? Its viewers stop, and it leaves the stream list.');
  const dialog = h('dialog', { class: 'rn-dialog', role: 'alertdialog', 'aria-label': `Remove ${label}` }, [
    h('h3', { text: 'Remove stream' }),
    question,
    h('p', { class: 'rn-hint rn-url', text: stream.url }),
    error,
    h('div', { class: 'rn-actions' }, [cancel, confirm]),
  ]);
  cancel.addEventListener('click', () => dialog.close(), { signal });
  confirm.addEventListener(
    'click',
    async () => {
      confirm.disabled = true;
      try {
        await remove();
        dialog.close();
      } catch (e) {
        error.textContent = errorText(e);
        confirm.disabled = false;
      }
    },
    { signal },
  );
  show(host, dialog, signal);
  cancel.focus();
  return dialog;
}
