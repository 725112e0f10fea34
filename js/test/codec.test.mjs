// Unit tests of the path choice (node --test): H.264 with WebCodecs only in a secure context that has the
// decoder, and only while the server's video_start names something the page decodes; the reasons shown;
// the watch that gives up on a decoder that keeps failing or shows nothing; the per-stream memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { choosePath, DecoderWatch, fallbackReason, pageFacts, PathMemory, pathTitle } from '../src/codec.js';

const CAPABLE = { secure: true, webcodecs: true };
const H264 = { codec: 'h264', codec_string: 'avc1.64001f' };

test('a secure page with WebCodecs tries H.264 before the server has said anything', () => {
  assert.equal(choosePath(CAPABLE), 'h264');
  assert.equal(choosePath({ ...CAPABLE, videoStart: null }), 'h264');
});

test('not a secure context, or no WebCodecs: MPEG-1 straight away, whatever the stream', () => {
  for (const videoStart of [null, H264]) {
    assert.equal(choosePath({ secure: false, webcodecs: true, videoStart, supported: true }), 'mpeg1');
    assert.equal(choosePath({ secure: true, webcodecs: false, videoStart, supported: true }), 'mpeg1');
  }
});

test('H.264 the browser accepts stays on H.264; one it refuses falls back', () => {
  assert.equal(choosePath({ ...CAPABLE, videoStart: H264, supported: true }), 'h264');
  assert.equal(choosePath({ ...CAPABLE, videoStart: H264, supported: false }), 'mpeg1');
  // no codec string to ask about: the Worker asks when it reads the SPS
  assert.equal(choosePath({ ...CAPABLE, videoStart: { codec: 'h264' } }), 'h264');
});

test('HEVC, and MPEG-1 from a server older than codec=h264, fall back', () => {
  const hevc = { codec: 'hevc', codec_string: 'hvc1.1.6.L93.B0' };
  assert.equal(choosePath({ ...CAPABLE, videoStart: hevc, supported: true }), 'mpeg1');
  assert.equal(choosePath({ ...CAPABLE, videoStart: { codec: 'mpeg1video' } }), 'mpeg1');
  assert.equal(choosePath({ ...CAPABLE, videoStart: { codec: 'mjpeg' } }), 'mpeg1');
});

test('the reasons say what the page cannot decode', () => {
  assert.equal(fallbackReason(H264, true), '');
  assert.equal(fallbackReason({ codec: 'h264' }, undefined), '');
  assert.equal(fallbackReason(H264, false), 'this browser cannot decode avc1.64001f');
  assert.equal(fallbackReason({ codec: 'hevc', codec_string: 'hvc1.1.6.L93.B0' }, undefined),
    'this browser cannot decode H.265 (HEVC)');
  assert.equal(fallbackReason({ codec: 'mpeg1video' }, undefined), 'the server sends MPEG-1 only');
  assert.equal(fallbackReason({ codec: 'vp9' }, undefined), 'this browser cannot decode vp9');
  assert.match(pathTitle('h264', ''), /^H\.264: .*WebCodecs/);
  assert.equal(pathTitle('mpeg1', 'the server sends MPEG-1 only'), 'MPEG-1, decoded by JSMpeg: the server sends MPEG-1 only');
});

test('node is no browser: pageFacts says MPEG-1', () => {
  assert.equal(choosePath(pageFacts()), 'mpeg1');
});

test('three decoder errors within 10 s end the H.264 path; errors spread out do not', () => {
  const watch = new DecoderWatch();
  assert.equal(watch.error(0, 'a'), '');
  assert.equal(watch.error(6000, 'b'), '');
  assert.equal(watch.error(12000, 'c'), ''); // the first is 12 s old
  assert.equal(watch.error(30000, 'd'), '');
  assert.equal(watch.error(31000, 'e'), '');
  assert.equal(watch.error(32000, 'EncodingError: decode failed'),
    'the decoder failed 3 times: EncodingError: decode failed');
});

test('video flowing for 8 s with no picture ends the H.264 path; a picture starts the clock again', () => {
  const watch = new DecoderWatch();
  const flow = (from, to) => {
    let why = '';
    for (let t = from; t <= to && !why; t += 40) why = watch.data(t);
    return why;
  };
  assert.equal(flow(1000, 8960), ''); // 7.96 s
  watch.picture();
  assert.equal(flow(9000, 16960), '');
  assert.equal(flow(17000, 17040), 'no picture decoded in 8 s of video');
});

test('pauses, and pages that were busy or asleep, do not count as video without pictures', () => {
  const watch = new DecoderWatch();
  watch.data(0);
  watch.pause();
  assert.equal(watch.data(100), ''); // still on its way when the pause was sent
  watch.resume();
  assert.equal(watch.data(60_000), '');
  assert.equal(watch.data(61_000), '');
  // the page was blocked (or the laptop asleep) for an hour: what arrives now is a new flow
  assert.equal(watch.data(3_661_000), '');
  assert.equal(watch.data(3_662_000), '');
  for (let t = 3_662_000; t < 3_669_000; t += 500) assert.equal(watch.data(t), '');
  assert.equal(watch.data(3_669_000), 'no picture decoded in 8 s of video');
});

test('a fallback is remembered per stream and profile, and forgotten when the URL changes', () => {
  const memory = new PathMemory();
  const door = { id: 'door', url: 'rtsp://door/main' };
  assert.equal(memory.get(door, 'grid'), null);
  memory.set(door, 'full', 'mpeg1', 'this browser cannot decode H.265 (HEVC)');
  assert.equal(memory.get(door, 'grid'), null); // a sub stream may be H.264
  assert.deepEqual(memory.get(door, 'full'), { path: 'mpeg1', reason: 'this browser cannot decode H.265 (HEVC)' });
  assert.equal(memory.get({ id: 'yard', url: 'rtsp://door/main' }, 'full'), null);
  assert.equal(memory.get({ ...door, url: 'rtsp://door/h264' }, 'full'), null); // edited: try again
  assert.equal(memory.get(door, 'full'), null); // and forgotten
});
