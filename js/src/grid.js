// The grid: an add-stream form, a responsive grid of tiles, and the stream list kept in step with
// the server (streams added from Python or another page show up; removed ones go).
//
// Its backend is the server extension when the page reaches it, else the kernel over the widget's
// comm (kernel.js); only when neither answers does the grid say it cannot play.

import { PathMemory } from './codec.js';
import { button, h } from './dom.js';
import { errorText } from './dialogs.js';
import { Phase } from './phase.js';
import { findApi } from './server.js';
import { Tile } from './tile.js';
import { TileOrder } from './layout.js';
import { Wall } from './wall.js';

/** @typedef {import('./server.js').Backend} Backend */
/** @typedef {import('./server.js').Stream} Stream */

/**
 * @typedef {object} GridOptions
 * @property {number | null} columns   null: as many as fit
 * @property {string[]} streams        ids to show, in order; empty: every stream
 * @property {'auto' | 'canvas2d' | 'webgl'} renderer
 * @property {boolean} showForm
 * @property {boolean} [fullscreen]    the wall: every tile on the screen (see wall.js)
 * @property {string[]} [order]       the user's order of the tiles (drag and drop, Alt+arrows), when
 *   `streams` is empty; streams not in it follow in the server's order
 * @property {string | null} [focus]  the stream shown large (first, two columns by two rows)
 * @property {number} [clipSeconds]    how long the Record buttons record
 * @property {number} refreshSeconds   how often the stream list is re-read
 */

const WEBGL_TILES = 4; // browsers cap WebGL contexts near 16; beyond a few tiles Canvas2D is cheaper
const KERNEL_WAIT_MS = 5000; // the kernel answers between cell runs: past this, say it does not (yet)

/** @type {boolean | undefined} */
let hardwareWebgl;

/** WebGL with a GPU behind it (a software rasterizer such as SwiftShader is slower than Canvas2D). */
function hasHardwareWebgl() {
  if (hardwareWebgl !== undefined) return hardwareWebgl;
  hardwareWebgl = false;
  try {
    const gl = document.createElement('canvas').getContext('webgl');
    if (gl) {
      const info = gl.getExtension('WEBGL_debug_renderer_info');
      const renderer = info ? String(gl.getParameter(info.UNMASKED_RENDERER_WEBGL)) : '';
      hardwareWebgl = !/swiftshader|llvmpipe|softpipe|software/i.test(renderer);
      gl.getExtension('WEBGL_lose_context')?.loseContext();
    }
  } catch {
    hardwareWebgl = false;
  }
  return hardwareWebgl;
}

export class Grid {
  /**
   * @param {HTMLElement} el
   * @param {GridOptions} options
   * @param {(connection: string) => void} report  tells the kernel what answered: extension, kernel, unreachable
   * @param {Backend | null} kernel  the kernel over the widget's comm, for when the extension does not answer
   * @param {{snapshot?: (blob: Blob, info: import('./expanded.js').SnapshotInfo) => void,
   *   wall?: (on: boolean) => void,
   *   layout?: (change: {order?: string[], streams?: string[], focus?: string | null}) => void}} [hooks]
   *   snapshot: a snapshot was taken in an expanded view (the widget sends it to the kernel); wall: the
   *   wall was entered or left (the widget's `fullscreen`); layout: the user reordered the tiles or chose
   *   the large one (the widget's `order`, `streams`, `focus`)
   */
  constructor(el, options, report, kernel, hooks = {}) {
    this.el = el;
    this.hooks = hooks;
    this.options = options;
    this.report = report;
    this.kernel = kernel;
    this.controller = new AbortController();
    /** @type {Map<string, Tile>} */
    this.tiles = new Map();
    /** @type {Backend | null} */
    this.api = null;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.refreshTimer = undefined;
    this.pageVisible = document.visibilityState !== 'hidden';
    /** @type {Set<Element>} */
    this.onScreen = new Set();
    this.paths = new PathMemory(); // streams whose H.264 this page cannot decode: their tiles play MPEG-1

    const signal = this.controller.signal;
    this.message = h('p', { class: 'rn-message', role: 'status' });
    this.grid = h('div', { class: 'rn-grid', role: 'list' });
    this.form = this.buildForm(signal);
    this.wallButton = button('Wall', 'wall', () => this.wall.toggle(), signal);
    this.wallButton.title = 'Wall: every camera on the whole screen (w); Escape leaves';
    this.wallButton.append(h('span', { class: 'rn-wall-text', text: 'Leave the wall (Esc)' })); // shown on the wall
    this.toolbar = h('div', { class: 'rn-toolbar' }, [this.form, this.wallButton]);
    this.root = h('div', { class: 'rn-root', tabindex: -1 }, [this.toolbar, this.message, this.grid]);
    this.wall = new Wall(
      this.root,
      this.grid,
      () => ({ count: this.tiles.size, columns: this.options.columns }),
      (on) => {
        this.wallButton.setAttribute('aria-pressed', String(on));
        if (this.options.fullscreen !== on) {
          this.options.fullscreen = on;
          this.hooks.wall?.(on);
        }
      },
      signal,
    );
    this.root.addEventListener('keydown', (event) => this.onKey(event), { signal });
    this.layout = new TileOrder(
      this.grid,
      this.tiles,
      this.options,
      (change) => {
        this.hooks.layout?.(change);
        this.wall.arrange();
      },
      signal,
    );
    el.append(this.root);
    this.observer = new IntersectionObserver((entries) => this.onIntersect(entries), { threshold: 0.01 });
    document.addEventListener(
      'visibilitychange',
      () => {
        this.pageVisible = document.visibilityState !== 'hidden';
        for (const tile of this.tiles.values()) this.applyVisibility(tile);
      },
      { signal },
    );
    this.applyOptions();
    this.start();
  }

