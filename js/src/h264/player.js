// One live view of one H.264 stream, decoded off the main thread: the page owns the socket (JSON text
// messages to `onMessage`, as LivePlayer does) and hands the video bytes, transferred, to a Worker that
// demuxes, decodes with WebCodecs and draws on the canvas (transferred to it as an OffscreenCanvas).
// The same outward interface as ../player.js's LivePlayer, so a tile can hold either.
//
// A canvas can be transferred only once: give every H264Player a fresh <canvas> (after destroy(), the old
// one stays with the ended Worker and shows nothing new).

/// <reference path="./worker-text.d.ts" />
import workerSource from 'worker-text:./worker.js';

import { StreamSocket } from '../stream-socket.js';

/** @typedef {import('../server.js').SocketLike} SocketLike */
/** @typedef {import('../player.js').PlayerEvents} PlayerEvents */
/** @typedef {import('./protocol.js').FromWorker} FromWorker */
/** @typedef {import('./protocol.js').ToWorker} ToWorker */
/** @typedef {import('./protocol.js').StreamInfo} StreamInfo */
/** @typedef {import('./protocol.js').WorkerStats} WorkerStats */
/** @typedef {import('./protocol.js').WorkerOptions} WorkerOptions */

/**
 * LivePlayer's events, and what only this player knows.
 * @typedef {PlayerEvents & {
 *   onStreamInfo?: (info: StreamInfo) => void,
 *   onStats?: (stats: WorkerStats) => void,
 *   onUnsupported?: (message: string, codecString: string) => void,
 *   onDecoderError?: (message: string) => void,
 * }} H264Events
 *   onStreamInfo: the decoder was configured for the stream (codec string and picture size from its SPS);
 *   onUnsupported: this browser cannot decode it (or it is not H.264): show it another way;
 *   onDecoderError: a decoder error (the Worker restarts decoding at the next IDR), or the Worker failed
 */

/**
 * Whether this page can play `codecString` (e.g. 'avc1.64001f') with H264Player: a secure context (WebCodecs
 * needs one: http://127.0.0.1 and localhost are, a LAN address over plain HTTP is not), VideoDecoder,
 * OffscreenCanvas, and the browser's own answer for the codec. The Worker asks again before it configures.
 * @param {string} codecString
 * @returns {Promise<boolean>}
 */
export async function h264Supported(codecString) {
  if (!globalThis.isSecureContext || typeof VideoDecoder === 'undefined') return false;
  if (typeof OffscreenCanvas === 'undefined' || typeof Worker === 'undefined') return false;
  try {
    const answer = await VideoDecoder.isConfigSupported({ codec: codecString, optimizeForLatency: true });
    return answer.supported === true;
  } catch {
    return false; // a codec string the browser cannot parse
  }
}

