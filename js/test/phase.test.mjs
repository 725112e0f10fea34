// Unit tests of the phase names (node --test): one frozen object, the wire names the server sends,
// and an unknown phase from a newer server shown as connecting.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Phase, phaseOf } from '../src/phase.js';

test('the phases are the wire names, in one frozen object', () => {
  assert.deepEqual(Object.values(Phase), [
    'connecting',
    'playing',
    'paused',
    'reconnecting',
    'stopped',
    'ended',
    'error',
    'offline',
  ]);
  assert.ok(Object.isFrozen(Phase));
  assert.throws(() => {
    Phase.PLAYING = 'live'; // modules are strict: a frozen object throws
  }, TypeError);
});

test('phaseOf keeps a known phase and reads an unknown one as connecting', () => {
  for (const name of Object.values(Phase)) assert.equal(phaseOf(name), name);
  assert.equal(phaseOf('idle'), Phase.CONNECTING);
  assert.equal(phaseOf(''), Phase.CONNECTING);
  assert.equal(phaseOf('PLAYING'), Phase.CONNECTING);
});
