// The H.264 TS demuxer and SPS parser (node --test) on MPEG-TS that the project's FFmpeg (imageio-ffmpeg's,
// with libx264) encodes at test time: codec strings, picture sizes, key flags and access unit counts are
// checked against what x264 and FFmpeg print about the same stream.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { BitReader, nalUnits, parseSps, rbsp } from '../src/h264/sps.js';
import { PACKET, TsDemuxer } from '../src/h264/tsdemux.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const REQUIRED = process.env.RTSP_NOTEBOOK_REQUIRE_CAMERA === '1';
const FRAME_90K = 3600; // 25 fps

/** imageio-ffmpeg's FFmpeg (IMAGEIO_FFMPEG_EXE, else asked from the project's venv or python3), or null. */
function findFfmpeg() {
  if (process.env.IMAGEIO_FFMPEG_EXE) return process.env.IMAGEIO_FFMPEG_EXE;
  for (const python of [path.join(ROOT, '.venv', 'bin', 'python'), 'python3']) {
    const found = spawnSync(python, ['-c', 'import imageio_ffmpeg; print(imageio_ffmpeg.get_ffmpeg_exe())'], {
      encoding: 'utf8',
    });
    if (found.status === 0 && found.stdout.trim()) return found.stdout.trim();
  }
  return null;
}

const FFMPEG = findFfmpeg();
const HAS_X264 =
  FFMPEG !== null && / libx264 /.test(spawnSync(FFMPEG, ['-hide_banner', '-encoders'], { encoding: 'utf8' }).stdout);
if (REQUIRED && !HAS_X264) throw new Error(`FFmpeg with libx264 is required but not found (FFmpeg: ${FFMPEG})`);
const skip = HAS_X264 ? false : 'no FFmpeg with libx264 (pip install imageio-ffmpeg)';

const TMP = mkdtempSync(path.join(tmpdir(), 'h264-demux-'));
after(() => rmSync(TMP, { recursive: true, force: true }));

/** x264's profile names → profile_idc */
const PROFILES = {
  'Constrained Baseline': 66,
  Baseline: 66,
  Main: 77,
  High: 100,
  'High 4:2:2': 122,
  'High 4:4:4 Predictive': 244,
};

let encoded = 0;

/**
 * Encodes `frames` pictures of testsrc2 at `size` (25 fps) into MPEG-TS with libx264 and `args`.
 * @returns {{ts: Uint8Array, profileIdc: number, levelIdc: number, width: number, height: number}}
 *   the bytes, x264's profile and level, and the size FFmpeg reads back from the file
 */
function encode(size, frames, args) {
  const file = path.join(TMP, `${++encoded}.ts`);
  const made = spawnSync(
    FFMPEG,
    ['-hide_banner', '-nostdin', '-f', 'lavfi', '-i', `testsrc2=size=${size}:rate=25`, '-frames:v', String(frames),
      '-c:v', 'libx264', ...args, '-f', 'mpegts', '-y', file],
    { encoding: 'utf8' },
  );
  assert.equal(made.status, 0, made.stderr);
  const x264 = /\[libx264 @ \w+\] profile ([^,]+), level (\d)\.?(\d)?,/.exec(made.stderr);
  assert.ok(x264, `no profile line in x264's log:\n${made.stderr}`);
  const probe = spawnSync(FFMPEG, ['-hide_banner', '-nostdin', '-i', file], { encoding: 'utf8' });
  const video = /Video: h264 \(([^)]+)\).*?, (\d+)x(\d+)/.exec(probe.stderr);
  assert.ok(video, `FFmpeg does not read back an H.264 stream:\n${probe.stderr}`);
  assert.equal(video[1], x264[1]);
  return {
    ts: new Uint8Array(readFileSync(file)),
    profileIdc: PROFILES[/** @type {keyof PROFILES} */ (x264[1])],
    levelIdc: Number(x264[2]) * 10 + Number(x264[3] ?? 0),
    width: Number(video[2]),
    height: Number(video[3]),
  };
}

/** Every access unit of `ts`, fed in chunks of `chunk` bytes (default: all at once). */
function demux(ts, chunk = ts.length) {
  const demuxer = new TsDemuxer();
  const units = [];
  for (let at = 0; at < ts.length; at += chunk) units.push(...demuxer.push(ts.subarray(at, at + chunk)));
  units.push(...demuxer.flush());
  return { units, demuxer };
}

/** Indices of the key units. */
const keys = (units) => units.flatMap((unit, i) => (unit.key ? [i] : []));

/** PTS sorted: the frames of a 25 fps stream, one every 3600 ticks. */
function assertEvenlySpaced(units) {
  const pts = units.map((u) => u.pts).sort((a, b) => a - b);
  for (let i = 1; i < pts.length; i++) assert.equal(pts[i] - pts[i - 1], FRAME_90K, `PTS step at ${i}`);
  for (const unit of units) assert.equal(unit.timestamp, Math.round((unit.pts * 100) / 9));
}

