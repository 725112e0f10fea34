// One camera in the grid: label, status badge, live canvas, thumbnail, and its controls.
//
// What the tile streams follows three things: what the user asked (play / pause / stop), whether the
// tile is on screen (scrolled out of view or a hidden page pauses the stream; coming back resumes at
// once from the relay's keyframe cache), and whether the expanded view is open (it has its own
// full-profile stream; the tile pauses meanwhile).

import { button, h } from './dom.js';
import { confirmRemoval, editDialog, errorText } from './dialogs.js';
import { LivePlayer, socketBackoff } from './player.js';
import { RateWindow } from './rate.js';

/** @typedef {import('./server.js').Backend} Backend */
/** @typedef {import('./server.js').Stream} Stream */
/** @typedef {import('./player.js').ServerMessage} ServerMessage */

/**
 * @typedef {object} TileHost
 * @property {Backend} api             the server extension or the kernel
 * @property {HTMLElement} root           where dialogs go
 * @property {(tile: Tile) => boolean} webgl  whether this tile may use a WebGL context
 * @property {(id: string) => void} removed    the stream was removed from this tile
 */

const CATCHING_UP_LAG = 2; // pictures waiting in the pacer: a decode that is catching up, not the stream's rate
const PHASES = ['connecting', 'playing', 'paused', 'reconnecting', 'stopped', 'ended', 'error', 'offline'];

export class Tile {
  /**
   * @param {TileHost} host
   * @param {Stream} stream
   */
  constructor(host, stream) {
    this.host = host;
    this.stream = stream;
    this.controller = new AbortController();
    const signal = this.controller.signal;
    /** @type {'play' | 'pause' | 'stop'} */
    this.intent = 'play';
    this.inView = false;
    this.expanded = false;
    /** @type {string} */
    this.phase = 'connecting';
    this.detail = '';
    /** @type {LivePlayer | null} */
    this.player = null;
    this.streaming = false; // the server sends us video (not paused or stopped)
    this.reconnectAttempt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.reconnectTimer = undefined;
    this.thumbToken = 0;
    this.removing = false; // a removal is under way: its relay stops, and its thumbnail goes
    this.rateShownAt = 0;
    this.lastError = ''; // the server's last error message, shown before what the relay waits for
    this.rate = new RateWindow(); // for the fps and kb/s figures

    this.labelEl = h('span', { class: 'rn-label' });
    this.badge = h('span', { class: 'rn-badge', role: 'status' });
    this.detailEl = h('span', { class: 'rn-detail' });
    this.canvas = h('canvas', { class: 'rn-canvas', width: 640, height: 360 });
    this.thumb = h('img', { class: 'rn-thumb', alt: '', hidden: true });
    this.playButton = button('Play', 'play', () => this.play(), signal);
    this.pauseButton = button('Pause', 'pause', () => this.pause(), signal);
    this.stopButton = button('Stop', 'stop', () => this.stop(), signal);
    this.expandButton = button('Expand', 'expand', () => this.expand(), signal);
    this.editButton = button('Edit', 'edit', () => this.edit(), signal);
    this.removeButton = button('Remove', 'remove', () => this.remove(), signal);
    this.el = h('article', { class: 'rn-tile', tabindex: 0, 'data-stream-id': stream.id }, [
      h('header', { class: 'rn-tile-head' }, [this.labelEl, this.badge]),
      h('div', { class: 'rn-screen' }, [this.canvas, this.thumb]),
      h('footer', { class: 'rn-tile-foot' }, [
        h('div', { class: 'rn-controls' }, [
          this.playButton,
          this.pauseButton,
          this.stopButton,
          this.expandButton,
          this.editButton,
          this.removeButton,
        ]),
        this.detailEl,
      ]),
    ]);
    this.el.addEventListener('keydown', (event) => this.onKey(event), { signal });
    this.update(stream);
    this.setPhase('connecting');
  }

