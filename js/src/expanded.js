// A tile's expanded view: a modal dialog with its own LivePlayer on the `full` profile, a badge that
// says what the server says, and a Close button. The tile pauses its own stream while it is open and
// resumes when it closes (see Tile.expand).

import { h } from './dom.js';
import { Phase } from './phase.js';
import { LivePlayer } from './player.js';

/** @typedef {import('./server.js').Backend} Backend */
/** @typedef {import('./server.js').Stream} Stream */
/** @typedef {import('./player.js').ServerMessage} ServerMessage */

export class ExpandedView {
  /**
   * Builds the dialog and opens its stream; `show` puts it on the page.
   * @param {{api: Backend, root: HTMLElement}} host  the backend, and where the dialog goes
   * @param {Stream} stream
   * @param {AbortSignal} signal  the tile's: destroys the player and drops the listeners when it goes
   * @param {() => void} onClosed  the dialog closed (Close, Escape, or the stream ended) and is gone
   */
  constructor(host, stream, signal, onClosed) {
    this.host = host;
    this.signal = signal;
    this.onClosed = onClosed;
    const canvas = h('canvas', { class: 'rn-canvas rn-full', width: 1280, height: 720 });
    this.badge = h('span', { class: 'rn-badge', role: 'status', text: Phase.CONNECTING });
    this.closeButton = h('button', { type: 'button', class: 'rn-button', text: 'Close', 'aria-label': 'Close' });
    const title = h('span', { class: 'rn-label', text: stream.label });
    this.dialog = h('dialog', { class: 'rn-dialog rn-expanded', 'aria-label': `${stream.label}, expanded` }, [
      h('header', { class: 'rn-tile-head' }, [title, this.badge, this.closeButton]),
      h('div', { class: 'rn-screen' }, [canvas]),
    ]);
    const connect = () => host.api.openSocket(stream, 'full');
    this.player = new LivePlayer(canvas, connect, { webgl: true }, {
      onMessage: (message) => this.onMessage(message),
      onFrame: () => this.onFrame(),
      onClose: () => {
        this.badge.textContent = 'disconnected';
      },
    });
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
    if (message.type === 'status' && message.phase === Phase.ENDED) this.dialog.close();
  }

  onFrame() {
    this.dialog.dataset.frames = String(this.player.frames);
    if (this.badge.textContent !== Phase.PLAYING) this.badge.textContent = Phase.PLAYING;
  }
}
