// Unit tests of StreamPlayer's path switching (node --test) with fake players: it starts on H.264 in a page
// that can decode it (MPEG-1 otherwise), falls back to MPEG-1 once on a fresh canvas when the server's
// video_start, the Worker or the decoder says so, remembers that per stream and profile, keeps a paused view
// paused across the switch, and keeps its counters going. The real players run in the browser tests
// (tests/test_widget_h264.py).
import assert from 'node:assert/strict';
import { register } from 'node:module';
import { test } from 'node:test';

// h264/player.js imports its Worker's text through the build's worker-text plugin: an empty text here
const HOOKS = `export async function resolve(specifier, context, next) {
  if (specifier.startsWith('worker-text:')) return { url: 'data:text/javascript,export default ""', shortCircuit: true };
  return next(specifier, context);
}`;
register(`data:text/javascript,${encodeURIComponent(HOOKS)}`);

const { PathMemory } = await import('../src/codec.js');
const { StreamPlayer } = await import('../src/stream-player.js');

// the little of the DOM that dom.js's h() uses to make a canvas (set after the imports: JSMpeg looks for its
// own elements in a document when it loads)
globalThis.document ??= /** @type {any} */ ({
  createElement: (tag) => ({ tag, attributes: {}, setAttribute(name, value) { this.attributes[name] = value; }, append() {} }),
});

const STREAM = { id: 'door', url: 'rtsp://door/main' };
const SECURE = { secure: true, webcodecs: true };
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

class FakePlayer {
  constructor(kind, canvas, connect, events) {
    this.kind = kind;
    this.canvas = canvas;
    this.socket = connect();
    this.events = events;
    this.frames = 0;
    this.bytes = 0;
    this.pacer = { lag: 0, dropped: 0 };
    this.sent = [];
    this.destroyed = false;
  }
  send(action) {
    this.sent.push(action);
    return true;
  }
  get connected() {
    return !this.destroyed;
  }
  destroy() {
    this.destroyed = true;
  }
}

/** A StreamPlayer on fake players, and what it did. */
function make({ facts = SECURE, memory = new PathMemory(), supported = true, h264Throws = false, profile = 'grid' } = {}) {
  const made = [];
  const log = { made, opened: [], mounted: [], messages: [], paths: [], frames: 0, asked: [] };
  const players = {
    h264: (canvas, connect, events) => {
      if (h264Throws) throw new Error('Worker blocked by the page’s Content-Security-Policy');
      const player = new FakePlayer('h264', canvas, connect, events);
      made.push(player);
      return player;
    },
    mpeg1: (canvas, connect, webgl, events) => {
      const player = new FakePlayer('mpeg1', canvas, connect, events);
      made.push(player);
      return player;
    },
    supported: async (codecString) => {
      log.asked.push(codecString);
      return supported;
    },
  };
  const setup = {
    connect: (codec) => {
      log.opened.push(codec);
      return { codec };
    },
    mount: (canvas) => log.mounted.push(canvas),
    canvas: { class: 'rn-canvas', width: 640, height: 360 },
    webgl: false,
    memory,
    stream: STREAM,
    profile,
    players,
    facts,
  };
  const player = new StreamPlayer(setup, {
    onMessage: (message) => log.messages.push(message),
    onFrame: () => (log.frames += 1),
    onData: () => {},
    onClose: () => {},
    onPath: (path, reason) => log.paths.push([path, reason]),
  });
  return { player, log, memory };
}

const videoStart = (codec, codecString) => ({ type: 'video_start', codec, codec_string: codecString, width: 640, height: 360, fps: 25 });

test('a secure page with WebCodecs plays H.264, and stays on it for H.264 the browser decodes', async () => {
  const { player, log } = make();
  assert.equal(player.path, 'h264');
  assert.deepEqual(log.opened, ['h264']);
  assert.equal(log.mounted.length, 1);
  log.made[0].events.onMessage(videoStart('h264', 'avc1.64001f'));
  await tick();
  assert.deepEqual(log.asked, ['avc1.64001f']);
  assert.equal(player.path, 'h264');
  assert.deepEqual(log.messages.map((m) => m.codec), ['h264']);
  assert.deepEqual(log.paths, []);
});

test('not a secure context: MPEG-1 at once, H.264 never tried, and the tag says why', () => {
  const { player, log } = make({ facts: { secure: false, webcodecs: true } });
  assert.equal(player.path, 'mpeg1');
  assert.deepEqual(log.opened, ['mpeg1']);
  assert.deepEqual(log.made.map((p) => p.kind), ['mpeg1']);
  assert.match(player.reason, /secure context/);
});

test('an HEVC video_start ends the H.264 player; MPEG-1 plays on a fresh canvas, remembered', () => {
  const { player, log, memory } = make();
  const h264 = log.made[0];
  h264.events.onMessage(videoStart('hevc', 'hvc1.1.6.L93.B0'));
  assert.equal(h264.destroyed, true);
  assert.equal(player.path, 'mpeg1');
  assert.deepEqual(log.opened, ['h264', 'mpeg1']);
  assert.equal(log.mounted.length, 2);
  assert.notEqual(log.mounted[0], log.mounted[1]); // a transferred canvas is never used again
  assert.deepEqual(log.paths, [['mpeg1', 'this browser cannot decode H.265 (HEVC)']]);
  assert.deepEqual(log.messages, []); // the video_start of the socket that goes is not the view's
  // later messages of the ended player are ignored
  h264.events.onMessage({ type: 'status', phase: 'playing' });
  h264.events.onFrame();
  assert.deepEqual(log.messages, []);
  assert.equal(log.frames, 0);

  // a reconnect (a new StreamPlayer of the same grid) goes to MPEG-1 at once; the full profile tries H.264
  const again = make({ memory });
  assert.equal(again.player.path, 'mpeg1');
  assert.deepEqual(again.log.opened, ['mpeg1']);
  assert.equal(again.player.reason, 'this browser cannot decode H.265 (HEVC)');
  assert.deepEqual(make({ memory, profile: 'full' }).log.opened, ['h264']);
});

