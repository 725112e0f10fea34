// Picture and byte rates over a sliding window of arrival times, for a tile's "fps · kb/s" figure.
//
// A rate is the count of pictures in the window over the time the window spans, measured from picture to
// picture, so a tile shows the stream's own rate rather than the rate at which pictures happened to be
// decoded. Pictures decoded to catch up (the keyframe cache after a join or a resume, or a backlog after
// a busy page) come in a burst faster than the stream's rate: they are not counted (`catchingUp`), and
// `reset()` starts the window again after a pause or a new socket.

const WINDOW_MS = 2000; // the span of pictures a rate is taken over
const MIN_SPAN_MS = 900; // no figure until the window spans this much

export class RateWindow {
  /** @param {number} [windowMs] */
  constructor(windowMs = WINDOW_MS) {
    this.windowMs = windowMs;
    /** @type {number[]} arrival times of counted pictures (ms) */
    this.times = [];
    /** @type {{at: number, bytes: number}[]} byte totals seen at those times */
    this.bytes = [];
  }

  reset() {
    this.times = [];
    this.bytes = [];
  }

  /**
   * One decoded picture.
   * @param {number} now          its time (ms, e.g. performance.now())
   * @param {number} totalBytes   video bytes received so far
   * @param {boolean} catchingUp  decoded from a backlog (not counted)
   */
  picture(now, totalBytes, catchingUp) {
    if (catchingUp) return;
    this.times.push(now);
    this.bytes.push({ at: now, bytes: totalBytes });
    const oldest = now - this.windowMs;
    while (this.times.length > 2 && this.times[0] < oldest) {
      this.times.shift();
      this.bytes.shift();
    }
  }

  /** @returns {{fps: number, kbps: number} | null}  null until the window spans enough pictures */
  rates() {
    const n = this.times.length;
    if (n < 2) return null;
    const span = this.times[n - 1] - this.times[0];
    if (span < MIN_SPAN_MS) return null;
    const fps = ((n - 1) * 1000) / span;
    const kbps = ((this.bytes[n - 1].bytes - this.bytes[0].bytes) * 8) / span;
    return { fps, kbps };
  }
}
