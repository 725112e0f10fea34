// A tile's expanded view: a modal dialog with its own player on the `full` profile. It has what a tile has
// and more room: the status badge in the same colours, Pause / Resume, a snapshot of the picture shown
// (downloaded as a JPEG, and handed to the kernel as `grid.last_snapshot`), Close, and the stream's figures
// ("H.264 · 1280x720 · 25.0 fps · 2100 kb/s"). It plays on the same path a tile would (stream-player.js:
// WebCodecs H.264 when the page can, else MPEG-1), named in `data-codec` on the dialog; both paths are fed
// from the camera's one source relay, so it shows the same moment as the tile. The tile pauses its own
// stream while it is open and resumes when it closes (see Tile.expand).

import { ClipControls } from './clips.js';
import { button, h } from './dom.js';
import { Figures } from './figures.js';
import { icon } from './icons.js';
import { Phase, phaseOf, showPhase } from './phase.js';
import { StreamPlayer } from './stream-player.js';

/** @typedef {import('./server.js').Backend} Backend */
/** @typedef {import('./server.js').Stream} Stream */
/** @typedef {import('./player.js').ServerMessage} ServerMessage */
/** @typedef {import('./codec.js').PathName} PathName */
/** @typedef {import('./codec.js').PathMemory} PathMemory */

/**
 * What a snapshot is of, for the kernel and the file name.
 * @typedef {{stream_id: string, label: string, captured_at: string, width: number, height: number}} SnapshotInfo
 */

/**
 * @typedef {object} ExpandedHost
 * @property {Backend} api
 * @property {HTMLElement} root  where the dialog goes
 * @property {PathMemory} paths  the grid's remembered fallbacks to MPEG-1
 * @property {(blob: Blob, info: SnapshotInfo) => void} [snapshot]  a snapshot was taken (to the kernel)
 * @property {number} [clipSeconds]  how long the Record button records (default 10)
 */

/**
 * A file name for a snapshot: the label's letters and digits, then the local time.
 * @param {string} label
 * @param {Date} when
 */
export function snapshotName(label, when) {
  const safe = label.replace(/[^\p{L}\p{N}_-]+/gu, '_').replace(/^_+|_+$/g, '').slice(0, 60) || 'camera';
  const pad = (/** @type {number} */ n) => String(n).padStart(2, '0');
  const date = `${when.getFullYear()}-${pad(when.getMonth() + 1)}-${pad(when.getDate())}`;
  const time = `${pad(when.getHours())}-${pad(when.getMinutes())}-${pad(when.getSeconds())}`;
  return `${safe}-${date}_${time}.jpg`;
}

