// Unit tests of the kernel backend (node --test) against a model double that records what the page sends
// and delivers what a kernel would answer: requests settle like the REST API's (JSON, null for 204,
// ApiError with status and code), sockets open, carry data (acknowledged) and JSON frames, and close
// either way; views sharing one comm ignore each other's messages; destroy leaves nothing listening.
// The real kernel side is tested in tests/test_comm.py and, with a browser, tests/test_widget_kernel.py.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { KernelApi, toArrayBuffer } from '../src/kernel.js';
import { ApiError } from '../src/server.js';

class FakeModel {
  constructor() {
    /** @type {object[]} */
    this.sent = [];
    /** @type {Set<Function>} */
    this.listeners = new Set();
  }
  send(content) {
    this.sent.push(content);
  }
  on(event, callback) {
    assert.equal(event, 'msg:custom');
    this.listeners.add(callback);
  }
  off(event, callback) {
    assert.equal(event, 'msg:custom');
    this.listeners.delete(callback);
  }
  /** what the kernel sends */
  deliver(content, buffers = []) {
    for (const listener of [...this.listeners]) listener(content, buffers);
  }
  last(type) {
    return [...this.sent].reverse().find((m) => m.type === type);
  }
}

const STREAM = { id: 'abc123', label: 'Door', url: 'rtsp://cam/s', state: 'idle', viewers: 0, last_error: null, ws_url: '', options: {} };
const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

test('a request carries method, path and body; the answer resolves with the JSON', async () => {
  const model = new FakeModel();
  const api = new KernelApi(model);
  const answer = api.request('POST', 'streams', { url: 'rtsp://cam/s' });
  const sent = model.last('request');
  assert.deepEqual({ ...sent, id: undefined }, { type: 'request', id: undefined, method: 'POST', path: 'streams', body: { url: 'rtsp://cam/s' } });
  model.deliver({ type: 'response', id: sent.id, status: 201, body: STREAM });
  assert.deepEqual(await answer, STREAM);

  const removed = api.request('DELETE', 'streams/abc123');
  assert.equal(model.last('request').body, null);
  model.deliver({ type: 'response', id: model.last('request').id, status: 204, body: null });
  assert.equal(await removed, null);
});

test('an error answer rejects with the API error, as over HTTP', async () => {
  const model = new FakeModel();
  const api = new KernelApi(model);
  const answer = api.request('POST', 'streams', { url: 'file:///etc/passwd' });
  const body = { error: { code: 'INVALID_URL', message: 'use rtsp:// or rtsps://' } };
  model.deliver({ type: 'response', id: model.last('request').id, status: 400, body });
  await assert.rejects(answer, (error) => {
    assert.ok(error instanceof ApiError);
    assert.deepEqual([error.status, error.code, error.message], [400, 'INVALID_URL', 'use rtsp:// or rtsps://']);
    return true;
  });
  const odd = api.request('GET', 'health');
  model.deliver({ type: 'response', id: model.last('request').id, status: 500, body: 'oops' });
  await assert.rejects(odd, { status: 500, code: 'HTTP_500', message: 'the kernel answered 500' });
});

test('an aborted request rejects, and its late answer is ignored', async () => {
  const model = new FakeModel();
  const api = new KernelApi(model);
  const controller = new AbortController();
  const answer = api.request('GET', 'streams', undefined, controller.signal);
  controller.abort();
  await assert.rejects(answer, { name: 'AbortError' });
  model.deliver({ type: 'response', id: model.last('request').id, status: 200, body: [] });
  assert.equal(api.pending.size, 0);
});

test('a socket opens, delivers data as ArrayBuffer and acknowledges it, and JSON frames as text', async (t) => {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  const model = new FakeModel();
  const api = new KernelApi(model);
  const socket = api.openSocket(STREAM, 'grid');
  const open = model.last('open');
  assert.deepEqual(
    { ...open, sid: undefined },
    { type: 'open', sid: undefined, stream_id: 'abc123', profile: 'grid', codec: 'mpeg1' },
  );
  assert.equal(socket.readyState, 0);
  assert.throws(() => socket.send('{"action":"pause"}'), /not open yet/);

  const events = [];
  socket.onopen = () => events.push('open');
  socket.onmessage = (event) => events.push(event.data);
  model.deliver({ type: 'open', sid: open.sid, window: 4 * 1880 });
  assert.equal(socket.readyState, 1);

  const packets = new Uint8Array(376).fill(0x47);
  model.deliver({ type: 'data', sid: open.sid }, [new DataView(packets.buffer)]);
  model.deliver({ type: 'message', sid: open.sid, text: '{"type":"status","phase":"playing"}' });
  assert.equal(events[0], 'open');
  assert.ok(events[1] instanceof ArrayBuffer && events[1].byteLength === 376);
  assert.equal(events[2], '{"type":"status","phase":"playing"}');
  // acknowledgements are gathered: what arrived within 200 ms, or a quarter of the window at once
  model.deliver({ type: 'data', sid: open.sid }, [new ArrayBuffer(188)]);
  assert.equal(model.last('ack'), undefined);
  t.mock.timers.tick(200);
  assert.deepEqual(model.last('ack'), { type: 'ack', sid: open.sid, bytes: 564 });
  model.deliver({ type: 'data', sid: open.sid }, [new ArrayBuffer(1880)]);
  assert.deepEqual(model.sent.filter((m) => m.type === 'ack').map((m) => m.bytes), [564, 1880]);
  t.mock.timers.tick(1000);
  assert.equal(model.sent.filter((m) => m.type === 'ack').length, 2);

  socket.send('{"action":"pause"}');
  assert.deepEqual(model.last('action'), { type: 'action', sid: open.sid, text: '{"action":"pause"}' });
});

