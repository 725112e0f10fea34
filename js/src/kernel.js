// The grid's backend when the page cannot reach the server extension (VS Code, Colab, standalone
// Voilà, a server without it): the same API calls and stream sockets, carried by the widget's comm to
// the kernel, whose in-process relay answers (rtsp_notebook/comm.py documents the messages).
//
// Video arrives in `data` messages of whole MPEG-TS packets; the page acknowledges them once its
// socket handler has handed them to the decoder, and the kernel keeps at most a window of video
// unacknowledged, so a page that falls behind is treated like a slow WebSocket. Acknowledgements are
// gathered (a quarter of the window, or what arrived in ACK_DELAY_MS): every message to the kernel is
// a shell request it answers with busy/idle and an output flush, and one per video message (15 a
// second a tile) queued cell executions behind them by a second on a loaded 2-core machine.

import { ApiError } from './server.js';

/** @typedef {import('./server.js').Stream} Stream */
/** @typedef {import('./server.js').SocketLike} SocketLike */
/** @typedef {import('./server.js').Backend} Backend */
/**
 * @template E
 * @typedef {import('./server.js').Handler<E>} Handler
 */

/**
 * The part of anywidget's model the comm needs.
 * @typedef {object} CommModel
 * @property {(content: object, callbacks?: unknown, buffers?: ArrayBuffer[]) => void} send
 * @property {(event: string, callback: (...args: any[]) => void) => void} on
 * @property {(event: string, callback: (...args: any[]) => void) => void} off
 */

const ACK_DELAY_MS = 200;
const DEFAULT_WINDOW = 512 * 1024; // the kernel says its own in the `open` message

const CONNECTING = 0;
const OPEN = 1;
const CLOSING = 2;
const CLOSED = 3;