export class ExpandedView {
  /**
   * Builds the dialog and opens its stream; `show` puts it on the page.
   * @param {ExpandedHost} host
   * @param {Stream} stream
   * @param {AbortSignal} signal  the tile's: destroys the player and drops the listeners when it goes
   * @param {() => void} onClosed  the dialog closed (Close, Escape, or the stream ended) and is gone
   */
  constructor(host, stream, signal, onClosed) {
    this.host = host;
    this.stream = stream;
    this.signal = signal;
    this.onClosed = onClosed;
    this.paused = false;
    /** @type {{codec: string, width: number, height: number, maxKbps: number | null} | null} */
    this.video = null;
    this.rates = '';
    this.figures = new Figures();
    this.canvas = h('canvas', { class: 'rn-canvas rn-full', width: 1280, height: 720 });
    this.badge = h('span', { class: 'rn-badge', role: 'status' });
    this.pauseButton = button(`Pause ${stream.label}`, 'pause', () => this.togglePause(), signal);
    this.snapshotButton = button(`Snapshot of ${stream.label}`, 'snapshot', () => this.takeSnapshot(), signal);
    this.snapshotButton.title = `Snapshot of ${stream.label}: download the picture shown as a JPEG`;
    this.closeButton = h('button', { type: 'button', class: 'rn-button', text: 'Close', 'aria-label': 'Close' });
    this.notice = h('span', { class: 'rn-notice', role: 'status' }); // "Saved Door-….jpg", or why not
    this.clips = new ClipControls(host.api, stream, host.clipSeconds ?? 10, signal);
    const title = h('span', { class: 'rn-label', text: stream.label });
    this.dialog = h('dialog', { class: 'rn-dialog rn-expanded', 'aria-label': `${stream.label}, expanded` }, [
      h('header', { class: 'rn-tile-head' }, [
        title,
        this.badge,
        h('div', { class: 'rn-controls' }, [this.pauseButton, this.snapshotButton, this.closeButton]),
      ]),
      h('div', { class: 'rn-screen' }, [this.canvas]),
      h('footer', { class: 'rn-tile-foot' }, [this.figures.el, this.notice, this.clips.el]),
    ]);
    this.setPhase(Phase.CONNECTING);
    const setup = {
      connect: (/** @type {PathName} */ codec) => host.api.openSocket(stream, 'full', codec),
      mount: (/** @type {HTMLCanvasElement} */ canvas) => {
        this.canvas.replaceWith(canvas);
        this.canvas = canvas;
      },
      canvas: { class: 'rn-canvas rn-full', width: 1280, height: 720 },
      webgl: false, // JSMpeg on Canvas2D: a WebGL canvas keeps no picture for a snapshot to read
      memory: host.paths,
      stream,
      profile: /** @type {const} */ ('full'),
    };
    this.player = new StreamPlayer(setup, {
      onMessage: (message) => this.onMessage(message),
      onFrame: () => this.onFrame(),
      onClose: () => this.setPhase(Phase.OFFLINE, ': disconnected from the server'),
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
    dialog.addEventListener('keydown', (event) => this.onKey(event), { signal });
    signal.addEventListener('abort', () => player.destroy(), { once: true });
    this.host.root.append(dialog);
    dialog.showModal();
    this.closeButton.focus();
  }

  /**
   * @param {string} phase
   * @param {string} [suffix]
   */
  setPhase(phase, suffix = '') {
    const known = phaseOf(phase);
    this.phase = known;
    this.dialog.dataset.phase = known;
    showPhase(this.badge, known, suffix);
    this.pauseButton.disabled = known === Phase.ENDED || known === Phase.ERROR;
  }

  /** @param {ServerMessage} message */
  onMessage(message) {
    if (message.type === 'status') {
      if (message.phase === Phase.ENDED) {
        this.dialog.close();
        return;
      }
      if (message.phase === Phase.PLAYING && this.paused) return; // a late answer to our own pause
      const attempt = message.phase === Phase.RECONNECTING && message.attempt ? ` (attempt ${message.attempt})` : '';
      this.setPhase(message.phase, attempt);
      if (message.detail) this.figures.setDetail(message.detail);
    } else if (message.type === 'error' && message.code === 'LIMIT' && !message.fatal) {
      this.setPhase(Phase.CONNECTING, ': waiting for a free relay');
      this.badge.title = message.message;
    } else if (message.type === 'error') {
      this.setPhase(Phase.ERROR, `: ${message.message}`);
      this.figures.setDetail(message.message);
    } else if (message.type === 'video_start') {
      this.video = {
        codec: message.codec,
        width: message.width,
        height: message.height,
        maxKbps: typeof message.max_kbps === 'number' ? message.max_kbps : null,
      };
      this.dialog.dataset.videoSize = `${message.width}x${message.height}`;
      this.figures.maxKbps = this.video.maxKbps;
      this.renderFigures();
    }
  }

  onFrame() {
    const player = this.player;
    this.dialog.dataset.frames = String(player.frames);
    if (this.phase !== Phase.PLAYING && !this.paused) this.setPhase(Phase.PLAYING);
    const rates = this.figures.picture(player, performance.now());
    if (rates) {
      this.rates = rates;
      this.renderFigures();
    }
  }

  /** "1280x720 · 25.0 fps · 2100 kb/s (max 4000)": the picture's size, then the rates (an MPEG-1 view's
   * ceiling after them). */
  renderFigures() {
    const video = this.video;
    const parts = [];
    if (video) parts.push(`${video.width}x${video.height}`);
    if (this.rates) parts.push(this.rates);
    if (parts.length && (this.phase === Phase.PLAYING || this.phase === Phase.PAUSED)) this.figures.setDetail(parts.join(' · '));
  }

  togglePause() {
    this.paused = !this.paused;
    this.player.send(this.paused ? 'pause' : 'resume');
    const label = this.stream.label;
    const name = this.paused ? `Resume ${label}` : `Pause ${label}`;
    this.pauseButton.replaceChildren(icon(this.paused ? 'play' : 'pause'));
    this.pauseButton.setAttribute('aria-label', name);
    this.pauseButton.title = name;
    this.pauseButton.classList.toggle('rn-play', this.paused);
    this.pauseButton.classList.toggle('rn-pause', !this.paused);
    if (this.paused) this.setPhase(Phase.PAUSED);
  }

  /** Downloads a JPEG of the picture shown, and hands it to the kernel (grid.last_snapshot). */
  async takeSnapshot() {
    this.snapshotButton.disabled = true;
    try {
      const blob = await this.player.snapshot();
      const when = new Date();
      const name = snapshotName(this.stream.label, when);
      const size = this.dialog.dataset.videoSize?.split('x').map(Number) ?? [0, 0];
      const info = {
        stream_id: this.stream.id,
        label: this.stream.label,
        captured_at: when.toISOString(),
        width: size[0] || 0,
        height: size[1] || 0,
      };
      const url = URL.createObjectURL(blob);
      const link = h('a', { href: url, download: name, hidden: true });
      this.dialog.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60_000); // the download has read it by then
      this.host.snapshot?.(blob, info);
      this.dialog.dataset.snapshots = String(Number(this.dialog.dataset.snapshots || 0) + 1);
      this.notice.textContent = `Saved ${name}`;
    } catch (error) {
      this.notice.textContent = `No snapshot: ${error instanceof Error ? error.message : String(error)}`;
    } finally {
      this.snapshotButton.disabled = false;
    }
  }

  /** @param {KeyboardEvent} event  Space / k pause-resume, s snapshot (Escape closes: the dialog's own) */
  onKey(event) {
    if (event.target instanceof HTMLButtonElement) return; // a focused button takes Space itself
    if (event.key === ' ' || event.key === 'k') {
      event.preventDefault();
      this.togglePause();
    } else if (event.key === 's') {
      event.preventDefault();
      this.takeSnapshot();
    }
  }
}
