// One live view of one stream: its socket, a JSMpeg decoder drawing on a canvas, and the pacer
// between them. The socket is ours, not JSMpeg's (JSMpeg's own source reconnects every 5 s until it
// is destroyed, and cannot send actions or read the server's JSON messages): the stream WebSocket of
// the server extension, or a KernelSocket over the widget's comm, from the backend's `openSocket`.

import JSMpeg from '@cycjimmy/jsmpeg-player';

import { Pacer } from './pacer.js';
import { StreamSocket } from './stream-socket.js';

/** @typedef {import('./server.js').SocketLike} SocketLike */

/**
 * @typedef {{type: 'status', phase: string, attempt?: number, retry_in_s?: number, detail?: string}
 *   | {type: 'video_start', codec: string, codec_string?: string, width: number, height: number, fps: number,
 *      max_kbps?: number}
 *   | {type: 'error', code: string, message: string, fatal: boolean}} ServerMessage
 */

/**
 * @typedef {object} PlayerEvents
 * @property {(message: ServerMessage) => void} onMessage    a JSON message from the server
 * @property {() => void} onFrame                            a picture was drawn
 * @property {() => void} [onData]                           video bytes arrived (see `bytes`)
 * @property {(event: {code: number, reason: string, opened: boolean}) => void} onClose
 *   the socket closed by itself (not by destroy())
 */

const RECONNECT_MIN_S = 1;
const RECONNECT_MAX_S = 30;

/** Backoff for the socket itself (the relay's own camera retries happen on the server). */
export function socketBackoff(/** @type {number} */ attempt) {
  const base = Math.min(RECONNECT_MAX_S, RECONNECT_MIN_S * 2 ** Math.max(0, attempt - 1));
  return base * (0.8 + 0.4 * Math.random());
}

export class LivePlayer {
  /**
   * @param {HTMLCanvasElement} canvas
   * @param {() => SocketLike} connect  opens the stream's socket (in its profile)
   * @param {{webgl: boolean}} options
   * @param {PlayerEvents} events
   */
  constructor(canvas, connect, options, events) {
    this.canvas = canvas;
    this.connect = connect;
    this.events = events;
    this.frames = 0;
    this.bytes = 0; // video bytes received
    this.destroyed = false;
    /** @type {any} the JSMpeg source object the player made (see sourceClass) */
    this.source = null;
    /** @type {Uint8Array[]} data that arrived before JSMpeg's decoder was ready */
    this.early = [];
    this.pacer = new Pacer((bytes) => this.feed(bytes));
    const owner = this;
    // JSMpeg builds its source with `new options.source(url, options)`: ours only takes what we write.
    class Source {
      constructor() {
        this.streaming = true;
        this.established = false;
        this.completed = false;
        this.progress = 0;
        this.started = false; // JSMpeg calls start() once its WASM decoder is compiled
        /** @type {any} */
        this.destination = null;
        owner.source = this;
      }
      /** @param {any} destination */
      connect(destination) {
        this.destination = destination;
      }
      start() {
        this.started = true;
        owner.drainEarly();
      }
      resume() {}
      destroy() {}
    }
    this.player = new JSMpeg.Player('', {
      source: Source,
      canvas,
      audio: false,
      disableGl: !options.webgl,
      preserveDrawingBuffer: false,
      pauseWhenHidden: false, // the tile pauses the stream itself when hidden
      videoBufferSize: 1024 * 1024,
      decodeFirstFrame: true,
      onVideoDecode: () => {
        this.frames += 1;
        this.pacer.onDecoded();
        this.events.onFrame();
      },
    });
    this.link = new StreamSocket(connect, {
      onMessage: (message) => this.events.onMessage(message),
      onBinary: (data) => {
        this.bytes += data.byteLength;
        this.pacer.push(new Uint8Array(data));
        this.events.onData?.();
      },
      onClose: (event) => {
        if (!this.destroyed) this.events.onClose(event);
      },
    });
    this.link.open();
  }

  /** @param {Uint8Array} bytes */
  feed(bytes) {
    const source = this.source;
    if (!source || !source.started || !source.destination) {
      this.early.push(bytes);
      return;
    }
    source.established = true;
    source.destination.write(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
  }

  drainEarly() {
    const early = this.early;
    this.early = [];
    for (const bytes of early) this.feed(bytes);
  }

  /**
   * A JPEG of the canvas (a WebGL canvas keeps no picture to read once shown: snapshots need Canvas2D).
   * @returns {Promise<Blob>}
   */
  snapshot() {
    if (this.frames === 0) return Promise.reject(new Error('no picture has been shown yet'));
    return new Promise((resolve, reject) => {
      this.canvas.toBlob(
        (blob) => (blob ? resolve(blob) : reject(new Error('the canvas could not be read'))),
        'image/jpeg',
        0.92,
      );
    });
  }

  /** @param {'start' | 'pause' | 'resume' | 'stop' | 'reconnect'} action */
  send(action) {
    if (action === 'pause' || action === 'stop') this.pacer.reset();
    return this.link.send(action);
  }

  get connected() {
    return this.link.connected;
  }

  /** Stops decoding and closes the socket for good; nothing reconnects after this. */
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.link.close();
    this.pacer.reset();
    try {
      this.player.destroy();
    } catch {
      // a player whose decoder never started has nothing to free
    }
  }
}
