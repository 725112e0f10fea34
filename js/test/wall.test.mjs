// Unit tests of the wall's shape (node --test): rows x columns that keep every tile on the screen.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { wallShape } from '../src/wall.js';

test('nine 16:9 cameras on a 1920x1080 screen are 3 by 3, the full width', () => {
  const shape = wallShape(9, 1920, 1080, { gap: 0 });
  assert.deepEqual([shape.columns, shape.rows], [3, 3]);
  assert.equal(Math.round(shape.tileWidth), 640);
  assert.equal(Math.round(shape.tileHeight), 360);
});

test('the shape keeps every tile on the screen, gaps included', () => {
  for (const count of [1, 2, 3, 4, 5, 7, 12, 16, 25, 64]) {
    for (const [width, height] of [[1920, 1080], [1280, 800], [420, 900], [3840, 1600]]) {
      const s = wallShape(count, width, height, { gap: 4 });
      assert.ok(s.columns * s.rows >= count, `${count} in ${s.columns}x${s.rows}`);
      assert.ok(s.columns * s.tileWidth + (s.columns - 1) * 4 <= width + 0.01, `${count} fit ${width} wide`);
      assert.ok(s.rows * s.tileHeight + (s.rows - 1) * 4 <= height + 0.01, `${count} fit ${height} high`);
    }
  }
});

test('a tall screen stacks cameras; a wide one lines them up', () => {
  assert.deepEqual([wallShape(2, 420, 900).columns, wallShape(2, 3840, 1080).columns], [1, 2]);
});

test('fixed columns are kept (no more than there are tiles)', () => {
  assert.deepEqual([wallShape(8, 1920, 1080, { columns: 2 }).rows, wallShape(2, 1920, 1080, { columns: 5 }).columns], [4, 2]);
});
