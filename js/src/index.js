// The anywidget entry point: one Grid per view. `render` returns the cleanup that anywidget calls
// when the view goes (cell re-run, output cleared, notebook closed): it destroys every player and
// socket, so no reconnect loop outlives the view, and stops listening to the widget's comm.

import './styles.css';

import { Grid } from './grid.js';
import { KernelApi } from './kernel.js';

/**
 * @typedef {object} Model  the part of anywidget's model this widget uses
 * @property {(name: string) => any} get
 * @property {(name: string, value: unknown) => void} set
 * @property {() => void} save_changes
 * @property {(event: string, callback: (...args: any[]) => void) => void} on
 * @property {(event: string, callback: (...args: any[]) => void) => void} off
 * @property {(content: object, callbacks?: unknown, buffers?: ArrayBuffer[]) => void} send  a custom message
 */

const OPTIONS = ['columns', 'streams', 'renderer', 'show_form', 'fullscreen', 'order', 'focus', 'clip_seconds']; // the synced traits read here

/** @param {Model} model */
function options(model) {
  const columns = model.get('columns');
  const renderer = model.get('renderer');
  return {
    columns: typeof columns === 'number' && columns > 0 ? columns : null,
    streams: /** @type {string[]} */ (model.get('streams') || []),
    renderer: /** @type {'auto' | 'canvas2d' | 'webgl'} */ (
      renderer === 'canvas2d' || renderer === 'webgl' ? renderer : 'auto'
    ),
    showForm: model.get('show_form') !== false,
    fullscreen: model.get('fullscreen') === true,
    order: /** @type {string[]} */ (model.get('order') || []),
    focus: /** @type {string | null} */ (model.get('focus') || null),
    clipSeconds: Number(model.get('clip_seconds')) || 10,
    refreshSeconds: 5,
  };
}

/** @param {{model: Model, el: HTMLElement}} context */
function render({ model, el }) {
  el.classList.add('rtsp-notebook');
  const kernel = new KernelApi(model); // listens to the comm; used only if the extension does not answer
  const report = (/** @type {string} */ connection) => {
    model.set('connection', connection);
    model.save_changes();
  };
  // an expanded view's snapshot goes to the kernel too: `grid.last_snapshot` (a PIL image)
  const snapshot = async (/** @type {Blob} */ blob, /** @type {object} */ info) => {
    model.send({ type: 'snapshot', ...info }, undefined, [await blob.arrayBuffer()]);
  };
  const wall = (/** @type {boolean} */ on) => {
    model.set('fullscreen', on);
    model.save_changes();
  };
  const layout = (/** @type {Record<string, unknown>} */ change) => {
    for (const [name, value] of Object.entries(change)) model.set(name, value);
    model.save_changes();
  };
  const grid = new Grid(el, options(model), report, kernel, { snapshot, wall, layout });
  const changed = () => grid.setOptions(options(model));
  for (const name of OPTIONS) model.on(`change:${name}`, changed);
  return () => {
    for (const name of OPTIONS) model.off(`change:${name}`, changed);
    grid.destroy(); // closes the tiles' sockets first
    kernel.destroy();
  };
}

export default { render };
