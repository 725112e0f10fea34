// One view's live stream on whichever path the page can play (codec.js): an H264Player (WebCodecs in a
// Worker, codec=h264) or a LivePlayer (JSMpeg, codec=mpeg1), each on a fresh canvas (an H264Player's canvas
// goes to its Worker for good). It starts on H.264 when the page can decode it and nothing remembered says
// otherwise, and falls back to MPEG-1 once, for good, when the stream turns out not to be decodable here.
// Outwardly a LivePlayer: a tile or the expanded view holds one and does not care which path plays.

import { choosePath, DecoderWatch, fallbackReason, pageFacts } from './codec.js';
import { H264Player, h264Supported } from './h264/player.js';
import { h } from './dom.js';
import { LivePlayer } from './player.js';

/** @typedef {import('./server.js').SocketLike} SocketLike */
/** @typedef {import('./player.js').ServerMessage} ServerMessage */
/** @typedef {import('./player.js').PlayerEvents} PlayerEvents */
/** @typedef {import('./codec.js').PathName} PathName */
/** @typedef {import('./codec.js').PathMemory} PathMemory */
/** @typedef {import('./codec.js').VideoStart} VideoStart */

const CATCHING_UP_LAG = 2; // pictures waiting to be decoded: a decode that is catching up

/**
 * @typedef {object} StreamPlayerSetup
 * @property {(codec: PathName) => SocketLike} connect  opens the stream's socket with codec=h264|mpeg1
 * @property {(canvas: HTMLCanvasElement) => void} mount  puts a player's fresh canvas where the last one was
 * @property {{class: string, width: number, height: number}} canvas  the fresh canvases' class and size
 * @property {boolean} webgl           JSMpeg's renderer (the H.264 Worker draws in 2D)
 * @property {PathMemory} memory       the grid's remembered fallbacks
 * @property {{id: string, url: string}} stream
 * @property {'grid' | 'full'} profile
 * @property {Players} [players]     how players are made (tests give fakes)
 * @property {{secure: boolean, webcodecs: boolean}} [facts]  what the page can do (default: pageFacts())
 */

/**
 * @typedef {object} Players
 * @property {(canvas: HTMLCanvasElement, connect: () => SocketLike, events: import('./h264/player.js').H264Events)
 *   => H264Player} h264
 * @property {(canvas: HTMLCanvasElement, connect: () => SocketLike, webgl: boolean, events: PlayerEvents)
 *   => LivePlayer} mpeg1
 * @property {(codecString: string) => Promise<boolean>} supported
 */

/** @type {Players} */
const PLAYERS = {
  // a tile's and the expanded view's canvas fill their box whatever their size (.rn-canvas)
  h264: (canvas, connect, events) => new H264Player(canvas, connect, { fit: true }, events),
  mpeg1: (canvas, connect, webgl, events) => new LivePlayer(canvas, connect, { webgl }, events),
  supported: h264Supported,
};

/**
 * @typedef {PlayerEvents & {onPath?: (path: PathName, reason: string) => void}} StreamPlayerEvents
 *   onPath: the path changed after the constructor (a fallback to MPEG-1), and why
 */

export class StreamPlayer {
  /**
   * @param {StreamPlayerSetup} setup
   * @param {StreamPlayerEvents} events
   */
  constructor(setup, events) {
    this.setup = setup;
    this.players = setup.players ?? PLAYERS;
    this.events = events;
    this.destroyed = false;
    this.watch = new DecoderWatch();
    /** @type {'start' | 'pause' | 'resume' | 'stop' | 'reconnect' | null} the last action sent */
    this.lastAction = null;
    this.framesBefore = 0; // counters of the players this one replaced
    this.bytesBefore = 0;
    this.droppedBefore = 0;
    const known = setup.memory.get(setup.stream, setup.profile);
    const facts = setup.facts ?? pageFacts();
    /** @type {PathName} */
    this.path = known ? known.path : choosePath(facts);
    this.reason = known ? known.reason : this.path === 'mpeg1' ? pageReason(facts) : '';
    /** @type {H264Player | LivePlayer} */
    this.player = this.path === 'h264' ? this.startH264() : this.startMpeg1();
  }

  /** @returns {H264Player | LivePlayer} */
  startH264() {
    const canvas = this.freshCanvas();
    const events = this.events;
    /** @type {H264Player | null} */
    let player = null;
    const current = () => player !== null && this.player === player && !this.destroyed;
    try {
      player = this.players.h264(canvas, () => this.setup.connect('h264'), {
        onMessage: (message) => {
          if (!current()) return;
          if (message.type === 'video_start') this.videoStart(message, /** @type {H264Player} */ (player));
          if (current()) events.onMessage(message);
        },
        onFrame: () => {
          if (!current()) return;
          this.watch.picture();
          events.onFrame();
        },
        onData: () => {
          if (!current()) return;
          const why = this.watch.data(performance.now());
          if (why) this.fallBack(why);
          else events.onData?.();
        },
        onClose: (event) => {
          if (current()) events.onClose(event);
        },
        onUnsupported: (message) => {
          if (current()) this.fallBack(message);
        },
        onDecoderError: (message) => {
          if (!current()) return;
          const why = this.watch.error(performance.now(), message);
          if (why) this.fallBack(why);
        },
      });
    } catch (error) {
      // no Worker (a Content-Security-Policy without blob:) or no OffscreenCanvas after all
      this.remember(`the H.264 decoder cannot start here: ${error instanceof Error ? error.message : error}`);
      return this.startMpeg1();
    }
    this.setup.mount(canvas);
    return player;
  }

