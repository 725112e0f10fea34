// Unit tests of the tile's rate window (node --test): a steady stream gives its own rate, a catch-up
// burst after a resume does not inflate it, and a reset starts over.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { RateWindow } from '../src/rate.js';

test('a steady 15 fps stream reads 15 fps and its bit rate', () => {
  const window = new RateWindow();
  for (let i = 0; i <= 45; i += 1) window.picture(i * (1000 / 15), i * 1000, false);
  const rates = window.rates();
  assert.ok(rates);
  assert.ok(Math.abs(rates.fps - 15) < 0.01, String(rates.fps));
  assert.ok(Math.abs(rates.kbps - 120) < 0.5, String(rates.kbps)); // 1000 bytes a picture at 15/s
});

test('no figure before the window spans enough pictures', () => {
  const window = new RateWindow();
  window.picture(0, 0, false);
  window.picture(66, 100, false);
  assert.equal(window.rates(), null);
});

test('a catch-up burst after a resume is not counted', () => {
  const window = new RateWindow();
  // the keyframe cache: 25 pictures decoded within 100 ms
  for (let i = 0; i < 25; i += 1) window.picture(i * 4, i * 500, true);
  for (let i = 0; i <= 30; i += 1) window.picture(100 + i * (1000 / 15), 20000 + i * 500, false);
  const rates = window.rates();
  assert.ok(rates && Math.abs(rates.fps - 15) < 0.01, JSON.stringify(rates));
});

test('reset starts over', () => {
  const window = new RateWindow();
  for (let i = 0; i <= 30; i += 1) window.picture(i * 40, 0, false);
  window.reset();
  assert.equal(window.rates(), null);
});

test('a decoder that counts what it drew: several pictures a report still read their rate', () => {
  // the H.264 Worker reports its drawn total every 200 ms on a busy page: 5 pictures a report (25 fps)
  const window = new RateWindow();
  for (let i = 0; i <= 15; i += 1) {
    for (let k = 0; k < 5; k += 1) window.shown(i * 200, i * 5, i * 50000); // told once per picture
  }
  const rates = window.rates();
  assert.ok(rates && Math.abs(rates.fps - 25) < 0.01, JSON.stringify(rates));
  assert.ok(Math.abs(rates.kbps - 2000) < 0.5, String(rates.kbps)); // 50 kB every 200 ms
});

test("a decoder's backlog starts the window over: a joined GOP drawn at 60 Hz is not the stream's rate", () => {
  const window = new RateWindow();
  for (let i = 0; i < 10; i += 1) window.shown(i * 16, i, i * 1000, true); // catch-up at the animation rate
  for (let i = 1; i <= 30; i += 1) window.shown(160 + i * 40, 10 + i, 10000 + i * 1000); // then 25 fps
  const rates = window.rates();
  assert.ok(rates && Math.abs(rates.fps - 25) < 0.01, JSON.stringify(rates));
});
