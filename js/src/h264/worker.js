// The Worker of one H264Player: TS bytes in, the newest decoded picture drawn on an OffscreenCanvas.
// Bundled on its own by js/build.mjs and started from a Blob URL (anywidget loads the widget from a string:
// there is no file URL to load a Worker from). Messages: protocol.js.
//
// Decoded frames are never queued: a frame replaced by a newer one before the next animation frame is
// closed undrawn, and the drawn one is closed once drawn. Counters go to the page at most once per animation
// frame (or every FALLBACK_MS when the page does not animate, e.g. hidden).

import { LiveDecoder } from './live-decoder.js';
import { StreamType, TsDemuxer } from './tsdemux.js';

/** @typedef {import('./protocol.js').ToWorker} ToWorker */
/** @typedef {import('./protocol.js').FromWorker} FromWorker */
/** @typedef {import('./protocol.js').WorkerStats} WorkerStats */
/** @typedef {import('./sps.js').SpsInfo} SpsInfo */

const FALLBACK_MS = 100;
const STREAM_NAMES = /** @type {Record<number, string>} */ ({
  [StreamType.MPEG1]: 'MPEG-1',
  [StreamType.MPEG2]: 'MPEG-2',
  [StreamType.MPEG4]: 'MPEG-4 part 2',
  [StreamType.H265]: 'H.265',
});

/**
 * The DedicatedWorkerGlobalScope members used here (tsconfig's DOM lib types `self` as a Window).
 * @type {{
 *   postMessage(message: FromWorker): void,
 *   onmessage: ((event: MessageEvent<ToWorker>) => void) | null,
 *   requestAnimationFrame?: (callback: () => void) => number,
 * }}
 */
const scope = /** @type {any} */ (self);

/** @param {FromWorker} message */
const post = (message) => scope.postMessage(message);

/** @type {OffscreenCanvas | null} */
let canvas = null;
/** @type {OffscreenCanvasRenderingContext2D | null} */
let context = null;
/** @type {VideoFrame | null} decoded, not drawn yet */
let newest = null;
let drawn = 0;
let drawnTimestamp = -1;
let fit = { width: 0, height: 0 }; // the box the page shows the canvas in (device pixels), 0: none
let scheduled = 0; // the tick awaited (0: none)
let ticks = 0;
let lastStats = '';
let reportedStream = -1; // the stream_type last reported as unsupported
let reportedSpsError = '';

const demuxer = new TsDemuxer();
/** @type {LiveDecoder} */
let decoder = makeDecoder({});

/** @param {import('./protocol.js').WorkerOptions} options */
function makeDecoder(options) {
  return new LiveDecoder(
    {
      createDecoder: (init) => new VideoDecoder(init),
      isConfigSupported: async (config) => (await VideoDecoder.isConfigSupported(config)).supported === true,
      makeChunk: (data, key, timestamp) => new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp, data }),
      onFrame: (frame) => {
        if (newest) newest.close(); // replaced before it could be drawn
        newest = frame;
        schedule();
      },
      onConfigured: (info) => post({ type: 'info', info: streamInfo(info) }),
      onUnsupported: (info) =>
        post({
          type: 'unsupported',
          codecString: info.codecString,
          message: `this browser cannot decode ${info.codecString} (${info.width}x${info.height})`,
        }),
      onError: (message) => post({ type: 'error', message }),
    },
    {
      maxLagUs: options.maxLagMs !== undefined ? options.maxLagMs * 1000 : undefined,
      maxBehind: options.maxBehind,
    },
  );
}

/** @param {SpsInfo} info @returns {import('./protocol.js').StreamInfo} */
function streamInfo(info) {
  const { codecString, width, height, profileIdc, levelIdc } = info;
  return { codecString, width, height, profileIdc, levelIdc };
}