/** The SPS info is what x264 and FFmpeg say, and its codec string is avc1.PPCCLL. */
function assertConfig(config, stream, constraints) {
  assert.equal(config.profileIdc, stream.profileIdc);
  assert.equal(config.levelIdc, stream.levelIdc);
  assert.equal(config.width, stream.width);
  assert.equal(config.height, stream.height);
  const hex = (v) => v.toString(16).padStart(2, '0');
  assert.equal(config.codecString, `avc1.${hex(stream.profileIdc)}${constraints}${hex(stream.levelIdc)}`);
}

test('baseline 640x360: one access unit per frame, an IDR every 25', { skip }, () => {
  const stream = encode('640x360', 60, ['-preset', 'ultrafast', '-profile:v', 'baseline', '-g', '25',
    '-sc_threshold', '0', '-tune', 'zerolatency']);
  const { units, demuxer } = demux(stream.ts);
  assert.equal(units.length, 60);
  assert.deepEqual(keys(units), [0, 25, 50]);
  assertEvenlySpaced(units);
  for (const unit of units) assert.equal(unit.dts, unit.pts); // no B-frames: no DTS
  assertConfig(units[0].config, stream, 'c0'); // Constrained Baseline: constraint_set0 and set1
  assert.equal(units[0].config.codecString, 'avc1.42c01e');
  assert.deepEqual(demuxer.streams, [{ type: 0x1b, pid: 0x100 }]);
  assert.equal(demuxer.skipped, 0);
  // a key unit holds AUD, SPS, PPS and the IDR's slices (x264's sliced threads: one or more), in Annex B
  const types = nalUnits(units[0].data).map((n) => n.type).filter((t) => t !== 6); // without SEI
  assert.deepEqual(types.slice(0, 4), [9, 7, 8, 5]);
  assert.ok(types.slice(4).every((t) => t === 5), String(types));
  assert.equal(units[0].sps[0] & 0x1f, 7);
  assert.equal(units[1].sps, null);
});

test('high profile 1280x720', { skip }, () => {
  const stream = encode('1280x720', 30, ['-preset', 'veryfast', '-profile:v', 'high', '-g', '25', '-bf', '0']);
  const { units } = demux(stream.ts);
  assert.equal(units.length, 30);
  assertConfig(units[0].config, stream, '00');
  assert.equal(units[0].config.codecString, 'avc1.64001f');
  assert.deepEqual([units[0].config.codedWidth, units[0].config.codedHeight], [1280, 720]);
});

test('an odd size (854x480): the SPS crops the coded 864 to 854', { skip }, () => {
  const stream = encode('854x480', 10, ['-preset', 'veryfast', '-profile:v', 'high']);
  const { units } = demux(stream.ts);
  assert.equal(units.length, 10);
  assertConfig(units[0].config, stream, '00');
  assert.equal(units[0].config.codedWidth, 864);
});

test('cropping in other chroma formats and interlaced coding, and scaling lists', { skip }, () => {
  const cases = [
    ['854x482', ['-pix_fmt', 'yuv444p'], 244, 1], // crop units of 1 luma sample (4:4:4)
    ['854x482', ['-pix_fmt', 'yuv422p'], 122, 2], // 2 across, 1 down (4:2:2)
    ['640x360', ['-x264-params', 'interlaced=1'], 100, 1], // field pairs: crop rows count double
    ['640x360', ['-x264-params', 'cqm=jvt'], 100, 1], // SPS scaling lists (8 of them) to skip over
  ];
  for (const [size, args, profile] of cases) {
    const stream = encode(size, 5, ['-preset', 'veryfast', ...args]);
    const { units } = demux(stream.ts);
    assert.equal(units.length, 5, args.join(' '));
    assert.equal(stream.profileIdc, profile);
    assertConfig(units[0].config, stream, '00');
  }
});

test('B-frames: access units in decode order, PTS out of order, DTS in order', { skip }, () => {
  const stream = encode('640x360', 75, ['-preset', 'veryfast', '-profile:v', 'high', '-bf', '2', '-g', '25',
    '-sc_threshold', '0']);
  const { units } = demux(stream.ts);
  assert.equal(units.length, 75);
  assert.equal(keys(units).length, 3);
  assert.ok(units[0].key);
  assertEvenlySpaced(units);
  const reordered = units.some((unit, i) => i > 0 && unit.pts < units[i - 1].pts);
  assert.ok(reordered, 'B-frames come after the picture they precede');
  for (let i = 1; i < units.length; i++) assert.ok(units[i].dts > units[i - 1].dts);
  for (const unit of units) assert.ok(unit.dts <= unit.pts);
});

test('a 10 s GOP, and a stream that starts in the middle of one', { skip }, () => {
  const stream = encode('640x360', 300, ['-preset', 'ultrafast', '-g', '250', '-sc_threshold', '0']);
  const whole = demux(stream.ts).units;
  assert.equal(whole.length, 300);
  assert.deepEqual(keys(whole), [0, 250]);
  // from a packet 30 % in (no PAT/PMT yet: FFmpeg repeats them), everything before the next IDR is dropped
  const from = Math.floor((stream.ts.length * 0.3) / PACKET) * PACKET;
  const { units, demuxer } = demux(stream.ts.subarray(from));
  assert.equal(units.length, 50);
  assert.ok(units[0].key);
  assert.equal(units[0].pts, whole[250].pts);
  assert.ok(demuxer.skipped > 100, `skipped ${demuxer.skipped}`);
});

