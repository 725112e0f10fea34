// A tile's expanded view: a modal dialog with its own player on the `full` profile, a badge that says
// what the server says, the same figures line as a tile ("H.264 · 25.0 fps · 812 kb/s") and a Close
// button. It plays on the same path a tile would (stream-player.js: WebCodecs H.264 when the page can, else
// MPEG-1), named in `data-codec` on the dialog. The tile pauses its own stream while it is open and resumes
// when it closes (see Tile.expand).

import { h } from './dom.js';
import { Figures } from './figures.js';
import { Phase } from './phase.js';
import { StreamPlayer } from './stream-player.js';

/** @typedef {import('./server.js').Backend} Backend */
/** @typedef {import('./server.js').Stream} Stream */
/** @typedef {import('./player.js').ServerMessage} ServerMessage */
/** @typedef {import('./codec.js').PathName} PathName */
/** @typedef {import('./codec.js').PathMemory} PathMemory */

export class ExpandedView {
  /**
   * Builds the dialog and opens its stream; `show` puts it on the page.
   * @param {{api: Backend, root: HTMLElement, paths: PathMemory}} host
   *   the backend, where the dialog goes, and the grid's remembered fallbacks to MPEG-1
   * @param {Stream} stream
   * @param {AbortSignal} signal  the tile's: destroys the player and drops the listeners when it goes
   * @param {() => void} onClosed  the dialog closed (Close, Escape, or the stream ended) and is gone
   */
  constructor(host, stream, signal, onClosed) {
    this.host = host;
    this.signal = signal;
    this.onClosed = onClosed;
    this.figures = new Figures();
    this.canvas = h('canvas', { class: 'rn-canvas rn-full', width: 1280, height: 720 });
    this.badge = h('span', { class: 'rn-badge', role: 'status', text: Phase.CONNECTING });
    this.closeButton = h('button', { type: 'button', class: 'rn-button', text: 'Close', 'aria-label': 'Close' });
    const title = h('span', { class: 'rn-label', text: stream.label });
    this.dialog = h('dialog', { class: 'rn-dialog rn-expanded', 'aria-label': `${stream.label}, expanded` }, [
      h('header', { class: 'rn-tile-head' }, [title, this.badge, this.closeButton]),
      h('div', { class: 'rn-screen' }, [this.canvas]),
      h('footer', { class: 'rn-tile-foot' }, [this.figures.el]),
    ]);
    const setup = {
      connect: (/** @type {PathName} */ codec) => host.api.openSocket(stream, 'full', codec),
      mount: (/** @type {HTMLCanvasElement} */ canvas) => {
        this.canvas.replaceWith(canvas);
        this.canvas = canvas;
      },
      canvas: { class: 'rn-canvas rn-full', width: 1280, height: 720 },
      webgl: true,
      memory: host.paths,
      stream,
      profile: /** @type {const} */ ('full'),
    };
    this.player = new StreamPlayer(setup, {
      onMessage: (message) => this.onMessage(message),
      onFrame: () => this.onFrame(),
      onClose: () => {
        this.badge.textContent = 'disconnected';
      },
      onPath: (path, reason) => {
        this.figures.reset();
        this.figures.showPath(path, reason, this.dialog);
      },
    });
    this.figures.showPath(this.player.path, this.player.reason, this.dialog);
  }

  /** Appends the dialog to the host's root, shows it as a modal and focuses Close. */
  show() {
    const { dialog, player, signal } = this;
    this.closeButton.addEventListener('click', () => dialog.close(), { signal });
    dialog.addEventListener(
      'close',
      () => {
        player.destroy();
        dialog.remove();
        this.onClosed();
      },
      { signal, once: true },
    );
    signal.addEventListener('abort', () => player.destroy(), { once: true });
    this.host.root.append(dialog);
    dialog.showModal();
    this.closeButton.focus();
  }

  /** @param {ServerMessage} message */
  onMessage(message) {
    const badge = this.badge;
    if (message.type === 'status') badge.textContent = message.detail ? `${message.phase}: ${message.detail}` : message.phase;
    if (message.type === 'error' && message.code === 'LIMIT' && !message.fatal) {
      badge.textContent = 'waiting for a free relay';
      badge.title = message.message;
    } else if (message.type === 'error') badge.textContent = `error: ${message.message}`;
    if (message.type === 'video_start') this.dialog.dataset.videoSize = `${message.width}x${message.height}`;
    if (message.type === 'status' && message.phase === Phase.ENDED) this.dialog.close();
  }

  onFrame() {
    const player = this.player;
    this.dialog.dataset.frames = String(player.frames);
    if (this.badge.textContent !== Phase.PLAYING) this.badge.textContent = Phase.PLAYING;
    const rates = this.figures.picture(player, performance.now());
    if (rates) this.figures.setDetail(rates);
  }
}