  async start() {
    const signal = this.controller.signal;
    this.message.textContent = 'Connecting to the server…';
    /** @type {Backend | null} */
    let api = null;
    try {
      api = await findApi(signal);
    } catch {
      return; // the view went away
    }
    if (signal.aborted) return;
    let connection = 'extension';
    let problem = '';
    if (!api && this.kernel) {
      this.message.textContent = 'Connecting to the kernel…';
      const answer = await this.kernelAnswers(this.kernel, signal);
      if (answer === true) {
        api = this.kernel;
        connection = 'kernel';
      } else {
        problem = answer;
      }
    }
    if (signal.aborted) return;
    if (!api) {
      this.unreachable(problem);
      return;
    }
    this.api = api;
    this.root.dataset.connection = connection;
    this.message.setAttribute('role', 'status');
    this.message.textContent = '';
    this.applyOptions();
    this.report(connection);
    await this.refresh();
    this.refreshTimer = setInterval(() => {
      if (this.pageVisible) this.refresh();
    }, this.options.refreshSeconds * 1000);
  }

  /**
   * Whether the kernel's relay answers `health`. It answers between cell runs only: after
   * KERNEL_WAIT_MS the grid says it cannot play, and recovers if the answer comes later.
   * @param {Backend} kernel
   * @param {AbortSignal} signal
   * @returns {Promise<true | string>}  true, or what went wrong
   */
  async kernelAnswers(kernel, signal) {
    const timer = setTimeout(() => this.unreachable(), KERNEL_WAIT_MS);
    try {
      const health = await kernel.request('GET', 'health', undefined, signal);
      return (!!health && health.status === 'healthy') || 'the kernel’s relay is not healthy';
    } catch (error) {
      return errorText(error);
    } finally {
      clearTimeout(timer);
    }
  }

  /** @param {string} [problem]  what the kernel answered, if it did */
  unreachable(problem) {
    this.root.dataset.connection = 'unreachable';
    this.message.setAttribute('role', 'alert');
    const kernel = problem ? `the kernel cannot serve the widget: ${problem}` : 'the kernel does not answer the widget';
    this.message.textContent =
      `The rtsp-notebook server extension is not reachable from this page, and ${kernel}. Run JupyterLab or ` +
      'Notebook 7 with rtsp-notebook installed in the server’s environment (`jupyter server extension list` ' +
      'shows it), or run this widget in a kernel with rtsp-notebook installed.';
    this.form.hidden = true;
    this.report('unreachable');
  }

  /** Re-reads the stream list and adds, updates and drops tiles to match it. */
  async refresh() {
    const api = this.api;
    if (!api) return;
    /** @type {Stream[]} */
    let streams;
    try {
      streams = await api.request('GET', 'streams', undefined, this.controller.signal);
    } catch (error) {
      if (!this.controller.signal.aborted) this.message.textContent = `Could not list streams: ${errorText(error)}`;
      return;
    }
    if (this.controller.signal.aborted) return;
    const wanted = this.options.streams;
    if (wanted.length) {
      const byId = new Map(streams.map((s) => [s.id, s]));
      streams = wanted.map((id) => byId.get(id)).filter((s) => s !== undefined);
    }
    const ids = new Set(streams.map((s) => s.id));
    for (const [id, tile] of this.tiles) {
      if (!ids.has(id) && tile.phase !== Phase.ENDED) this.dropTile(id);
    }
    for (const stream of streams) {
      const tile = this.tiles.get(stream.id);
      if (tile) tile.update(stream);
      else this.addTile(stream);
    }
    this.layout.listed = streams.map((stream) => stream.id);
    this.layout.arrange();
    this.wall.arrange();
    this.message.textContent = this.tiles.size ? '' : 'No streams yet: add one with the form above.';
  }

  /** @param {Stream} stream */
  addTile(stream) {
    const existing = this.tiles.get(stream.id);
    if (existing) {
      existing.update(stream);
      return existing;
    }
    const api = /** @type {Backend} */ (this.api);
    const tile = new Tile(
      {
        api,
        root: this.root,
        webgl: () => this.useWebgl(),
        paths: this.paths,
        snapshot: this.hooks.snapshot,
        clipSeconds: this.options.clipSeconds,
        focus: (id) => this.layout.setFocus(this.options.focus === id ? null : id),
        move: (id, step) => this.layout.move(id, step),
        removed: (id) => {
          this.dropTile(id);
          this.message.textContent = this.tiles.size ? '' : 'No streams yet: add one with the form above.';
        },
      },
      stream,
    );
    tile.el.setAttribute('role', 'listitem');
    this.tiles.set(stream.id, tile);
    this.grid.append(tile.el);
    this.wall.arrange();
    this.observer.observe(tile.el);
    return tile;
  }

