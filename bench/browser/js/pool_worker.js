// The Worker of bench.browser.pool (not the widget's): decodes and draws any number of tiles' streams,
// each with the widget's own demuxer and LiveDecoder (js/src/h264/), on its own OffscreenCanvas; once per
// animation frame (or every 100 ms) it draws each stream's newest picture and posts all its counters in
// one message. One of these per tile is the widget's model; two or four for all tiles is a pool.
// Bundled by esbuild when the bench runs (bench/browser/pool.py), started from a Blob URL.
import { LiveDecoder } from '../../../js/src/h264/live-decoder.js';
import { TsDemuxer } from '../../../js/src/h264/tsdemux.js';

const streams = new Map();
let scheduled = 0;
let ticks = 0;

// `draw`: the width to draw at (0: the picture's own size; else scaled, e.g. to the tile's width on screen)
function makeStream(id, canvas, draw) {
  const s = { id, canvas, draw, context: canvas.getContext('2d', { alpha: false }), demuxer: new TsDemuxer(), newest: null, drawn: 0 };
  s.decoder = new LiveDecoder({
    createDecoder: (init) => new VideoDecoder(init),
    isConfigSupported: async (config) => (await VideoDecoder.isConfigSupported(config)).supported === true,
    makeChunk: (data, key, timestamp) => new EncodedVideoChunk({ type: key ? 'key' : 'delta', timestamp, data }),
    onFrame: (frame) => {
      if (s.newest) s.newest.close();
      s.newest = frame;
      schedule();
    },
    onConfigured: () => {},
    onUnsupported: (info) => self.postMessage({ type: 'error', id, message: `unsupported ${info.codecString}` }),
    onError: (message) => self.postMessage({ type: 'error', id, message }),
  });
  return s;
}

function schedule() {
  if (scheduled) return;
  const token = ++ticks;
  scheduled = token;
  const run = () => {
    if (scheduled === token) tick();
  };
  self.requestAnimationFrame(run);
  setTimeout(run, 100);
}

function tick() {
  scheduled = 0;
  const stats = {};
  for (const s of streams.values()) {
    const frame = s.newest;
    s.newest = null;
    if (frame) {
      const width = s.draw || frame.displayWidth;
      const height = Math.round((width * frame.displayHeight) / frame.displayWidth);
      if (s.canvas.width !== width || s.canvas.height !== height) {
        s.canvas.width = width;
        s.canvas.height = height;
      }
      s.context.drawImage(frame, 0, 0, width, height);
      s.drawn += 1;
      frame.close();
    }
    stats[s.id] = {
      decoded: s.decoder.decoded,
      drawn: s.drawn,
      dropped: s.demuxer.skipped + s.decoder.dropped,
      jumps: s.decoder.jumps,
    };
  }
  self.postMessage({ type: 'stats', stats });
}

self.onmessage = (event) => {
  const m = event.data;
  if (m.type === 'add') {
    streams.set(m.id, makeStream(m.id, m.canvas, m.draw));
  } else if (m.type === 'data') {
    const s = streams.get(m.id);
    for (const unit of s.demuxer.push(new Uint8Array(m.buffer))) s.decoder.push(unit);
    schedule();
  }
};