  /** @param {Stream} stream  new figures from the API (label, masked URL, state) */
  update(stream) {
    this.stream = stream;
    this.labelEl.textContent = stream.label;
    this.labelEl.title = stream.label;
    this.el.setAttribute('aria-label', `Camera ${stream.label}`);
    this.thumb.alt = `Last picture of ${stream.label}`;
    const names = { Play: this.playButton, Pause: this.pauseButton, Stop: this.stopButton };
    Object.assign(names, { Expand: this.expandButton, Edit: this.editButton, Remove: this.removeButton });
    for (const [action, el] of Object.entries(names)) {
      el.setAttribute('aria-label', `${action} ${stream.label}`);
      el.title = `${action} ${stream.label}`;
    }
  }

  // -- what the user asks ------------------------------------------------------------------------

  play() {
    if (this.phase === 'ended') return;
    this.intent = 'play';
    if (this.player && !this.player.connected) this.dropPlayer(); // a fatal error or a closed socket
    // the relay waits for the user after some errors (a wrong password): Play asks it to try again
    if (this.player && this.phase === 'error' && this.streaming) this.player.send('reconnect');
    this.sync();
  }

  pause() {
    this.intent = 'pause';
    this.sync();
  }

  stop() {
    this.intent = 'stop';
    this.sync();
  }

  /** @param {boolean} visible  on screen (IntersectionObserver and the page's visibility) */
  setInView(visible) {
    if (this.inView === visible) return;
    this.inView = visible;
    this.sync();
  }

  /** Brings the stream in line with intent, visibility and the expanded view. */
  sync() {
    if (this.phase === 'ended') return;
    const want = this.intent === 'play' && this.inView && !this.expanded;
    if (want) {
      if (!this.player) {
        this.startPlayer();
      } else if (!this.streaming && this.player.send(this.phase === 'stopped' ? 'start' : 'resume')) {
        this.streaming = true;
      }
    } else if (this.player && this.streaming) {
      const action = this.intent === 'stop' ? 'stop' : 'pause';
      if (this.player.send(action)) this.streaming = false;
    } else if (this.player && this.intent === 'stop' && this.phase === 'paused') {
      this.player.send('stop');
    }
    this.renderControls();
  }

  startPlayer() {
    clearTimeout(this.reconnectTimer);
    const connect = () => this.host.api.openSocket(this.stream, 'grid');
    this.streaming = true;
    this.player = new LivePlayer(this.canvas, connect, { webgl: this.host.webgl(this) }, {
      onMessage: (message) => this.onMessage(message),
      onFrame: () => this.onFrame(),
      onData: () => this.onData(),
      onClose: (event) => this.onClose(event),
    });
    this.rate.reset();
    if (this.phase !== 'reconnecting') this.setPhase('connecting');
  }

  dropPlayer() {
    clearTimeout(this.reconnectTimer);
    if (this.player) this.player.destroy();
    this.player = null;
    this.streaming = false;
  }

  // -- what the server says ----------------------------------------------------------------------

  /** @param {ServerMessage} message */
  onMessage(message) {
    if (message.type === 'status') {
      this.reconnectAttempt = 0;
      if (message.phase === 'reconnecting') {
        const attempt = message.attempt ? ` (attempt ${message.attempt})` : '';
        this.setPhase('reconnecting', `${attempt}`);
      } else if (message.phase === 'ended') {
        this.ended();
      } else {
        if (message.phase === 'playing' && !this.streaming) return; // a late answer to our own pause
        this.setPhase(message.phase);
      }
      if (message.detail) {
        // what the server waits for, e.g. "connected; waiting for the camera's next keyframe"; after an
        // error (a wrong password), the error first: "… (RTSP 401 Unauthorized) · not retrying: …"
        this.detail = message.phase === 'error' && this.lastError ? `${this.lastError} · ${message.detail}` : message.detail;
        this.renderDetail();
      }
    } else if (message.type === 'error' && message.code === 'LIMIT' && !message.fatal) {
      // the server runs its most relays: it subscribes this tile as soon as one frees a place
      this.setPhase('connecting'); // the detail line says why it waits
      this.detail = message.message;
      this.renderDetail();
    } else if (message.type === 'error') {
      this.lastError = message.message;
      this.detail = message.message;
      if (message.fatal || this.phase !== 'reconnecting') this.setPhase('error', `: ${message.message}`);
      else this.renderDetail();
    } else if (message.type === 'video_start') {
      this.el.dataset.videoSize = `${message.width}x${message.height}`;
    }
  }

