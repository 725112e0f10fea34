// LiveDecoder's scheduling and drop policy (node --test) against a fake VideoDecoder that decodes only when
// the test says so: a short decoder queue, a burst decoded whole, a backlog dropped at the next IDR only,
// reconfiguring on a new SPS, unsupported streams, and recovery from decoder errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { LiveDecoder } from '../src/h264/live-decoder.js';

const FRAME_US = 40_000;
const SPS_A = new Uint8Array([0x67, 0x42, 0xc0, 0x1e, 1]);
const SPS_B = new Uint8Array([0x67, 0x64, 0x00, 0x1f, 2]);
const INFO = {
  [SPS_A[4]]: { codecString: 'avc1.42c01e', width: 640, height: 360, codedWidth: 640, codedHeight: 368 },
  [SPS_B[4]]: { codecString: 'avc1.64001f', width: 1280, height: 720, codedWidth: 1280, codedHeight: 720 },
};

/** Access unit `i` of a 25 fps stream with an IDR every `gop` (carrying `sps`). */
function unit(i, { gop = 25, sps = SPS_A } = {}) {
  const key = i % gop === 0;
  return {
    data: new Uint8Array([i & 0xff]),
    pts: i * 3600,
    dts: i * 3600,
    timestamp: i * FRAME_US,
    key,
    sps: key ? sps : null,
    config: key ? { ...INFO[sps[4]], profileIdc: sps[1], constraintFlags: sps[2], levelIdc: sps[3] } : null,
  };
}

/** A VideoDecoder stand-in: decode() queues, step() decodes the oldest chunks. */
class FakeDecoder {
  constructor(init, log) {
    this.init = init;
    this.log = log;
    this.state = 'unconfigured';
    this.pending = [];
    this.ondequeue = null;
    this.configs = [];
  }
  get decodeQueueSize() {
    return this.pending.length;
  }
  configure(config) {
    if (this.state === 'closed') throw new Error('InvalidStateError: closed');
    this.configs.push(config);
    this.state = 'configured';
  }
  decode(chunk) {
    if (this.state !== 'configured') throw new Error('InvalidStateError: not configured');
    if (this.log.refuse) throw new Error('DataError: refused');
    this.pending.push(chunk);
  }
  /** Decodes `n` chunks: each comes out as a frame, then `dequeue` fires. */
  step(n = 1) {
    for (let i = 0; i < n && this.pending.length; i++) {
      const chunk = this.pending.shift();
      this.init.output({ timestamp: chunk.timestamp, close: () => this.log.closed.push(chunk.timestamp) });
      this.ondequeue?.();
    }
  }
  fail(message) {
    this.state = 'closed';
    this.init.error(new Error(message));
  }
  close() {
    this.state = 'closed';
    this.pending = [];
  }
}

/** A LiveDecoder with fake hooks; `log` records what reached them. */
function setup(options = {}, supported = () => true) {
  const log = { decoders: [], frames: [], configured: [], unsupported: [], errors: [], closed: [], asked: [] };
  const live = new LiveDecoder(
    {
      createDecoder: (init) => {
        const decoder = new FakeDecoder(init, log);
        log.decoders.push(decoder);
        return decoder;
      },
      isConfigSupported: async (config) => {
        log.asked.push(config.codec);
        return supported(config.codec);
      },
      makeChunk: (data, key, timestamp) => ({ type: key ? 'key' : 'delta', timestamp, data }),
      onFrame: (frame) => {
        log.frames.push(frame.timestamp / FRAME_US);
        frame.close();
      },
      onConfigured: (info) => log.configured.push(info.codecString),
      onUnsupported: (info) => log.unsupported.push(info.codecString),
      onError: (message) => log.errors.push(message),
    },
    options,
  );
  const decoder = () => log.decoders[log.decoders.length - 1];
  return { live, log, decoder };
}

const settle = () => new Promise((resolve) => setImmediate(resolve)); // isConfigSupported's answer

test('waits for an IDR, then configures from its SPS: Annex B, no description, tuned for latency', async () => {
  const { live, log, decoder } = setup();
  for (let i = 20; i < 25; i++) live.push(unit(i)); // the middle of a GOP
  assert.equal(log.decoders.length, 0);
  assert.equal(live.dropped, 5);
  live.push(unit(25));
  await settle();
  assert.deepEqual(log.asked, ['avc1.42c01e']);
  assert.deepEqual(decoder().configs, [
    { codec: 'avc1.42c01e', codedWidth: 640, codedHeight: 368, optimizeForLatency: true },
  ]);
  assert.deepEqual(log.configured, ['avc1.42c01e']);
  assert.equal(decoder().pending[0].type, 'key');
  decoder().step();
  assert.deepEqual(log.frames, [25]);
  assert.deepEqual(log.closed, [25 * FRAME_US]);
});

test('keeps the decoder queue short and hands over more on dequeue', async () => {
  const { live, decoder } = setup({ maxDecodeQueue: 3 });
  for (let i = 0; i < 10; i++) live.push(unit(i));
  await settle();
  assert.equal(decoder().decodeQueueSize, 3);
  assert.equal(live.queue.length, 7);
  assert.equal(live.waiting, 10);
  decoder().step(2);
  assert.equal(decoder().decodeQueueSize, 3);
  assert.equal(live.queue.length, 5);
});