test('any chunking gives the same access units (packets split across pushes are joined)', { skip }, () => {
  const stream = encode('640x360', 30, ['-preset', 'ultrafast', '-g', '10', '-bf', '2']);
  const summary = (units) => units.map((u) => [u.pts, u.dts, u.key, u.data.length, u.data[u.data.length - 1]]);
  const whole = summary(demux(stream.ts).units);
  assert.equal(whole.length, 30);
  for (const chunk of [PACKET, 7 * PACKET, 1000, 65_536]) {
    assert.deepEqual(summary(demux(stream.ts, chunk).units), whole, `chunks of ${chunk}`);
  }
});

test('a PES with a length ends at its last packet; one without waits for the next PES', { skip }, () => {
  const args = ['-preset', 'ultrafast', '-g', '25', '-tune', 'zerolatency'];
  for (const [extra, bounded] of [[['-omit_video_pes_length', '0'], true], [[], false]]) {
    const { ts } = encode('320x180', 10, [...args, ...extra]);
    const demuxer = new TsDemuxer();
    let count = 0;
    for (let at = 0; at < ts.length; at += PACKET) count += demuxer.push(ts.subarray(at, at + PACKET)).length;
    // the last unit: complete once its bytes are in when its PES has a length, else only at the end
    assert.equal(count, bounded ? 10 : 9, extra.join(' ') || 'default (unbounded video PES)');
    assert.equal(demuxer.flush().length, bounded ? 0 : 1);
  }
});

test('a lost packet drops the picture it was in and everything up to the next IDR', { skip }, () => {
  const stream = encode('640x360', 50, ['-preset', 'ultrafast', '-g', '25', '-sc_threshold', '0']);
  const whole = demux(stream.ts).units;
  // a video packet in the middle of the 10th access unit
  const packets = [];
  for (let at = 0; at < stream.ts.length; at += PACKET) packets.push(stream.ts.subarray(at, at + PACKET));
  const demuxer = new TsDemuxer();
  let lost = -1;
  for (let i = 0, units = 0; i < packets.length && lost < 0; i++) {
    units += demuxer.push(packets[i]).length;
    const video = ((packets[i][1] & 0x1f) << 8) | packets[i][2];
    if (units === 10 && video === 0x100 && !(packets[i][1] & 0x40)) lost = i;
  }
  const cut = new Uint8Array((packets.length - 1) * PACKET);
  packets.filter((_, i) => i !== lost).forEach((p, i) => cut.set(p, i * PACKET));
  const result = demux(cut);
  assert.equal(result.demuxer.discontinuities, 1);
  assert.deepEqual(result.units.map((u) => u.pts), [...whole.slice(0, 10), ...whole.slice(25)].map((u) => u.pts));
});

test('PTS keeps counting across the 33-bit wrap', { skip }, () => {
  // FFmpeg writes PTS modulo 2^33: with this offset the wrap falls about 0.3 s into the stream
  const wrapAt = 2 ** 33 / 90_000;
  const stream = encode('320x180', 20, ['-preset', 'ultrafast', '-bf', '2', '-output_ts_offset',
    String(wrapAt - 1.4 - 0.3)]);
  const { units } = demux(stream.ts);
  assert.equal(units.length, 20);
  assert.ok(units[0].pts < 2 ** 33 && Math.max(...units.map((u) => u.pts)) >= 2 ** 33, 'crosses the wrap');
  assertEvenlySpaced(units);
});

test('exp-Golomb codes, emulation prevention bytes and start codes', () => {
  // ue: 1 → 0, 010 → 1, 011 → 2, 00100 → 3, 00111 → 6; se: 010 → +1, 011 → -1
  const r = new BitReader(new Uint8Array([0b10100110, 0b01000011, 0b10100110]));
  assert.deepEqual([r.ue(), r.ue(), r.ue(), r.ue(), r.ue(), r.se(), r.se()], [0, 1, 2, 3, 6, 1, -1]);
  assert.throws(() => new BitReader(new Uint8Array([0])).ue(), RangeError);
  assert.deepEqual([...rbsp(new Uint8Array([0x67, 0, 0, 3, 1, 0, 0, 3, 0, 3]))], [0, 0, 1, 0, 0, 0, 3]);
  const annexB = new Uint8Array([0, 0, 0, 1, 0x09, 0xf0, 0, 0, 1, 0x67, 0x42, 0, 0, 0, 1, 0x65, 0x88]);
  assert.deepEqual(nalUnits(annexB), [
    { type: 9, start: 4, end: 6 },
    { type: 7, start: 9, end: 11 },
    { type: 5, start: 15, end: 17 },
  ]);
  assert.throws(() => parseSps(new Uint8Array([0x68, 0xce])), /not an SPS: NAL unit type 8/);
  assert.throws(() => parseSps(new Uint8Array([0x67, 0x64])), /SPS ends early/);
});
