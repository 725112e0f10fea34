// One camera in the grid: label, status badge, live canvas, thumbnail, and its controls.
//
// What the tile streams follows three things: what the user asked (play / pause / stop), whether the
// tile is on screen (scrolled out of view or a hidden page pauses the stream; coming back resumes at
// once from the relay's keyframe cache), and whether the expanded view is open (expanded.js: its own
// full-profile stream; the tile pauses meanwhile).
//
// Its player (stream-player.js) plays the camera's own H.264 with WebCodecs when the page can, else MPEG-1
// with JSMpeg; the figures line says which ("H.264 · 25.0 fps · 812 kb/s") and `data-codec` on the tile
// says it to tests ('h264' or 'mpeg1').

import { button, h } from './dom.js';
import { confirmRemoval, editDialog } from './dialogs.js';
import { ExpandedView } from './expanded.js';
import { Figures } from './figures.js';
import { InfoPanel } from './info.js';
import { Phase, phaseOf, showPhase } from './phase.js';
import { socketBackoff } from './player.js';
import { StreamPlayer } from './stream-player.js';

/** @typedef {import('./server.js').Backend} Backend */
/** @typedef {import('./server.js').Stream} Stream */
/** @typedef {import('./player.js').ServerMessage} ServerMessage */
/** @typedef {import('./phase.js').PhaseName} PhaseName */
/** @typedef {import('./codec.js').PathName} PathName */

/**
 * @typedef {object} TileHost
 * @property {Backend} api             the server extension or the kernel
 * @property {HTMLElement} root           where dialogs go
 * @property {(tile: Tile) => boolean} webgl  whether this tile may use a WebGL context (JSMpeg)
 * @property {import('./codec.js').PathMemory} paths  the grid's remembered fallbacks to MPEG-1
 * @property {(id: string) => void} removed    the stream was removed from this tile
 * @property {(id: string) => void} [focus]   make this tile the large one (again: no large one)
 * @property {number} [clipSeconds]  how long a Record button records
 * @property {(id: string, step: number) => void} [move]  move this tile `step` places in the order
 * @property {(blob: Blob, info: import('./expanded.js').SnapshotInfo) => void} [snapshot]
 *   a snapshot was taken in the expanded view (the grid hands it to the kernel)
 */

/** What a button does, after its name in its tooltip: Pause and Stop differ in what they keep. */
const HINTS = /** @type {Record<string, string>} */ ({
  Pause: ': hold the picture, keep the camera connected (resumes at once)',
  Stop: ': close the camera connection (Play reconnects)',
  Focus: ': show it large beside the others (again: all the same size)',
  Info: ': uptime, restarts, dropped pictures and recent events',
});