test('a socket asks for the wire codec: h264 when the page decodes it, mpeg1 by default', () => {
  const model = new FakeModel();
  const api = new KernelApi(model);
  api.openSocket(STREAM, 'full', 'h264');
  assert.equal(model.last('open').codec, 'h264');
  assert.equal(model.last('open').profile, 'full');
  api.openSocket(STREAM, 'grid');
  assert.equal(model.last('open').codec, 'mpeg1');
  api.destroy();
});

test('the kernel closes a socket: onclose with its code and reason; refused before open', async () => {
  const model = new FakeModel();
  const api = new KernelApi(model);
  const refused = api.openSocket(STREAM, 'grid');
  const closes = [];
  refused.onclose = (event) => closes.push([event.code, event.reason]);
  model.deliver({ type: 'closed', sid: model.last('open').sid, code: 4404, reason: 'no stream with this id' });
  assert.deepEqual(closes, [[4404, 'no stream with this id']]);
  assert.equal(refused.readyState, 3);
  assert.equal(api.sockets.size, 0);
  // data for a closed socket is neither delivered nor acknowledged
  model.deliver({ type: 'data', sid: model.last('open').sid }, [new ArrayBuffer(188)]);
  assert.equal(model.last('ack'), undefined);
});

test('closing a socket tells the kernel, then onclose follows', async () => {
  const model = new FakeModel();
  const api = new KernelApi(model);
  const socket = api.openSocket(STREAM, 'full');
  const sid = model.last('open').sid;
  model.deliver({ type: 'open', sid });
  const closes = [];
  socket.onclose = (event) => closes.push(event.code);
  socket.close(1000, 'closed by the viewer');
  assert.deepEqual(model.last('close'), { type: 'close', sid });
  assert.equal(socket.readyState, 2);
  await tick();
  assert.deepEqual(closes, [1000]);
  assert.equal(socket.readyState, 3);
  socket.send('{"action":"resume"}'); // ignored once closed, as by a WebSocket
  assert.equal(model.last('action'), undefined);
});

test('two views on one comm ignore each other; destroy closes sockets, fails requests, stops listening', async () => {
  const model = new FakeModel();
  const one = new KernelApi(model);
  const two = new KernelApi(model);
  const answer = one.request('GET', 'health');
  const sent = model.last('request');
  const socket = two.openSocket(STREAM, 'grid');
  model.deliver({ type: 'open', sid: model.last('open').sid });
  model.deliver({ type: 'response', id: sent.id, status: 200, body: { status: 'healthy' } });
  assert.deepEqual(await answer, { status: 'healthy' });
  assert.equal(socket.readyState, 1);
  assert.equal(one.sockets.size, 0);

  const late = two.request('GET', 'streams');
  two.destroy();
  assert.deepEqual(model.last('close'), { type: 'close', sid: socket.sid });
  await assert.rejects(late, { code: 'CLOSED' });
  assert.equal(model.listeners.size, 1);
  await assert.rejects(two.request('GET', 'streams'), { code: 'CLOSED' });
  one.destroy();
  assert.equal(model.listeners.size, 0);
});

test('buffers become ArrayBuffers of exactly their bytes', () => {
  const whole = new Uint8Array([1, 2, 3, 4]).buffer;
  assert.equal(toArrayBuffer(whole), whole);
  assert.equal(toArrayBuffer(new DataView(whole)), whole);
  assert.deepEqual([...new Uint8Array(toArrayBuffer(new DataView(whole, 1, 2)))], [2, 3]);
  assert.equal(toArrayBuffer(undefined).byteLength, 0);
});