  /** @param {string} id */
  dropTile(id) {
    const tile = this.tiles.get(id);
    if (!tile) return;
    if (this.formError) this.formError.textContent = ''; // it may name this stream (a CONFLICT): the situation changed
    this.tiles.delete(id);
    this.observer.unobserve(tile.el);
    this.onScreen.delete(tile.el);
    tile.destroy();
    this.wall.arrange();
  }

  useWebgl() {
    const renderer = this.options.renderer;
    if (renderer === 'webgl') return true;
    if (renderer === 'canvas2d') return false;
    return this.tiles.size <= WEBGL_TILES && hasHardwareWebgl();
  }

  /** @param {IntersectionObserverEntry[]} entries */
  onIntersect(entries) {
    for (const entry of entries) {
      if (entry.isIntersecting) this.onScreen.add(entry.target);
      else this.onScreen.delete(entry.target);
    }
    for (const tile of this.tiles.values()) this.applyVisibility(tile);
  }

  /** @param {Tile} tile */
  applyVisibility(tile) {
    tile.setInView(this.pageVisible && this.onScreen.has(tile.el));
  }

  /** @param {AbortSignal} signal */
  buildForm(signal) {
    const url = h('input', {
      name: 'url',
      type: 'text',
      required: true,
      maxlength: 2048,
      spellcheck: 'false',
      autocomplete: 'off',
      placeholder: 'rtsp://user:password@camera/stream  or  demo://testsrc2',
      'aria-label': 'Stream URL',
    });
    const label = h('input', {
      name: 'label',
      type: 'text',
      maxlength: 200,
      autocomplete: 'off',
      placeholder: 'Label (optional)',
      'aria-label': 'Label',
    });
    const submit = h('button', { type: 'submit', class: 'rn-button rn-primary', text: 'Add stream' });
    const error = h('p', { class: 'rn-error', role: 'alert' });
    this.formError = error;
    // an answer about what the form held (a CONFLICT naming a stream) is out of date once it changes
    for (const input of [url, label]) input.addEventListener('input', () => (error.textContent = ''), { signal });
    const form = h('form', { class: 'rn-form rn-add', 'aria-label': 'Add a stream' }, [
      h('div', { class: 'rn-row' }, [url, label, submit]),
      error,
    ]);
    form.addEventListener(
      'submit',
      async (event) => {
        event.preventDefault();
        if (!this.api) return;
        submit.disabled = true;
        error.textContent = '';
        /** @type {{url: string, label?: string}} */
        const body = { url: url.value.trim() };
        if (label.value.trim()) body.label = label.value.trim();
        try {
          const stream = await this.api.request('POST', 'streams', body, signal);
          url.value = '';
          label.value = '';
          if (!this.options.streams.length) this.addTile(stream);
          this.message.textContent = '';
        } catch (e) {
          error.textContent = errorText(e);
        } finally {
          submit.disabled = false;
        }
      },
      { signal },
    );
    return form;
  }

  /** @param {KeyboardEvent} event  `w` anywhere in the grid but a text field: the wall on or off */
  onKey(event) {
    const target = /** @type {HTMLElement} */ (event.target);
    if (event.key !== 'w' || event.ctrlKey || event.metaKey || event.altKey) return;
    if (target.closest('input, textarea, dialog, [contenteditable]')) return;
    event.preventDefault();
    this.wall.toggle();
  }

  /** Columns, form, wall: called again when the Python side changes them. */
  applyOptions() {
    const { columns, showForm } = this.options;
    if (this.options.fullscreen && !this.wall.on) this.wall.enter();
    else if (!this.options.fullscreen && this.wall.on) this.wall.leave();
    this.wall.arrange();
    this.grid.style.gridTemplateColumns = columns ? `repeat(${columns}, minmax(0, 1fr))` : '';
    this.grid.dataset.columns = columns ? String(columns) : 'auto';
    this.form.hidden = !showForm || this.root.dataset.connection === 'unreachable';
  }

  /** @param {Partial<GridOptions>} options */
  setOptions(options) {
    const streamsChanged = options.streams && options.streams.join() !== this.options.streams.join();
    const layoutChanged =
      (options.order && options.order.join() !== (this.options.order ?? []).join()) ||
      (options.focus !== undefined && options.focus !== this.options.focus);
    Object.assign(this.options, options);
    this.applyOptions();
    if (streamsChanged) this.refresh();
    else if (layoutChanged) this.layout.arrange();
  }

  /** Destroys every tile (players, sockets, timers) and stops listening; nothing reconnects after. */
  destroy() {
    this.controller.abort();
    clearInterval(this.refreshTimer);
    this.observer.disconnect();
    for (const id of [...this.tiles.keys()]) this.dropTile(id);
    this.root.remove();
  }
}
