// Picture and byte rates over a sliding window of arrival times, for a tile's "fps · kb/s" figure.
//
// A rate is the count of pictures in the window over the time the window spans, measured from picture to
// picture, so a tile shows the stream's own rate rather than the rate at which pictures happened to be
// decoded. Pictures decoded to catch up (the keyframe cache after a join or a resume, or a backlog after
// a busy page) come in a burst faster than the stream's rate: they are not counted (`catchingUp`), and
// `reset()` starts the window again after a pause or a new socket. A view whose decoder reports how many
// pictures it has shown so far (the H.264 Worker draws the newest picture once per animation frame, and
// tells its counts a few times a second, several pictures at once) gives that total instead (`shown`).

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
    /** @type {number[]} pictures counted (or shown) so far, at those times */
    this.counts = [];
    this.counted = 0;
  }

  reset() {
    this.times = [];
    this.bytes = [];
    this.counts = [];
  }

  /**
   * One decoded picture.
   * @param {number} now          its time (ms, e.g. performance.now())
   * @param {number} totalBytes   video bytes received so far
   * @param {boolean} catchingUp  decoded from a backlog (not counted)
   */
  picture(now, totalBytes, catchingUp) {
    if (catchingUp) return;
    this.counted += 1;
    this.add(now, this.counted, totalBytes);
  }

  /**
   * The decoder's own count of the pictures it has shown so far (a total, not one picture).
   * @param {number} now
   * @param {number} totalShown
   * @param {number} totalBytes
   * @param {boolean} [catchingUp]  the decoder works through a backlog (a joined GOP): the window starts
   *   over, since a backlog is drawn at the page's animation rate, not the stream's
   */
  shown(now, totalShown, totalBytes, catchingUp = false) {
    if (catchingUp) {
      this.reset();
      return;
    }
    const n = this.counts.length;
    if (n && this.counts[n - 1] === totalShown) return; // told again with nothing new
    if (n && this.counts[n - 1] > totalShown) this.reset(); // a new decoder counts from 0
    this.add(now, totalShown, totalBytes);
  }

  /**
   * @param {number} now
   * @param {number} count
   * @param {number} totalBytes
   */
  add(now, count, totalBytes) {
    this.times.push(now);
    this.counts.push(count);
    this.bytes.push({ at: now, bytes: totalBytes });
    const oldest = now - this.windowMs;
    while (this.times.length > 2 && this.times[0] < oldest) {
      this.times.shift();
      this.counts.shift();
      this.bytes.shift();
    }
  }

  /** @returns {{fps: number, kbps: number} | null}  null until the window spans enough pictures */
  rates() {
    const n = this.times.length;
    if (n < 2) return null;
    const span = this.times[n - 1] - this.times[0];
    if (span < MIN_SPAN_MS) return null;
    const fps = ((this.counts[n - 1] - this.counts[0]) * 1000) / span;
    const kbps = ((this.bytes[n - 1].bytes - this.bytes[0].bytes) * 8) / span;
    return { fps, kbps };
  }
}