/** @returns {string} a random id for this view (several views of one widget share its comm) */
function viewId() {
  const bytes = new Uint8Array(8);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * A message buffer (a DataView in JupyterLab, maybe an ArrayBuffer elsewhere) as its own ArrayBuffer.
 * @param {unknown} buffer
 * @returns {ArrayBuffer}
 */
export function toArrayBuffer(buffer) {
  if (buffer instanceof ArrayBuffer) return buffer;
  if (ArrayBuffer.isView(buffer)) {
    const { buffer: whole, byteOffset, byteLength } = buffer;
    if (whole instanceof ArrayBuffer && byteOffset === 0 && byteLength === whole.byteLength) return whole;
    return new Uint8Array(whole, byteOffset, byteLength).slice().buffer;
  }
  return new ArrayBuffer(0);
}

/** A stream socket over the comm, with the WebSocket's readyState, handlers, send and close. */
export class KernelSocket {
  /**
   * @param {string} sid
   * @param {(content: object) => void} post   sends a message to the kernel
   * @param {() => void} forget                 the socket is closed: drop it
   */
  constructor(sid, post, forget) {
    this.sid = sid;
    this.post = post;
    this.forget = forget;
    /** @type {BinaryType} */
    this.binaryType = 'arraybuffer';
    this.readyState = CONNECTING;
    /** @type {Handler<unknown> | null} */
    this.onopen = null;
    /** @type {Handler<{data: string | ArrayBuffer}> | null} */
    this.onmessage = null;
    /** @type {Handler<{code: number, reason: string}> | null} */
    this.onclose = null;
    this.ackAt = DEFAULT_WINDOW / 4; // bytes received that are acknowledged at once
    this.toAck = 0; // bytes received and not yet acknowledged
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.ackTimer = undefined;
  }

  /**
   * A message from the kernel for this socket.
   * @param {any} content
   * @param {unknown[]} buffers
   */
  receive(content, buffers) {
    if (this.readyState === CLOSED) return;
    if (content.type === 'open') {
      if (this.readyState !== CONNECTING) return;
      if (typeof content.window === 'number' && content.window > 0) this.ackAt = Math.ceil(content.window / 4);
      this.readyState = OPEN;
      this.onopen?.({ type: 'open' });
    } else if (content.type === 'data') {
      const data = toArrayBuffer(buffers[0]);
      try {
        this.onmessage?.({ data });
      } finally {
        this.acknowledge(data.byteLength); // handed over (or dropped by a closing player)
      }
    } else if (content.type === 'message' && typeof content.text === 'string') {
      this.onmessage?.({ data: content.text });
    } else if (content.type === 'closed') {
      this.finish(Number(content.code) || 1006, typeof content.reason === 'string' ? content.reason : '');
    }
  }

  /** @param {number} bytes  video handed to the decoder: the kernel may send more */
  acknowledge(bytes) {
    if (this.readyState !== OPEN) return;
    this.toAck += bytes;
    if (this.toAck >= this.ackAt) this.flushAcks();
    else if (this.ackTimer === undefined) this.ackTimer = setTimeout(() => this.flushAcks(), ACK_DELAY_MS);
  }

  flushAcks() {
    clearTimeout(this.ackTimer);
    this.ackTimer = undefined;
    if (this.toAck > 0 && this.readyState === OPEN) this.post({ type: 'ack', sid: this.sid, bytes: this.toAck });
    this.toAck = 0;
  }

  /** @param {string} text  a JSON text frame, `{"action": ...}` */
  send(text) {
    if (this.readyState === CONNECTING) throw new Error('the stream socket is not open yet');
    if (this.readyState === OPEN) this.post({ type: 'action', sid: this.sid, text });
  }

  /**
   * Closes the socket; `onclose` follows asynchronously, as for a WebSocket.
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code = 1000, reason = '') {
    if (this.readyState === CLOSING || this.readyState === CLOSED) return;
    this.readyState = CLOSING;
    this.post({ type: 'close', sid: this.sid });
    queueMicrotask(() => this.finish(code, reason));
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  finish(code, reason) {
    if (this.readyState === CLOSED) return;
    this.readyState = CLOSED;
    clearTimeout(this.ackTimer);
    this.forget();
    this.onclose?.({ code, reason });
  }
}

/**
 * The kernel as the grid's backend: API requests and stream sockets over the widget's comm.
 * @implements {Backend}
 */
export class KernelApi {
  /** @param {CommModel} model */
  constructor(model) {
    this.model = model;
    this.prefix = viewId();
    this.counter = 0;
    /** @type {Map<string, {settle: (status: number, body: any) => void, fail: (error: unknown) => void}>} */
    this.pending = new Map();
    /** @type {Map<string, KernelSocket>} */
    this.sockets = new Map();
    this.destroyed = false;
    /** @type {(content: any, buffers?: unknown[]) => void} */
    this.listener = (content, buffers) => this.receive(content, buffers ?? []);
    model.on('msg:custom', this.listener);
  }

  nextId() {
    this.counter += 1;
    return `${this.prefix}-${this.counter}`;
  }

  /** @param {object} content */
  post(content) {
    if (!this.destroyed) this.model.send(content);
  }

  /**
   * The API call `method rtsp/api/<path>`, answered by the kernel.
   * @param {string} method
   * @param {string} path
   * @param {unknown} [body]
   * @param {AbortSignal} [signal]
   * @returns {Promise<any>}
   */
  request(method, path, body, signal) {
    return new Promise((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason);
        return;
      }
      if (this.destroyed) {
        reject(new ApiError(0, 'CLOSED', 'the grid was closed'));
        return;
      }
      const id = this.nextId();
      const onAbort = () => {
        this.pending.delete(id);
        reject(signal?.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pending.set(id, {
        settle: (status, answer) => {
          signal?.removeEventListener('abort', onAbort);
          if (status === 204) resolve(null);
          else if (status >= 200 && status < 300) resolve(answer);
          else {
            const error = answer && typeof answer === 'object' ? answer.error : null;
            const code = error && typeof error.code === 'string' ? error.code : `HTTP_${status}`;
            const message =
              error && typeof error.message === 'string' ? error.message : `the kernel answered ${status}`;
            reject(new ApiError(status, code, message));
          }
        },
        fail: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      });
      this.post({ type: 'request', id, method, path, body: body === undefined ? null : body });
    });
  }

  /**
   * A stream socket over the comm; `codec` as for the WebSocket (a kernel older than it sends MPEG-1).
   * @param {Stream} stream
   * @param {'grid' | 'full'} profile
   * @param {'h264' | 'mpeg1'} [codec]
   * @returns {SocketLike}
   */
  openSocket(stream, profile, codec = 'mpeg1') {
    const sid = this.nextId();
    const socket = new KernelSocket(
      sid,
      (content) => this.post(content),
      () => this.sockets.delete(sid),
    );
    this.sockets.set(sid, socket);
    this.post({ type: 'open', sid, stream_id: stream.id, profile, codec });
    return socket;
  }

  /**
   * A custom message from the kernel; those of other views (other ids) are not ours.
   * @param {any} content
   * @param {unknown[]} buffers
   */
  receive(content, buffers) {
    if (!content || typeof content !== 'object') return;
    if (content.type === 'response') {
      const pending = this.pending.get(content.id);
      if (!pending) return;
      this.pending.delete(content.id);
      pending.settle(Number(content.status), content.body);
    } else if (typeof content.sid === 'string') {
      this.sockets.get(content.sid)?.receive(content, buffers);
    }
  }

  /** Closes every socket, fails what is pending and stops listening to the comm. */
  destroy() {
    if (this.destroyed) return;
    for (const socket of [...this.sockets.values()]) socket.close(1001, 'the grid was closed');
    this.destroyed = true;
    this.model.off('msg:custom', this.listener);
    const error = new ApiError(0, 'CLOSED', 'the grid was closed');
    for (const pending of this.pending.values()) pending.fail(error);
    this.pending.clear();
  }
}
