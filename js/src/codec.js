// Which way a view plays its stream: the camera's own H.264 decoded with WebCodecs in a Worker (h264/), or
// MPEG-1 decoded by JSMpeg on the page (player.js). The decisions are pure functions of what the page can
// do and what the server says, so they are tested without a browser (test/codec.test.mjs).
//
// A view tries H.264 when the page can decode it at all (a secure context with VideoDecoder and
// OffscreenCanvas), then falls back to MPEG-1 for good when the stream turns out to be something else: the
// server's `video_start` names a codec the page cannot decode (HEVC; H.264 whose codec string the browser
// refuses; MPEG-1 from a server older than codec=h264), the Worker says it cannot decode it, its decoder
// keeps failing, or no picture comes while video does. `PathMemory` keeps such a fallback per stream and
// profile, so a reconnect does not try H.264 again.

/** @typedef {'h264' | 'mpeg1'} PathName  also the stream socket's `codec` parameter */

/** What the figures line calls each path. */
export const PATH_LABELS = /** @type {const} */ ({ h264: 'H.264', mpeg1: 'MPEG-1' });

/**
 * The path tag's tooltip: what decodes the video, and why MPEG-1 when it is.
 * @param {PathName} path
 * @param {string} reason
 */
export function pathTitle(path, reason) {
  if (path === 'h264') return 'H.264: the camera’s own video, decoded by WebCodecs in a Worker';
  return reason ? `MPEG-1, decoded by JSMpeg: ${reason}` : 'MPEG-1, decoded by JSMpeg';
}

/** What `video_start` calls the codecs it may name, for the reasons shown to the user. */
const CODEC_NAMES = /** @type {Record<string, string>} */ ({
  h264: 'H.264',
  hevc: 'H.265 (HEVC)',
  mpeg1video: 'MPEG-1',
});

const ERROR_LIMIT = 3; // decoder errors within ERROR_WINDOW_MS that end the H.264 path
const ERROR_WINDOW_MS = 10_000;
const NO_PICTURE_MS = 8000; // video flowing this long without a decoded picture ends the H.264 path
const FLOW_GAP_MS = 2000; // video that stops this long (a pause, a busy or suspended page) flows anew after

/**
 * @typedef {object} VideoStart  the part of the server's `video_start` the choice reads
 * @property {string} codec            'h264', 'hevc' or 'mpeg1video'
 * @property {string} [codec_string]   e.g. 'avc1.64001f' (H.264 and HEVC)
 */

/**
 * @typedef {object} PathFacts
 * @property {boolean} secure       window.isSecureContext (WebCodecs needs one)
 * @property {boolean} webcodecs    VideoDecoder, OffscreenCanvas and Worker exist
 * @property {VideoStart | null} [videoStart]  the server's video_start on the H.264 socket, if one came
 * @property {boolean} [supported]  the browser's answer for its codec_string (h264Supported); undefined when
 *   not asked (no codec_string): the Worker asks again when it configures its decoder from the SPS
 */

/**
 * The path a view should play: 'h264' while nothing says the page cannot decode the stream, else 'mpeg1'.
 * @param {PathFacts} facts
 * @returns {PathName}
 */
export function choosePath({ secure, webcodecs, videoStart = null, supported }) {
  if (!secure || !webcodecs) return 'mpeg1';
  if (!videoStart) return 'h264';
  return videoStart.codec === 'h264' && supported !== false ? 'h264' : 'mpeg1';
}

/**
 * Why a video_start ends the H.264 path (for the tag's tooltip), or '' when it does not.
 * @param {VideoStart} videoStart
 * @param {boolean | undefined} supported  see PathFacts.supported
 */
export function fallbackReason(videoStart, supported) {
  if (choosePath({ secure: true, webcodecs: true, videoStart, supported }) === 'h264') return '';
  if (videoStart.codec === 'mpeg1video') return 'the server sends MPEG-1 only';
  if (videoStart.codec === 'h264') return `this browser cannot decode ${videoStart.codec_string ?? 'this H.264'}`;
  return `this browser cannot decode ${CODEC_NAMES[videoStart.codec] ?? videoStart.codec}`;
}

/** @returns {{secure: boolean, webcodecs: boolean}} what this page can do */
export function pageFacts() {
  const canvas = globalThis.HTMLCanvasElement;
  return {
    secure: globalThis.isSecureContext === true,
    webcodecs:
      typeof globalThis.VideoDecoder === 'function' &&
      typeof globalThis.OffscreenCanvas === 'function' &&
      typeof globalThis.Worker === 'function' &&
      typeof canvas === 'function' &&
      'transferControlToOffscreen' in canvas.prototype,
  };
}

/**
 * Watches an H.264 view for a decoder that does not work: ERROR_LIMIT errors within ERROR_WINDOW_MS (the
 * Worker restarts at the next IDR after each, so a single error is not a verdict), or video flowing for
 * NO_PICTURE_MS with no picture decoded (a Worker that failed, a decoder that hangs). Video flows while it
 * arrives with gaps under FLOW_GAP_MS and the view is not paused: a page that was busy or asleep, or a
 * stream that was paused, starts a new flow. Times in ms.
 */
export class DecoderWatch {
  constructor() {
    /** @type {number[]} */
    this.errors = [];
    /** @type {number | null} when the video that has shown no picture yet began to flow */
    this.since = null;
    this.last = 0; // the last video's arrival
    this.paused = false;
  }

  /**
   * @param {number} now
   * @param {string} message
   * @returns {string} why the path should end, or ''
   */
  error(now, message) {
    this.errors = this.errors.filter((at) => now - at < ERROR_WINDOW_MS);
    this.errors.push(now);
    return this.errors.length >= ERROR_LIMIT ? `the decoder failed ${this.errors.length} times: ${message}` : '';
  }

  /**
   * Video bytes arrived.
   * @param {number} now
   * @returns {string} why the path should end, or ''
   */
  data(now) {
    if (this.paused) return '';
    if (this.since === null || now - this.last > FLOW_GAP_MS) this.since = now;
    this.last = now;
    return now - this.since >= NO_PICTURE_MS ? `no picture decoded in ${NO_PICTURE_MS / 1000} s of video` : '';
  }

  /** A picture was decoded. */
  picture() {
    this.since = null;
  }

  /** The stream was paused or stopped: video still on its way does not count. */
  pause() {
    this.paused = true;
    this.since = null;
  }

  /** The stream was asked to play again. */
  resume() {
    this.paused = false;
    this.since = null;
  }
}

/**
 * The fallbacks of one grid, per stream and profile (a camera's sub stream may be H.264 and its main stream
 * H.265), so that reconnects and later views go straight to MPEG-1. Forgotten when the stream's URL changes.
 */
export class PathMemory {
  constructor() {
    /** @type {Map<string, {path: PathName, reason: string, url: string}>} */
    this.paths = new Map();
  }

  /**
   * @param {{id: string, url: string}} stream
   * @param {string} profile
   * @returns {{path: PathName, reason: string} | null}
   */
  get(stream, profile) {
    const known = this.paths.get(`${stream.id} ${profile}`);
    if (!known) return null;
    if (known.url !== stream.url) {
      this.paths.delete(`${stream.id} ${profile}`);
      return null;
    }
    return { path: known.path, reason: known.reason };
  }

  /**
   * @param {{id: string, url: string}} stream
   * @param {string} profile
   * @param {PathName} path
   * @param {string} reason
   */
  set(stream, profile, path, reason) {
    this.paths.set(`${stream.id} ${profile}`, { path, reason, url: stream.url });
  }
}