  /** @returns {LivePlayer} */
  startMpeg1() {
    const canvas = this.freshCanvas();
    this.setup.mount(canvas);
    const events = this.events;
    let greeted = false;
    /** @type {LivePlayer} */
    const player = this.players.mpeg1(canvas, () => this.setup.connect('mpeg1'), this.setup.webgl, {
      onMessage: (message) => {
        if (!greeted) {
          greeted = true;
          this.replayHold(player); // a fallback's new socket plays at first: pause it again if the view is
        }
        events.onMessage(message);
      },
      onFrame: () => events.onFrame(),
      onData: () => events.onData?.(),
      onClose: (event) => events.onClose(event),
    });
    return player;
  }

  freshCanvas() {
    const { class: className, width, height } = this.setup.canvas;
    return h('canvas', { class: className, width, height });
  }

  /**
   * The server's video_start on the H.264 socket: fall back unless the page decodes what it names.
   * @param {VideoStart} message
   * @param {H264Player} player
   */
  videoStart(message, player) {
    const codecString = message.codec_string;
    if (message.codec !== 'h264' || !codecString) {
      const why = fallbackReason(message, undefined);
      if (why) this.fallBack(why);
      return;
    }
    this.players.supported(codecString).then((supported) => {
      if (this.player !== player || this.destroyed) return;
      const why = fallbackReason(message, supported);
      if (why) this.fallBack(why);
    });
  }

  /** @param {string} reason */
  remember(reason) {
    this.path = 'mpeg1';
    this.reason = reason;
    this.setup.memory.set(this.setup.stream, this.setup.profile, 'mpeg1', reason);
  }

  /**
   * Ends the H.264 player and plays MPEG-1 from now on (remembered for this stream and profile).
   * @param {string} reason
   */
  fallBack(reason) {
    if (this.path !== 'h264' || this.destroyed) return;
    const old = this.player;
    this.framesBefore += old.frames;
    this.bytesBefore += old.bytes;
    this.droppedBefore += old.pacer.dropped;
    old.destroy();
    this.remember(reason);
    this.player = this.startMpeg1();
    this.events.onPath?.('mpeg1', reason);
  }

  /**
   * A paused or stopped view whose player was replaced: its new socket plays until told otherwise.
   * @param {LivePlayer} player
   */
  replayHold(player) {
    if (this.lastAction === 'pause' || this.lastAction === 'stop') player.send(this.lastAction);
  }

  /** @param {'start' | 'pause' | 'resume' | 'stop' | 'reconnect'} action */
  send(action) {
    this.lastAction = action;
    if (action === 'pause' || action === 'stop') this.watch.pause();
    else this.watch.resume();
    return this.player.send(action);
  }

  get connected() {
    return this.player.connected;
  }

  /** A JPEG of the picture shown now. @returns {Promise<Blob>} */
  snapshot() {
    return this.player.snapshot();
  }

  get frames() {
    return this.framesBefore + this.player.frames;
  }

  get bytes() {
    return this.bytesBefore + this.player.bytes;
  }

  /** Pictures drawn so far by an H.264 player's Worker (at most one per animation frame); null for JSMpeg,
   * whose every decoded picture is drawn. A rate taken over it is what the tile shows, catch-ups apart. */
  get shown() {
    return this.path === 'h264' ? /** @type {H264Player} */ (this.player).drawn : null;
  }

  /** Pictures waiting to be decoded, and skipped to catch up (LivePlayer's pacer names). */
  get pacer() {
    return { lag: this.player.pacer.lag, dropped: this.droppedBefore + this.player.pacer.dropped };
  }

  /** The pictures just decoded came from a backlog (the keyframe cache, a busy page): not the stream's rate. */
  get catchingUp() {
    return this.player.pacer.lag >= CATCHING_UP_LAG;
  }

  /** Ends the player (its Worker, its socket) for good; nothing reconnects after this. */
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.player.destroy();
  }
}

/**
 * Why a page plays MPEG-1 from the start (the tag's tooltip).
 * @param {{secure: boolean, webcodecs: boolean}} facts
 */
function pageReason(facts) {
  if (!facts.secure) return 'WebCodecs needs a secure context (https, or http://localhost)';
  if (!facts.webcodecs) return 'this browser has no WebCodecs decoder';
  return '';
}