/** What the picture area says over the last picture, by phase (nothing when it plays). */
const OVERLAYS = /** @type {Partial<Record<PhaseName, string>>} */ ({
  [Phase.PAUSED]: 'Paused',
  [Phase.STOPPED]: 'Stopped · Play reconnects',
});

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
    /** @type {PhaseName} */
    this.phase = Phase.CONNECTING;
    this.detail = '';
    /** @type {StreamPlayer | null} */
    this.player = null;
    this.streaming = false; // the server sends us video (not paused or stopped)
    this.reconnectAttempt = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.reconnectTimer = undefined;
    this.thumbToken = 0;
    this.thumbMiss = ''; // what the tile showed when the server last had no picture: not asked again until it changes
    this.viewKnown = false; // the grid said at least once whether the tile is on screen
    this.removing = false; // a removal is under way: its relay stops, and its thumbnail goes
    this.lastError = ''; // the server's last error message, shown before what the relay waits for
    this.figures = new Figures(); // the path's tag, then the fps and kb/s or what the tile says

    this.labelEl = h('span', { class: 'rn-label' });
    this.badge = h('span', { class: 'rn-badge', role: 'status' });
    this.canvas = h('canvas', { class: 'rn-canvas', width: 640, height: 360 }); // each player brings its own
    this.thumb = h('img', { class: 'rn-thumb', alt: '', hidden: true });
    this.overlay = h('div', { class: 'rn-overlay', hidden: true }); // paused, stopped, off screen
    this.playButton = button('Play', 'play', () => this.play(), signal);
    this.pauseButton = button('Pause', 'pause', () => this.pause(), signal);
    this.stopButton = button('Stop', 'stop', () => this.stop(), signal);
    this.expandButton = button('Expand', 'expand', () => this.expand(), signal);
    this.editButton = button('Edit', 'edit', () => this.edit(), signal);
    this.removeButton = button('Remove', 'remove', () => this.remove(), signal);
    this.focusButton = button('Focus', 'focus', () => this.host.focus?.(this.stream.id), signal);
    this.infoButton = button('Info', 'info', () => this.toggleInfo(), signal);
    this.focusButton.classList.add('rn-small');
    this.infoButton.classList.add('rn-small');
    this.info = new InfoPanel(host.api, stream, () => this.pageFacts(), host.clipSeconds ?? 10, signal);
    this.el = h('article', { class: 'rn-tile', tabindex: 0, 'data-stream-id': stream.id }, [
      h('header', { class: 'rn-tile-head', draggable: 'true' }, [
        this.labelEl,
        this.focusButton,
        this.infoButton,
        this.badge,
      ]),
      h('div', { class: 'rn-screen' }, [this.canvas, this.thumb, this.overlay, this.info.el]),
      h('footer', { class: 'rn-tile-foot' }, [
        h('div', { class: 'rn-controls' }, [
          this.playButton,
          this.pauseButton,
          this.stopButton,
          this.expandButton,
          this.editButton,
          this.removeButton,
        ]),
        this.figures.el,
      ]),
    ]);
    this.el.addEventListener('keydown', (event) => this.onKey(event), { signal });
    this.update(stream);
    this.setPhase(Phase.CONNECTING);
  }

  /** @param {Stream} stream  new figures from the API (label, masked URL, state) */
  update(stream) {
    this.stream = stream;
    this.info?.clips.update(stream);
    this.labelEl.textContent = stream.label;
    this.labelEl.title = stream.label;
    this.el.setAttribute('aria-label', `Camera ${stream.label}`);
    this.thumb.alt = `Last picture of ${stream.label}`;
    const names = { Play: this.playButton, Pause: this.pauseButton, Stop: this.stopButton };
    Object.assign(names, { Expand: this.expandButton, Edit: this.editButton, Remove: this.removeButton });
    Object.assign(names, { Focus: this.focusButton, Info: this.infoButton });
    for (const [action, el] of Object.entries(names)) {
      el.setAttribute('aria-label', `${action} ${stream.label}`);
      el.title = `${action} ${stream.label}${HINTS[action] ?? ''}`;
    }
  }

  // -- what the user asks ------------------------------------------------------------------------

  play() {
    if (this.phase === Phase.ENDED) return;
    this.intent = 'play';
    if (this.player && !this.player.connected) this.dropPlayer(); // a fatal error or a closed socket
    // the relay waits for the user after some errors (a wrong password): Play asks it to try again
    if (this.player && this.phase === Phase.ERROR && this.streaming) this.player.send('reconnect');
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
    const first = !this.viewKnown;
    this.viewKnown = true;
    if (this.inView === visible && !first) return;
    this.inView = visible;
    this.sync();
    // never started because it was never on screen (Notebook 7 scrolls to the end after Run All): say so,
    // and let the last picture stand in
    if (!this.player && !visible && this.intent === 'play' && this.phase === Phase.CONNECTING) this.setPhase(Phase.PAUSED);
    else if (this.phase === Phase.PAUSED) this.setPhase(Phase.PAUSED); // the reason in the badge changed
  }

  /** Why a tile the user did not pause is paused: " (off screen)", " (expanded)", or nothing. */
  pauseReason() {
    if (this.intent !== 'play') return '';
    if (this.expanded) return ' (expanded)';
    return this.inView ? '' : ' (off screen)';
  }

  /** Brings the stream in line with intent, visibility and the expanded view. */
  sync() {
    if (this.phase === Phase.ENDED) return;
    const want = this.intent === 'play' && this.inView && !this.expanded;
    if (want) {
      if (!this.player) {
        this.startPlayer();
      } else if (!this.streaming && this.player.send(this.phase === Phase.STOPPED ? 'start' : 'resume')) {
        this.streaming = true;
      }
    } else if (this.player && this.streaming) {
      const action = this.intent === 'stop' ? 'stop' : 'pause';
      if (this.player.send(action)) this.streaming = false;
    } else if (this.player && this.intent === 'stop' && this.phase === Phase.PAUSED) {
      this.player.send('stop');
    }
    this.renderControls();
  }

  startPlayer() {
    clearTimeout(this.reconnectTimer);
    this.streaming = true;
    const setup = {
      connect: (/** @type {PathName} */ codec) => this.host.api.openSocket(this.stream, 'grid', codec),
      mount: (/** @type {HTMLCanvasElement} */ canvas) => this.mountCanvas(canvas),
      canvas: { class: 'rn-canvas', width: 640, height: 360 },
      webgl: this.host.webgl(this),
      memory: this.host.paths,
      stream: this.stream,
      profile: /** @type {const} */ ('grid'),
    };
    this.player = new StreamPlayer(setup, {
      onMessage: (message) => this.onMessage(message),
      onFrame: () => this.onFrame(),
      onData: () => this.onData(),
      onClose: (event) => this.onClose(event),
      onPath: (path, reason) => {
        this.figures.reset();
        this.figures.showPath(path, reason, this.el);
      },
    });
    this.figures.showPath(this.player.path, this.player.reason, this.el);
    this.figures.reset();
    if (this.phase !== Phase.RECONNECTING) this.setPhase(Phase.CONNECTING);
  }

  /** @param {HTMLCanvasElement} canvas  a new player's canvas, in place of the last one */
  mountCanvas(canvas) {
    this.canvas.replaceWith(canvas);
    this.canvas = canvas;
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
      if (message.phase === Phase.RECONNECTING) {
        const attempt = message.attempt ? ` (attempt ${message.attempt})` : '';
        this.setPhase(Phase.RECONNECTING, `${attempt}`);
      } else if (message.phase === Phase.ENDED) {
        this.ended();
      } else {
        if (message.phase === Phase.PLAYING && !this.streaming) return; // a late answer to our own pause
        this.setPhase(message.phase);
      }
      if (message.detail) {
        // what the server waits for, e.g. "connected; waiting for the camera's next keyframe"; after an
        // error (a wrong password), the error first: "… (RTSP 401 Unauthorized) · not retrying: …"
        this.detail = message.phase === Phase.ERROR && this.lastError ? `${this.lastError} · ${message.detail}` : message.detail;
        this.renderDetail();
      }
    } else if (message.type === 'error' && message.code === 'LIMIT' && !message.fatal) {
      // the server runs its most relays: it subscribes this tile as soon as one frees a place
      this.setPhase(Phase.CONNECTING); // the detail line says why it waits
      this.detail = message.message;
      this.renderDetail();
    } else if (message.type === 'error') {
      this.lastError = message.message;
      this.detail = message.message;
      if (message.fatal || this.phase !== Phase.RECONNECTING) this.setPhase(Phase.ERROR, `: ${message.message}`);
      else this.renderDetail();
    } else if (message.type === 'video_start') {
      this.el.dataset.videoSize = `${message.width}x${message.height}`;
      this.figures.maxKbps = typeof message.max_kbps === 'number' ? message.max_kbps : null;
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
    const rates = this.figures.picture(player, now, this.phase === Phase.PLAYING);
    if (rates) {
      this.detail = rates;
      this.renderDetail();
    }
    if (this.streaming && this.phase !== Phase.PLAYING && this.phase !== Phase.RECONNECTING) this.setPhase(Phase.PLAYING);
    if (!this.thumb.hidden && this.streaming) this.thumb.hidden = true;
  }

  /** @param {{code: number, reason: string, opened: boolean}} event */
  async onClose(event) {
    this.streaming = false;
    if (event.reason === 'ended') {
      this.ended();
      return;
    }
    if (this.phase === Phase.ERROR && event.opened) return; // fatal: the user retries with play
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
    this.setPhase(Phase.RECONNECTING, ` (attempt ${this.reconnectAttempt})`);
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
    this.setPhase(Phase.ENDED);
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
    const known = phaseOf(phase);
    this.phase = known;
    this.el.dataset.phase = known;
    const reason = known === Phase.PAUSED && !suffix ? this.pauseReason() : '';
    showPhase(this.badge, known, suffix || reason);
    this.el.dataset.paused = reason ? reason.slice(2, -1) : ''; // 'off screen', 'expanded' (for tests)
    const overlay = known === Phase.PAUSED && reason ? `Paused${reason}` : (OVERLAYS[known] ?? '');
    this.overlay.textContent = overlay;
    this.overlay.hidden = !overlay;
    if (known === Phase.PLAYING && this.detail && !this.detail.includes('fps')) {
      this.detail = '';
    }
    if (known !== Phase.PLAYING && this.detail.includes('fps')) this.detail = '';
    this.renderDetail();
    if (known === Phase.PAUSED || known === Phase.STOPPED || known === Phase.RECONNECTING || known === Phase.ERROR) {
      this.showThumbnail(true);
    }
    this.renderControls();
  }

  renderDetail() {
    this.figures.setDetail(this.detail);
  }

  renderControls() {
    const ended = this.phase === Phase.ENDED;
    const playing = this.intent === 'play' && !ended;
    this.playButton.disabled = ended || (playing && this.phase !== Phase.ERROR);
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
    // a stream with no picture yet (an offline camera) is asked again only once something changed: the
    // phase, the server's error, the stream itself (an edit)
    const situation = `${this.phase}|${this.lastError}|${this.stream.updated_at ?? ''}|${this.stream.url}`;
    if (this.thumbMiss === situation) return;
    try {
      const id = encodeURIComponent(this.stream.id);
      const data = await this.host.api.request(
        'GET',
        `streams/${id}/thumbnail?format=json&width=640`,
        undefined,
        this.controller.signal,
      );
      if (token !== this.thumbToken || this.controller.signal.aborted) return;
      if (this.streaming && this.phase === Phase.PLAYING) return; // playing again already
      this.thumb.src = data.data_url;
      this.thumb.hidden = false;
      this.el.dataset.thumbnail = data.stale ? 'stale' : 'fresh';
      this.thumbMiss = '';
    } catch (error) {
      // no picture yet (503) or the view went away: keep what is shown
      if (error instanceof Error && 'status' in error && error.status === 503) {
        this.thumbMiss = situation;
        this.el.dataset.thumbnail = 'none';
      }
    }
  }

  // -- expand, edit, remove, keys ----------------------------------------------------------------

  expand() {
    if (this.expanded || this.phase === Phase.ENDED) return;
    const view = new ExpandedView(this.host, this.stream, this.controller.signal, () => {
      this.expanded = false;
      this.sync();
      this.el.focus();
    });
    this.expanded = true;
    this.sync();
    view.show();
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
      this.stream,
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

  /** Opens or closes the info panel; returns whether it is open. */
  toggleInfo() {
    const open = this.info.toggle();
    this.infoButton.setAttribute('aria-pressed', String(open));
    this.el.dataset.info = open ? 'open' : '';
    return open;
  }

  /** What the info panel shows from this page: pictures skipped to catch up, the path, the picture's size. */
  pageFacts() {
    const player = this.player;
    return {
      dropped: player ? player.pacer.dropped : 0,
      path: this.figures.tag.hidden ? '' : this.figures.tag.textContent || '',
      size: this.el.dataset.videoSize || '',
    };
  }

  /** @param {boolean} focused  this tile is the large one */
  setFocused(focused) {
    this.el.classList.toggle('rn-large', focused);
    this.focusButton.setAttribute('aria-pressed', String(focused));
  }

  /**
   * Keys on the focused tile: Space / k play-pause, Enter / f expand, i info, Alt+Left / Alt+Right move it.
   * @param {KeyboardEvent} event
   */
  onKey(event) {
    if (event.target !== this.el) return;
    if (event.altKey && (event.key === 'ArrowLeft' || event.key === 'ArrowRight')) {
      event.preventDefault();
      this.host.move?.(this.stream.id, event.key === 'ArrowLeft' ? -1 : 1);
      this.el.focus();
    } else if (event.key === 'i') {
      event.preventDefault();
      this.toggleInfo();
    } else if (event.key === ' ' || event.key === 'k') {
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
