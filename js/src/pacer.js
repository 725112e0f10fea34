// Keeps the decoder live: MPEG-TS goes to JSMpeg no faster than it decodes, and when pictures pile up
// (a busy page, a hidden tab, a slow machine) the backlog is dropped at the next I-frame, so latency
// never grows over a long session.
//
// The relay sends whole 188-byte packets. A video PES (stream id 0xE0-0xEF) starting in a packet is
// one MPEG-1 picture (FFmpeg writes one picture per PES); its picture header tells I from P/B.

const PACKET = 188;

/**
 * @typedef {object} PictureStart
 * @property {number} offset  byte offset of the packet that starts the picture's PES
 * @property {boolean} intra  an I-frame (or a picture preceded by a sequence header)
 */

/**
 * Where video pictures start in `bytes` (whole TS packets).
 * @param {Uint8Array} bytes
 * @returns {PictureStart[]}
 */
export function pictureStarts(bytes) {
  /** @type {PictureStart[]} */
  const starts = [];
  for (let at = 0; at + PACKET <= bytes.length; at += PACKET) {
    if (bytes[at] !== 0x47 || !(bytes[at + 1] & 0x40)) continue; // not a payload unit start
    const control = (bytes[at + 3] >> 4) & 3;
    if (!(control & 1)) continue; // no payload
    let p = at + 4 + (control & 2 ? 1 + bytes[at + 4] : 0);
    const end = at + PACKET;
    if (p + 9 > end || bytes[p] !== 0 || bytes[p + 1] !== 0 || bytes[p + 2] !== 1) continue;
    if ((bytes[p + 3] & 0xf0) !== 0xe0) continue; // not video
    p += 9 + bytes[p + 8]; // PES header
    let intra = false;
    for (let i = p; i + 5 < end; i++) {
      if (bytes[i] !== 0 || bytes[i + 1] !== 0 || bytes[i + 2] !== 1) continue;
      if (bytes[i + 3] === 0xb3) intra = true; // sequence header: FFmpeg writes it before I-frames
      if (bytes[i + 3] === 0x00) {
        intra = ((bytes[i + 5] >> 3) & 7) === 1;
        break;
      }
    }
    starts.push({ offset: at, intra });
  }
  return starts;
}

export class Pacer {
  /**
   * @param {(bytes: Uint8Array) => void} write  hands bytes to the demuxer
   * @param {{maxPending?: number, maxLag?: number}} [options]
   *   maxPending: pictures handed to the decoder and not yet decoded;
   *   maxLag: pictures behind (pending + queued) before the backlog is dropped at an I-frame
   */
  constructor(write, options = {}) {
    this.write = write;
    this.maxPending = options.maxPending ?? 2;
    this.maxLag = options.maxLag ?? 8;
    /** @type {{parts: Uint8Array[], intra: boolean}[]} whole pictures not yet written */
    this.queue = [];
    this.written = 0; // pictures whose PES start went to the demuxer
    this.decoded = 0;
    this.dropped = 0; // pictures skipped to catch up
  }

  /** Pictures waiting: handed over but not decoded (JSMpeg holds the last PES until the next starts), plus queued. */
  get lag() {
    return Math.max(0, this.written - 1 - this.decoded) + this.queue.length;
  }

  /** @param {Uint8Array} bytes whole TS packets */
  push(bytes) {
    const starts = pictureStarts(bytes);
    const head = starts.length ? starts[0].offset : bytes.length;
    if (head > 0) {
      const rest = bytes.subarray(0, head); // the end of the picture in progress
      if (this.queue.length) this.queue[this.queue.length - 1].parts.push(rest);
      else this.write(rest);
    }
    starts.forEach((start, i) => {
      const next = i + 1 < starts.length ? starts[i + 1].offset : bytes.length;
      if (start.intra && this.lag >= this.maxLag) {
        this.dropped += this.queue.length;
        this.queue.length = 0; // jump to this I-frame: the decoder has only whole pictures before it
      }
      this.queue.push({ parts: [bytes.subarray(start.offset, next)], intra: start.intra });
    });
    this.flush();
  }

  /** The decoder finished a picture. */
  onDecoded() {
    this.decoded += 1;
    this.flush();
  }

  flush() {
    while (this.queue.length && Math.max(0, this.written - 1 - this.decoded) < this.maxPending) {
      const picture = /** @type {{parts: Uint8Array[]}} */ (this.queue.shift());
      this.written += 1;
      for (const part of picture.parts) this.write(part);
    }
  }

  /** Forget everything queued (pause, stop): the next data starts at the relay's keyframe cache. */
  reset() {
    this.queue.length = 0;
    // A picture cut short by the pause may never decode; count from here so the gate never sticks.
    this.written = this.decoded;
  }
}