export class H264Player {
  /**
   * @param {HTMLCanvasElement} canvas  a fresh canvas: its control goes to the Worker for good
   * @param {() => SocketLike} connect  opens the stream's socket (a stream socket with codec=h264)
   * @param {WorkerOptions & {webgl?: boolean, fit?: boolean}} options  `webgl` is LivePlayer's and ignored
   *   (2D canvas); `fit`: the canvas's CSS box does not follow its own size (a tile's), so pictures are drawn
   *   no larger than that box (else always at the stream's size)
   * @param {H264Events} events
   */
  constructor(canvas, connect, options, events) {
    this.canvas = canvas;
    this.connect = connect;
    this.events = events;
    this.frames = 0; // pictures decoded
    this.drawn = 0; // pictures drawn (at most one per animation frame)
    this.bytes = 0; // video bytes received
    this.destroyed = false;
    /** @type {StreamInfo | null} */
    this.info = null;
    /** @type {WorkerStats | null} */
    this.stats = null;
    /** The backlog figures a tile shows, named as LivePlayer's pacer names them. */
    this.pacer = { lag: 0, dropped: 0 };
    /** @type {Map<number, {resolve: (blob: Blob) => void, reject: (error: Error) => void}>} snapshots asked */
    this.snapshots = new Map();
    this.snapshotIds = 0;
    const offscreen = canvas.transferControlToOffscreen(); // throws if this canvas was transferred before
    const url = URL.createObjectURL(new Blob([workerSource], { type: 'text/javascript' }));
    /** @type {string | null} revoked once the Worker runs */
    this.url = url;
    this.worker = new Worker(url, { name: 'rtsp-notebook h264' });
    this.worker.onmessage = (event) => this.onWorkerMessage(event.data);
    this.worker.onerror = (event) => {
      event.preventDefault();
      this.revokeUrl();
      if (!this.destroyed) this.events.onDecoderError?.(`the decoder worker failed: ${event.message}`);
    };
    const { webgl: _webgl, fit, ...workerOptions } = options;
    this.post({ type: 'init', canvas: offscreen, options: workerOptions }, [offscreen]);
    /** @type {ResizeObserver | null} */
    this.resizes = null;
    if (fit && typeof ResizeObserver === 'function') {
      this.resizes = new ResizeObserver((entries) => {
        const box = entries[entries.length - 1].contentRect;
        const scale = globalThis.devicePixelRatio || 1;
        this.post({ type: 'fit', width: Math.round(box.width * scale), height: Math.round(box.height * scale) });
      });
      this.resizes.observe(canvas);
    }
    this.link = new StreamSocket(connect, {
      onMessage: (message) => this.events.onMessage(message),
      onBinary: (data) => {
        this.bytes += data.byteLength;
        // transferred, not copied: the socket hands over a buffer it does not use again
        this.post({ type: 'data', buffer: data }, [data]);
        this.events.onData?.();
      },
      onClose: (event) => {
        if (!this.destroyed) this.events.onClose(event);
      },
    });
    this.link.open();
  }

  /**
   * @param {ToWorker} message
   * @param {Transferable[]} [transfer]
   */
  post(message, transfer = []) {
    this.worker.postMessage(message, transfer);
  }

  revokeUrl() {
    if (this.url) URL.revokeObjectURL(this.url);
    this.url = null;
  }

  /** @param {FromWorker} message */
  onWorkerMessage(message) {
    if (this.destroyed) return;
    switch (message.type) {
      case 'ready':
        this.revokeUrl();
        break;
      case 'stats': {
        const stats = message.stats;
        const fresh = stats.decoded - this.frames;
        this.stats = stats;
        this.frames = stats.decoded;
        this.drawn = stats.drawn;
        this.pacer.lag = stats.waiting;
        this.pacer.dropped = stats.dropped;
        this.events.onStats?.(stats);
        for (let i = 0; i < fresh; i++) this.events.onFrame();
        break;
      }
      case 'info':
        this.info = message.info;
        this.events.onStreamInfo?.(message.info);
        break;
      case 'unsupported':
        this.events.onUnsupported?.(message.message, message.codecString);
        break;
      case 'error':
        this.events.onDecoderError?.(message.message);
        break;
      case 'snapshot': {
        const asked = this.snapshots.get(message.id);
        this.snapshots.delete(message.id);
        if (message.blob) asked?.resolve(message.blob);
        else asked?.reject(new Error(message.message));
        break;
      }
    }
  }

  /**
   * A JPEG of the picture shown now (as drawn: at most the canvas's box).
   * @returns {Promise<Blob>}
   */
  snapshot() {
    if (this.destroyed) return Promise.reject(new Error('the player was closed'));
    const id = ++this.snapshotIds;
    return new Promise((resolve, reject) => {
      this.snapshots.set(id, { resolve, reject });
      this.post({ type: 'snapshot', id });
    });
  }

  /** @param {'start' | 'pause' | 'resume' | 'stop' | 'reconnect'} action */
  send(action) {
    if (action === 'pause' || action === 'stop') this.post({ type: 'reset' });
    return this.link.send(action);
  }

  get connected() {
    return this.link.connected;
  }

  /** Ends the Worker (its decoder and canvas with it) and closes the socket for good. */
  destroy() {
    if (this.destroyed) return;
    this.destroyed = true;
    this.resizes?.disconnect();
    this.link.close();
    this.worker.onmessage = null;
    this.worker.onerror = null;
    this.worker.terminate();
    this.revokeUrl();
    for (const asked of this.snapshots.values()) asked.reject(new Error('the player was closed'));
    this.snapshots.clear();
  }
}
