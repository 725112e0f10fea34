// An init script (it runs in every page of the bench before the page's own scripts, as an expression):
// wraps Worker and WebSocket to record, in page time, each stream socket (its stream id, codec, creation,
// first video bytes, bytes) and each H264Player's Worker (the stream it plays, its last counters: decoded,
// drawn, dropped, lagMs; when it first drew). The widget's H264Player makes its Worker and then, in the
// same call, its socket: a Worker belongs to the next stream socket opened with codec=h264.
(() => {
  const rec = { sockets: [], workers: [] };
  window.__rnWire = rec;
  let pending = null; // a new H264Player's Worker, until its socket is opened
  const NativeWorker = window.Worker;
  if (NativeWorker) {
    window.Worker = class extends NativeWorker {
      constructor(url, options) {
        super(url, options);
        if (!options || options.name !== 'rtsp-notebook h264') return;
        const w = { stream: null, created: performance.now(), stats: null, at: null, firstDrawn: null, closed: false };
        rec.workers.push(w);
        pending = w;
        this.addEventListener('message', (event) => {
          const m = event.data;
          if (!m || m.type !== 'stats') return;
          w.stats = m.stats;
          w.at = performance.now();
          if (w.firstDrawn === null && m.stats.drawn > 0) w.firstDrawn = w.at;
        });
        const terminate = this.terminate.bind(this);
        this.terminate = () => {
          w.closed = true;
          terminate();
        };
      }
    };
  }
  const NativeSocket = window.WebSocket;
  window.WebSocket = class extends NativeSocket {
    constructor(url, protocols) {
      super(url, protocols);
      const u = new URL(String(url), location.href);
      if (!u.pathname.includes('/rtsp/ws/stream')) return;
      const s = {
        stream: u.searchParams.get('id'),
        codec: u.searchParams.get('codec') || 'mpeg1',
        created: performance.now(),
        firstBytes: null,
        bytes: 0,
        messages: 0, // binary messages (each one a postMessage to the tile's Worker)
        closed: false,
      };
      rec.sockets.push(s);
      if (s.codec === 'h264' && pending) {
        pending.stream = s.stream;
        pending = null;
      }
      this.addEventListener('message', (event) => {
        if (typeof event.data === 'string') return;
        if (s.firstBytes === null) s.firstBytes = performance.now();
        s.bytes += event.data.byteLength !== undefined ? event.data.byteLength : event.data.size;
        s.messages += 1;
      });
      this.addEventListener('close', () => { s.closed = true; });
    }
  };
})();