test("a burst with no IDR after its first is decoded whole (the relay's cached GOP)", async () => {
  const { live, log, decoder } = setup();
  for (let i = 0; i < 250; i++) live.push(unit(i, { gop: 250 })); // a 10 s GOP at once
  await settle();
  for (let i = 0; i < 250; i++) decoder().step();
  assert.equal(log.frames.length, 250);
  assert.equal(live.dropped, 0);
  assert.equal(live.lagUs, 0);
});

test('behind at an IDR: everything before it is dropped, the decoder restarted, decoding goes on from it', async () => {
  const { live, log, decoder } = setup({ maxBehind: 12 });
  for (let i = 0; i < 20; i++) live.push(unit(i));
  await settle();
  const first = decoder();
  first.step(2);
  const before = live.dropped;
  live.push(unit(25 - 5)); // not yet an IDR: nothing is dropped
  assert.equal(live.dropped, before);
  for (let i = 21; i < 25; i++) live.push(unit(i));
  live.push(unit(25)); // 23 waiting
  assert.equal(live.jumps, 1);
  assert.equal(first.state, 'closed'); // what it held is gone with it
  assert.equal(live.dropped, 23);
  assert.notEqual(decoder(), first);
  assert.deepEqual(decoder().pending.map((c) => c.timestamp / FRAME_US), [25]);
  first.init.output({ timestamp: 3 * FRAME_US, close: () => log.closed.push('late') }); // from the old one
  assert.deepEqual(log.frames, [0, 1]);
  assert.deepEqual(log.closed.slice(-1), ['late']);
  decoder().step();
  assert.deepEqual(log.frames, [0, 1, 25]);
});

test('behind by more than maxLagUs of pictures at an IDR drops too, even with a short queue', async () => {
  const { live, log, decoder } = setup({ maxLagUs: 500_000, maxBehind: 1000 });
  live.push(unit(0));
  await settle();
  for (let i = 1; i < 25; i++) {
    live.push(unit(i));
    if (i < 5) decoder().step(); // decodes 0..3, then stalls
  }
  assert.equal(live.lagUs, (24 - 3) * FRAME_US);
  live.push(unit(25));
  assert.equal(live.jumps, 1);
  decoder().step();
  assert.deepEqual(log.frames, [0, 1, 2, 3, 25]);
  // keeping up: no drop at the next IDR
  for (let i = 26; i <= 50; i++) {
    live.push(unit(i));
    decoder().step();
  }
  assert.equal(live.jumps, 1);
  assert.equal(log.frames.length, 30);
});

test('a new SPS configures the decoder again; the same SPS does not', async () => {
  const { live, log, decoder } = setup();
  live.push(unit(0));
  await settle();
  for (let i = 1; i < 50; i++) {
    live.push(unit(i));
    decoder().step();
  }
  for (let i = 50; i < 75; i++) live.push(unit(i, { sps: SPS_B }));
  await settle();
  decoder().step(26);
  assert.deepEqual(log.asked, ['avc1.42c01e', 'avc1.64001f']);
  assert.deepEqual(
    decoder().configs.map((c) => c.codec),
    ['avc1.42c01e', 'avc1.64001f'],
  );
  assert.deepEqual(log.configured, ['avc1.42c01e', 'avc1.64001f']);
  assert.equal(log.frames.length, 75);
  assert.equal(log.decoders.length, 1);
});

test('a stream the browser cannot decode is reported once and dropped', async () => {
  const { live, log } = setup({}, (codec) => codec !== 'avc1.64001f');
  for (let i = 0; i < 60; i++) live.push(unit(i, { sps: SPS_B }));
  await settle();
  for (let i = 60; i < 80; i++) live.push(unit(i, { sps: SPS_B }));
  assert.deepEqual(log.unsupported, ['avc1.64001f']);
  assert.deepEqual(log.asked, ['avc1.64001f']);
  assert.equal(log.decoders.length, 0);
  assert.equal(live.dropped, 80);
});

test('a decoder error drops the decoder; the next IDR starts a new one', async () => {
  const { live, log, decoder } = setup();
  for (let i = 0; i < 10; i++) live.push(unit(i));
  await settle();
  decoder().step(3);
  const broken = decoder();
  broken.fail('EncodingError: decoding failed');
  assert.deepEqual(log.errors, ['Error: EncodingError: decoding failed']);
  for (let i = 10; i < 25; i++) live.push(unit(i)); // dropped: they need the lost pictures
  assert.equal(log.decoders.length, 1);
  live.push(unit(25));
  assert.equal(log.decoders.length, 2);
  decoder().step();
  assert.deepEqual(log.frames, [0, 1, 2, 25]);
  // a chunk the decoder refuses (decode() throws) is handled the same way
  log.refuse = true;
  live.push(unit(26));
  assert.equal(log.errors.length, 2);
  assert.equal(decoder().state, 'closed');
  log.refuse = false;
  live.push(unit(27));
  live.push(unit(50));
  decoder().step();
  assert.deepEqual(log.frames, [0, 1, 2, 25, 50]);
});

test('reset() (pause, stop) forgets everything until the next IDR; close() ends it', async () => {
  const { live, log, decoder } = setup();
  for (let i = 0; i < 10; i++) live.push(unit(i));
  await settle();
  const first = decoder();
  live.reset();
  assert.equal(first.state, 'closed');
  live.push(unit(10));
  assert.equal(log.decoders.length, 1);
  live.push(unit(25));
  decoder().step(5);
  assert.deepEqual(log.frames, [25]);
  live.close();
  assert.equal(decoder().state, 'closed');
  live.push(unit(50));
  assert.equal(log.decoders.length, 2);
});