/** Runs `tick` at the next animation frame, or after FALLBACK_MS if none comes. */
function schedule() {
  if (scheduled) return;
  const token = ++ticks;
  scheduled = token;
  const run = () => {
    if (scheduled === token) tick();
  };
  scope.requestAnimationFrame?.(run);
  setTimeout(run, FALLBACK_MS);
}

function tick() {
  scheduled = 0;
  const frame = newest;
  newest = null;
  if (frame) {
    draw(frame);
    frame.close();
  }
  /** @type {WorkerStats} */
  const stats = {
    units: demuxer.units,
    decoded: decoder.decoded,
    drawn,
    dropped: demuxer.skipped + decoder.dropped,
    jumps: decoder.jumps,
    waiting: decoder.waiting,
    lagMs: Math.round(decoder.lagUs / 1000),
    drawnTimestamp,
  };
  const key = JSON.stringify(stats);
  if (key !== lastStats) {
    lastStats = key;
    post({ type: 'stats', stats });
  }
}

/**
 * The size to draw a picture at: its own, or smaller to fit the box the page shows it in (a 640x360 picture
 * in a 300 px tile is drawn at 300x169: the RGB conversion and the compositing of each picture cost less).
 * @param {number} width
 * @param {number} height
 */
function drawSize(width, height) {
  if (fit.width <= 0 || fit.height <= 0) return { width, height };
  const scale = Math.min(1, fit.width / width, fit.height / height);
  return { width: Math.max(2, Math.round(width * scale)), height: Math.max(2, Math.round(height * scale)) };
}

/** @param {VideoFrame} frame */
function draw(frame) {
  if (!canvas || !context) return;
  const { width, height } = drawSize(frame.displayWidth, frame.displayHeight);
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  context.drawImage(frame, 0, 0, width, height);
  drawn += 1;
  drawnTimestamp = frame.timestamp;
}

/**
 * A JPEG of the picture the canvas shows (at the size it is drawn), or why there is none.
 * @param {number} id
 */
async function snapshot(id) {
  if (!canvas || drawn === 0) {
    post({ type: 'snapshot', id, blob: null, message: 'no picture has been shown yet' });
    return;
  }
  try {
    const blob = await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.92 });
    post({ type: 'snapshot', id, blob, message: '' });
  } catch (error) {
    post({ type: 'snapshot', id, blob: null, message: error instanceof Error ? error.message : String(error) });
  }
}

/** @param {ArrayBuffer} buffer */
function onData(buffer) {
  for (const unit of demuxer.push(new Uint8Array(buffer))) decoder.push(unit);
  const type = demuxer.streamType;
  if (type >= 0 && type !== StreamType.H264 && type !== reportedStream) {
    reportedStream = type;
    const name = STREAM_NAMES[type] ?? `stream_type 0x${type.toString(16)}`;
    post({ type: 'unsupported', codecString: '', message: `the stream is ${name}, not H.264` });
  }
  if (demuxer.spsError && demuxer.spsError !== reportedSpsError) {
    reportedSpsError = demuxer.spsError;
    post({ type: 'error', message: `unreadable SPS: ${demuxer.spsError}` });
  }
  schedule();
}

scope.onmessage = (event) => {
  const message = event.data;
  try {
    if (message.type === 'data') {
      onData(message.buffer);
    } else if (message.type === 'init') {
      canvas = message.canvas;
      context = canvas.getContext('2d', { alpha: false });
      decoder.close();
      decoder = makeDecoder(message.options);
    } else if (message.type === 'fit') {
      fit = { width: message.width, height: message.height };
    } else if (message.type === 'snapshot') {
      snapshot(message.id);
    } else if (message.type === 'reset') {
      demuxer.reset();
      decoder.reset();
      if (newest) newest.close();
      newest = null;
      schedule();
    }
  } catch (error) {
    post({ type: 'error', message: error instanceof Error ? `${error.name}: ${error.message}` : String(error) });
  }
};

post({ type: 'ready' });
