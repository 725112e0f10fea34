// Unit tests of the pacer with synthetic MPEG-TS (node --test): picture starts and I-frames are found,
// data is held back while the decoder is busy, and a backlog is dropped at the next I-frame only.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Pacer, pictureStarts } from '../src/pacer.js';

/** One 188-byte TS packet on PID 0x100; with `picture`, it starts a video PES holding that picture type. */
function packet({ picture = null, sequence = false, filler = 0 } = {}) {
  const bytes = new Uint8Array(188).fill(0xff);
  bytes.set([0x47, picture ? 0x41 : 0x01, 0x00, 0x10]);
  if (!picture) {
    bytes[4] = filler;
    return bytes;
  }
  const pes = [0, 0, 1, 0xe0, 0, 0, 0x80, 0x80, 5, 0x21, 0, 1, 0, 1];
  const seq = sequence ? [0, 0, 1, 0xb3, 0x28, 0x01, 0x68, 0x13] : [];
  const types = { I: 1, P: 2, B: 3 };
  const header = [0, 0, 1, 0x00, 0x00, types[picture] << 3, 0xff, 0xf8];
  bytes.set([...pes, ...seq, ...header], 4);
  return bytes;
}

function concat(...packets) {
  const out = new Uint8Array(packets.length * 188);
  packets.forEach((p, i) => out.set(p, i * 188));
  return out;
}

test('finds picture starts and tells I-frames', () => {
  const data = concat(packet(), packet({ picture: 'I', sequence: true }), packet(), packet({ picture: 'P' }));
  assert.deepEqual(pictureStarts(data), [
    { offset: 188, intra: true },
    { offset: 564, intra: false },
  ]);
  assert.deepEqual(pictureStarts(concat(packet({ picture: 'I' }))), [{ offset: 0, intra: true }]);
  assert.deepEqual(pictureStarts(concat(packet({ picture: 'B' }))), [{ offset: 0, intra: false }]);
});

test('passes data straight through while the decoder keeps up', () => {
  const written = [];
  const pacer = new Pacer((b) => written.push(b.length));
  for (let i = 0; i < 20; i++) {
    pacer.push(concat(packet({ picture: i % 5 ? 'P' : 'I' }), packet()));
    if (i > 0) pacer.onDecoded(); // JSMpeg decodes a picture once the next one starts
  }
  assert.equal(written.reduce((a, b) => a + b, 0), 20 * 2 * 188);
  assert.equal(pacer.dropped, 0);
  assert.ok(pacer.lag <= 1);
});

test('a stalled decoder: the backlog is dropped at the next I-frame, never mid-GOP', () => {
  const written = [];
  const pacer = new Pacer((b) => written.push(b), { maxPending: 2, maxLag: 4 });
  const gop = ['I', 'P', 'P', 'P', 'P', 'P'];
  for (const type of gop) pacer.push(concat(packet({ picture: type })));
  // nothing decoded: two pictures went to the decoder, the rest waits
  assert.equal(pacer.written, 3); // the third start completes the second picture in JSMpeg's demuxer
  assert.equal(pacer.dropped, 0);
  assert.ok(pacer.lag >= 4);
  pacer.push(concat(packet({ picture: 'I' }))); // the next GOP: jump to it
  assert.equal(pacer.queue.length, 1);
  assert.ok(pacer.queue[0].intra);
  assert.equal(pacer.dropped, 3);
  // the decoder catches up: the I-frame goes out next
  pacer.onDecoded();
  pacer.onDecoded();
  const last = written[written.length - 1];
  assert.deepEqual(pictureStarts(last), [{ offset: 0, intra: true }]);
});

test('bytes after a picture start belong to it, queued or not', () => {
  const sizes = [];
  const pacer = new Pacer((b) => sizes.push(b.length), { maxPending: 1, maxLag: 100 });
  pacer.push(concat(packet({ picture: 'I' }), packet()));
  pacer.push(concat(packet(), packet({ picture: 'P' }), packet())); // the I-frame's end, then a P
  // the I-frame is now complete in the decoder (pending 1): the next picture waits, with its tail
  pacer.push(concat(packet(), packet({ picture: 'P' }), packet()));
  pacer.push(concat(packet(), packet()));
  assert.deepEqual(sizes, [376, 188, 376, 188]);
  pacer.onDecoded();
  assert.deepEqual(sizes, [376, 188, 376, 188, 376, 376]);
});

test('reset forgets the queue and unsticks the gate', () => {
  const pacer = new Pacer(() => {}, { maxPending: 1, maxLag: 100 });
  for (const type of ['I', 'P', 'P', 'P']) pacer.push(concat(packet({ picture: type })));
  assert.ok(pacer.queue.length > 0);
  pacer.reset();
  assert.equal(pacer.queue.length, 0);
  const written = [];
  pacer.write = (b) => written.push(b);
  pacer.push(concat(packet({ picture: 'I' })));
  assert.equal(written.length, 1);
});