test('H.264 the browser refuses, and MPEG-1 from an older server, fall back too', async () => {
  const refused = make({ supported: false });
  refused.log.made[0].events.onMessage(videoStart('h264', 'avc1.7a0034'));
  assert.equal(refused.player.path, 'h264'); // asked asynchronously
  await tick();
  assert.equal(refused.player.path, 'mpeg1');
  assert.deepEqual(refused.log.paths, [['mpeg1', 'this browser cannot decode avc1.7a0034']]);

  const older = make();
  older.log.made[0].events.onMessage({ type: 'video_start', codec: 'mpeg1video', width: 640, height: 360, fps: 15 });
  assert.deepEqual(older.log.paths, [['mpeg1', 'the server sends MPEG-1 only']]);
  assert.deepEqual(older.log.opened, ['h264', 'mpeg1']);
});

test('the Worker saying it cannot decode, or three decoder errors, end the H.264 path', () => {
  const unsupported = make();
  unsupported.log.made[0].events.onUnsupported('the stream is H.265, not H.264', '');
  assert.deepEqual(unsupported.log.paths, [['mpeg1', 'the stream is H.265, not H.264']]);

  const failing = make();
  const h264 = failing.log.made[0];
  h264.events.onDecoderError('EncodingError: a');
  h264.events.onDecoderError('EncodingError: b');
  assert.equal(failing.player.path, 'h264');
  h264.events.onDecoderError('EncodingError: c');
  assert.equal(failing.player.path, 'mpeg1');
  assert.match(failing.log.paths[0][1], /^the decoder failed 3 times: EncodingError: c$/);
});

test('a Worker that cannot start: MPEG-1 at once, remembered', () => {
  const { player, log, memory } = make({ h264Throws: true });
  assert.equal(player.path, 'mpeg1');
  assert.deepEqual(log.opened, ['mpeg1']);
  assert.equal(log.mounted.length, 1);
  assert.match(player.reason, /cannot start here: Worker blocked/);
  assert.equal(memory.get(STREAM, 'grid').path, 'mpeg1');
});

test('a paused view stays paused when its player is replaced', () => {
  const { player, log } = make();
  assert.equal(player.send('pause'), true);
  log.made[0].events.onUnsupported('nope', '');
  const mpeg1 = log.made[1];
  assert.deepEqual(mpeg1.sent, []);
  mpeg1.events.onMessage({ type: 'status', phase: 'playing' }); // its socket is open: the server plays
  assert.deepEqual(mpeg1.sent, ['pause']);
  assert.deepEqual(log.messages, [{ type: 'status', phase: 'playing' }]);
  mpeg1.events.onMessage({ type: 'status', phase: 'paused' });
  assert.deepEqual(mpeg1.sent, ['pause'], 'once');

  const playing = make();
  playing.player.send('pause');
  playing.player.send('resume');
  playing.log.made[0].events.onUnsupported('nope', '');
  playing.log.made[1].events.onMessage({ type: 'status', phase: 'playing' });
  assert.deepEqual(playing.log.made[1].sent, []);
});

test('frames, bytes and drops go on counting across the switch; a decode backlog is a catch-up', () => {
  const { player, log } = make();
  const h264 = log.made[0];
  h264.frames = 10;
  h264.bytes = 5000;
  h264.pacer.dropped = 2;
  assert.equal(player.catchingUp, false);
  h264.pacer.lag = 9; // the joined GOP waits in the Worker's decoder
  assert.equal(player.catchingUp, true);
  h264.pacer.lag = 0; // several pictures a report under load are not a catch-up (they are drawn)
  assert.equal(player.catchingUp, false);
  h264.events.onUnsupported('nope', '');
  const mpeg1 = log.made[1];
  mpeg1.frames = 3;
  mpeg1.bytes = 700;
  mpeg1.pacer.dropped = 1;
  assert.deepEqual([player.frames, player.bytes, player.pacer.dropped], [13, 5700, 3]);
  mpeg1.pacer.lag = 2;
  assert.equal(player.catchingUp, true);
});

test('video that shows no picture for 8 s ends the H.264 path; destroy ends the player for good', (t) => {
  let now = 0;
  t.mock.method(performance, 'now', () => now);
  const { player, log } = make();
  const h264 = log.made[0];
  for (; now < 8000; now += 40) h264.events.onData();
  assert.equal(player.path, 'h264');
  h264.events.onData();
  assert.equal(player.path, 'mpeg1');
  assert.deepEqual(log.paths, [['mpeg1', 'no picture decoded in 8 s of video']]);
  player.destroy();
  assert.equal(log.made[1].destroyed, true);
  player.destroy(); // idempotent
});