  onData() {
    this.el.dataset.bytes = String(this.player ? this.player.bytes : 0);
  }

  onFrame() {
    const player = this.player;
    if (!player) return;
    this.el.dataset.frames = String(player.frames);
    this.el.dataset.lag = String(player.pacer.lag); // pictures waiting to be decoded
    this.el.dataset.dropped = String(player.pacer.dropped); // pictures skipped to catch up
    const now = performance.now();
    this.rate.picture(now, player.bytes, player.pacer.lag >= CATCHING_UP_LAG);
    const rates = this.rate.rates();
    if (rates && this.phase === 'playing' && now - this.rateShownAt >= 1000) {
      this.rateShownAt = now;
      this.detail = `${rates.fps.toFixed(1)} fps · ${Math.round(rates.kbps)} kb/s`;
      this.renderDetail();
    }
    if (this.streaming && this.phase !== 'playing' && this.phase !== 'reconnecting') this.setPhase('playing');
    if (!this.thumb.hidden && this.streaming) this.thumb.hidden = true;
  }

  /** @param {{code: number, reason: string, opened: boolean}} event */
  async onClose(event) {
    this.streaming = false;
    if (event.reason === 'ended') {
      this.ended();
      return;
    }
    if (this.phase === 'error' && event.opened) return; // fatal: the user retries with play
    if (!event.opened) {
      // refused before the upgrade: a removed stream (404) or a lost server
      try {
        await this.host.api.request('GET', `streams/${encodeURIComponent(this.stream.id)}`);
      } catch (error) {
        if (error instanceof Error && 'status' in error && error.status === 404) {
          this.ended();
          return;
        }
      }
    }
    if (this.controller.signal.aborted) return;
    this.reconnectAttempt += 1;
    const delay = socketBackoff(this.reconnectAttempt);
    this.setPhase('reconnecting', ` (attempt ${this.reconnectAttempt})`);
    this.detail = 'lost the connection to the server';
    this.renderDetail();
    if (this.player) this.player.destroy();
    this.player = null;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      if (!this.controller.signal.aborted && !this.player) this.sync();
    }, delay * 1000);
  }

  ended() {
    this.dropPlayer();
    this.setPhase('ended');
    this.detail = 'this stream was removed';
    this.renderDetail();
    this.showThumbnail(false);
  }

  // -- display -----------------------------------------------------------------------------------

  /**
   * @param {string} phase
   * @param {string} [suffix]  e.g. " (attempt 3)" or ": camera refused"
   */
  setPhase(phase, suffix = '') {
    const known = PHASES.includes(phase) ? phase : 'connecting';
    this.phase = known;
    this.el.dataset.phase = known;
    this.badge.textContent = `${known}${suffix}`;
    this.badge.className = `rn-badge rn-${known}`;
    if (known === 'playing' && this.detail && !this.detail.includes('fps')) {
      this.detail = '';
    }
    if (known !== 'playing' && this.detail.includes('fps')) this.detail = '';
    this.renderDetail();
    if (known === 'paused' || known === 'stopped' || known === 'reconnecting' || known === 'error') {
      this.showThumbnail(true);
    }
    this.renderControls();
  }

  renderDetail() {
    this.detailEl.textContent = this.detail;
    this.detailEl.title = this.detail;
  }

  renderControls() {
    const ended = this.phase === 'ended';
    const playing = this.intent === 'play' && !ended;
    this.playButton.disabled = ended || (playing && this.phase !== 'error');
    this.pauseButton.disabled = ended || this.intent !== 'play';
    this.stopButton.disabled = ended || this.intent === 'stop';
    this.expandButton.disabled = ended;
    this.editButton.disabled = ended;
  }

  /** @param {boolean} visible  show the last picture over the canvas (fetched fresh) */
  async showThumbnail(visible) {
    const token = ++this.thumbToken;
    if (!visible || this.removing) {
      this.thumb.hidden = true;
      return;
    }
    try {
      const id = encodeURIComponent(this.stream.id);
      const data = await this.host.api.request(
        'GET',
        `streams/${id}/thumbnail?format=json&width=640`,
        undefined,
        this.controller.signal,
      );
      if (token !== this.thumbToken || this.controller.signal.aborted) return;
      if (this.streaming && this.phase === 'playing') return; // playing again already
      this.thumb.src = data.data_url;
      this.thumb.hidden = false;
      this.el.dataset.thumbnail = data.stale ? 'stale' : 'fresh';
    } catch {
      // no picture yet (503) or the view went away: keep what is shown
    }
  }

  // -- expand, edit, remove, keys ----------------------------------------------------------------

  expand() {
    if (this.expanded || this.phase === 'ended') return;
    const signal = this.controller.signal;
    const canvas = h('canvas', { class: 'rn-canvas rn-full', width: 1280, height: 720 });
    const badge = h('span', { class: 'rn-badge', role: 'status', text: 'connecting' });
    const close = h('button', { type: 'button', class: 'rn-button', text: 'Close', 'aria-label': 'Close' });
    const title = h('span', { class: 'rn-label', text: this.stream.label });
    const dialog = h('dialog', { class: 'rn-dialog rn-expanded', 'aria-label': `${this.stream.label}, expanded` }, [
      h('header', { class: 'rn-tile-head' }, [title, badge, close]),
      h('div', { class: 'rn-screen' }, [canvas]),
    ]);
    const connect = () => this.host.api.openSocket(this.stream, 'full');
    const player = new LivePlayer(canvas, connect, { webgl: true }, {
      onMessage: (message) => {
        if (message.type === 'status') badge.textContent = message.detail ? `${message.phase}: ${message.detail}` : message.phase;
        if (message.type === 'error' && message.code === 'LIMIT' && !message.fatal) {
          badge.textContent = 'waiting for a free relay';
          badge.title = message.message;
        } else if (message.type === 'error') badge.textContent = `error: ${message.message}`;
        if (message.type === 'status' && message.phase === 'ended') dialog.close();
      },
      onFrame: () => {
        dialog.dataset.frames = String(player.frames);
        if (badge.textContent !== 'playing') badge.textContent = 'playing';
      },
      onClose: () => {
        badge.textContent = 'disconnected';
      },
    });
    this.expanded = true;
    this.sync();
    close.addEventListener('click', () => dialog.close(), { signal });
    dialog.addEventListener(
      'close',
      () => {
        player.destroy();
        dialog.remove();
        this.expanded = false;
        this.sync();
        this.el.focus();
      },
      { signal, once: true },
    );
    signal.addEventListener('abort', () => player.destroy(), { once: true });
    this.host.root.append(dialog);
    dialog.showModal();
    close.focus();
  }

  edit() {
    editDialog(
      this.host.root,
      this.stream,
      async (change) => {
        const id = encodeURIComponent(this.stream.id);
        const updated = await this.host.api.request('PATCH', `streams/${id}`, change);
        this.update(updated);
      },
      this.controller.signal,
    );
  }

  remove() {
    confirmRemoval(
      this.host.root,
      this.stream.label,
      async () => {
        const id = encodeURIComponent(this.stream.id);
        this.removing = true;
        try {
          await this.host.api.request('DELETE', `streams/${id}`);
        } catch (error) {
          if (!(error instanceof Error && 'status' in error && error.status === 404)) {
            this.removing = false;
            throw error;
          }
        }
        this.host.removed(this.stream.id);
      },
      this.controller.signal,
    );
  }

  /** @param {KeyboardEvent} event  keys on the focused tile: Space / k play-pause, Enter / f expand */
  onKey(event) {
    if (event.target !== this.el) return;
    if (event.key === ' ' || event.key === 'k') {
      event.preventDefault();
      if (this.intent === 'play') this.pause();
      else this.play();
    } else if (event.key === 'Enter' || event.key === 'f') {
      event.preventDefault();
      this.expand();
    }
  }

  /** Stops everything this tile started: player, socket, timers, listeners, dialogs. */
  destroy() {
    this.controller.abort();
    this.dropPlayer();
    this.el.remove();
  }
}

export { errorText };
