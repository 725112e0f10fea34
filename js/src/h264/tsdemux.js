// MPEG-TS → H.264 access units, for a VideoDecoder fed from the relay's stream socket.
//
// The relay sends whole 188-byte packets (PAT and PMT first; a viewer's first video access unit is an
// IDR with SPS and PPS). The demuxer finds the video PID in the PMT (stream_type 0x1B), reassembles its
// PES packets — FFmpeg's muxer writes one access unit per PES — and yields each as Annex-B bytes with its
// PTS and whether it holds an IDR. A PES with a length ends when its bytes are in; one without (length 0:
// FFmpeg's default for video, and any PES over 64 KiB) ends when the next one starts. Until the first IDR,
// and again after a lost packet (a continuity counter gap), access units are dropped: a decoder can only
// start at an IDR.

import { NalType, nalUnits, parseSps } from './sps.js';

export { parseSps } from './sps.js';

export const PACKET = 188;
const SYNC = 0x47;
const PAT_PID = 0;

/** stream_type values of the PMT (ISO/IEC 13818-1 Table 2-34) for the video codecs a camera sends. */
export const StreamType = Object.freeze({ MPEG1: 0x01, MPEG2: 0x02, MPEG4: 0x10, H264: 0x1b, H265: 0x24 });
/** @type {Set<number>} */
const VIDEO_TYPES = new Set(Object.values(StreamType));

/** 2^33: PTS and DTS are 33-bit counters of a 90 kHz clock (they wrap after 26.5 hours). */
const PTS_WRAP = 2 ** 33;

/**
 * @typedef {object} AccessUnit
 * @property {Uint8Array} data       Annex-B bytes (start codes, AUD, SPS, PPS, slices)
 * @property {number} pts            90 kHz, unwrapped (keeps counting past 2^33)
 * @property {number} dts            90 kHz, unwrapped; the PTS when the PES has no DTS
 * @property {number} timestamp      the PTS in microseconds (EncodedVideoChunk.timestamp)
 * @property {boolean} key           holds an IDR slice (NAL unit type 5)
 * @property {Uint8Array | null} sps  the SPS NAL unit in force for a key unit (its own or the latest seen)
 * @property {import('./sps.js').SpsInfo | null} config  that SPS parsed (null: no SPS yet, or unparsable)
 */

/**
 * @typedef {object} Pes
 * @property {Uint8Array[]} parts   the PES bytes so far, from its start code
 * @property {number} size          bytes in parts
 * @property {number} expected      the whole PES's size from its length field; 0 when unbounded
 */

export class TsDemuxer {
  constructor() {
    this.pmtPid = -1;
    this.videoPid = -1;
    /** stream_type of the program's video stream: 0x1B (H.264), another video type, or -1 (no PMT yet) */
    this.streamType = -1;
    /** @type {{type: number, pid: number}[]} the elementary streams of the latest PMT */
    this.streams = [];
    /** @type {Pes | null} */
    this.pes = null;
    this.cc = -1; // continuity counter of the video PID's last packet with payload
    this.waitingForKey = true;
    this.units = 0; // access units yielded
    this.skipped = 0; // access units dropped while waiting for an IDR
    this.discontinuities = 0; // continuity counter gaps on the video PID
    /** @type {Map<number, {parts: Uint8Array[], size: number}>} PSI sections in progress, by PID */
    this.sections = new Map();
    /** @type {Uint8Array} the start of a packet cut by a chunk boundary */
    this.carry = new Uint8Array(0);
    /** @type {Uint8Array | null} */
    this.sps = null;
    /** @type {import('./sps.js').SpsInfo | null} */
    this.config = null;
    this.spsError = '';
    this.ptsOffset = 0; // added to the 33-bit PTS/DTS: multiples of 2^33 after wraps
    this.lastPts = -1;
  }

  /**
   * Demuxes TS bytes (whole packets, as the relay sends them; a packet split across calls is joined).
   * @param {Uint8Array} bytes
   * @returns {AccessUnit[]} the access units completed by these bytes
   */
  push(bytes) {
    /** @type {AccessUnit[]} */
    const out = [];
    let data = bytes;
    if (this.carry.length) {
      data = new Uint8Array(this.carry.length + bytes.length);
      data.set(this.carry);
      data.set(bytes, this.carry.length);
      this.carry = new Uint8Array(0);
    }
    let at = 0;
    while (at + PACKET <= data.length) {
      if (data[at] !== SYNC) {
        at = resync(data, at + 1);
        continue;
      }
      this.packet(data.subarray(at, at + PACKET), out);
      at += PACKET;
    }
    if (at < data.length) this.carry = data.slice(at);
    return out;
  }

  /**
   * Ends an unbounded PES in progress (at the end of a stream: nothing else will end it).
   * @returns {AccessUnit[]}
   */
  flush() {
    /** @type {AccessUnit[]} */
    const out = [];
    this.endPes(out);
    return out;
  }

  /** Forgets the access unit in progress and waits for the next IDR (a pause, or bytes dropped upstream). */
  reset() {
    this.pes = null;
    this.carry = new Uint8Array(0);
    this.cc = -1;
    this.waitingForKey = true;
  }

  /**
   * @param {Uint8Array} p  one packet
   * @param {AccessUnit[]} out
   */
  packet(p, out) {
    const pid = ((p[1] & 0x1f) << 8) | p[2];
    const unitStart = (p[1] & 0x40) !== 0;
    const control = (p[3] >> 4) & 3;
    let start = 4;
    let discontinuity = false;
    if (control & 2) {
      const length = p[4];
      if (length > 0) discontinuity = (p[5] & 0x80) !== 0;
      start = 5 + length;
    }
    if (!(control & 1) || start >= PACKET) return; // no payload
    const payload = p.subarray(start);
    if (pid === this.videoPid) {
      this.video(payload, unitStart, p[3] & 15, discontinuity, out);
    } else if (pid === PAT_PID || pid === this.pmtPid) {
      const section = this.section(pid, payload, unitStart);
      if (section && pid === PAT_PID) this.pat(section);
      else if (section) this.pmt(section, out);
    }
  }

  /**
   * @param {Uint8Array} payload
   * @param {boolean} unitStart
   * @param {number} cc
   * @param {boolean} discontinuity  the adaptation field's discontinuity_indicator
   * @param {AccessUnit[]} out
   */
  video(payload, unitStart, cc, discontinuity, out) {
    if (this.cc >= 0 && !discontinuity) {
      if (cc === this.cc) return; // a duplicate packet
      if (cc !== ((this.cc + 1) & 15)) {
        this.discontinuities += 1;
        if (this.pes) this.skipped += 1; // the unit in progress lost a packet
        this.pes = null;
        this.waitingForKey = true; // what follows may refer to the lost picture
      }
    }
    this.cc = cc;
    if (unitStart) {
      this.endPes(out);
      this.pes = { parts: [], size: 0, expected: -1 };
    } else if (!this.pes) {
      return; // the middle of a PES whose start we never saw
    }
    const pes = this.pes;
    pes.parts.push(payload);
    pes.size += payload.length;
    if (pes.expected < 0 && pes.size >= 6) {
      const head = join(pes.parts, 6);
      if (head[0] !== 0 || head[1] !== 0 || head[2] !== 1) {
        this.pes = null; // not a PES start
        return;
      }
      const length = (head[4] << 8) | head[5];
      pes.expected = length ? 6 + length : 0;
    }
    if (pes.expected > 0 && pes.size >= pes.expected) this.endPes(out);
  }

  /** Completes the PES in progress into an access unit. @param {AccessUnit[]} out */
  endPes(out) {
    const pes = this.pes;
    this.pes = null;
    if (!pes || pes.size < 9) return;
    if (pes.expected > pes.size) {
      this.skipped += 1; // cut short: the next PES started before this one's length was in
      this.waitingForKey = true;
      return;
    }
    const bytes = join(pes.parts, pes.expected > 0 ? pes.expected : pes.size);
    const flags = bytes[7];
    const payloadStart = 9 + bytes[8];
    if (payloadStart >= bytes.length) return;
    let pts = this.lastPts;
    let dts = -1;
    if (flags & 0x80 && bytes.length >= 14) pts = this.unwrap(timestamp(bytes, 9));
    if ((flags & 0xc0) === 0xc0 && bytes.length >= 19) dts = this.unwrap(timestamp(bytes, 14));
    if (pts < 0) pts = 0; // a stream whose first PES has no PTS
    this.lastPts = pts;
    const data = bytes.subarray(payloadStart);
    let key = false;
    for (const nal of nalUnits(data)) {
      if (nal.type === NalType.IDR) key = true;
      else if (nal.type === NalType.SPS) this.setSps(data.slice(nal.start, nal.end));
    }
    if (this.waitingForKey && !key) {
      this.skipped += 1;
      return;
    }
    this.waitingForKey = false;
    this.units += 1;
    out.push({
      data,
      pts,
      dts: dts >= 0 ? dts : pts,
      timestamp: Math.round((pts * 100) / 9),
      key,
      sps: key ? this.sps : null,
      config: key ? this.config : null,
    });
  }

  /** @param {Uint8Array} sps */
  setSps(sps) {
    if (this.sps && equalBytes(this.sps, sps)) return;
    this.sps = sps;
    try {
      this.config = parseSps(sps);
      this.spsError = '';
    } catch (error) {
      this.config = null;
      this.spsError = error instanceof Error ? error.message : String(error);
    }
  }

  /**
   * A 33-bit PTS or DTS made monotonic across wraps (B-frames make it step back a little; a wrap is a step
   * back of almost 2^33).
   * @param {number} raw
   */
  unwrap(raw) {
    let value = raw + this.ptsOffset;
    if (this.lastPts >= 0) {
      if (value < this.lastPts - PTS_WRAP / 2) {
        this.ptsOffset += PTS_WRAP;
        value += PTS_WRAP;
      } else if (value > this.lastPts + PTS_WRAP / 2 && this.ptsOffset >= PTS_WRAP) {
        value -= PTS_WRAP; // a B-frame from before the wrap
      }
    }
    return value;
  }

  /**
   * PSI section reassembly (sections may span packets); returns a whole section once complete.
   * @param {number} pid
   * @param {Uint8Array} payload
   * @param {boolean} unitStart
   * @returns {Uint8Array | null}
   */
  section(pid, payload, unitStart) {
    let partial = this.sections.get(pid);
    if (unitStart) {
      const pointer = payload[0];
      if (1 + pointer >= payload.length) return null;
      partial = { parts: [payload.subarray(1 + pointer)], size: payload.length - 1 - pointer };
      this.sections.set(pid, partial);
    } else if (partial) {
      partial.parts.push(payload);
      partial.size += payload.length;
    } else {
      return null;
    }
    if (partial.size < 3) return null;
    const head = join(partial.parts, 3);
    const length = 3 + (((head[1] & 0x0f) << 8) | head[2]);
    if (partial.size < length) return null;
    this.sections.delete(pid);
    return join(partial.parts, length);
  }

  /** @param {Uint8Array} s  a program_association_section */
  pat(s) {
    if (s[0] !== 0x00) return;
    for (let i = 8; i + 4 <= s.length - 4; i += 4) {
      const program = (s[i] << 8) | s[i + 1];
      if (program === 0) continue; // the network PID
      const pid = ((s[i + 2] & 0x1f) << 8) | s[i + 3];
      if (pid !== this.pmtPid) {
        this.pmtPid = pid;
        this.sections.delete(pid);
      }
      return;
    }
  }

  /**
   * @param {Uint8Array} s  a TS_program_map_section
   * @param {AccessUnit[]} out
   */
  pmt(s, out) {
    if (s[0] !== 0x02) return;
    const programInfo = ((s[10] & 0x0f) << 8) | s[11];
    /** @type {{type: number, pid: number}[]} */
    const streams = [];
    for (let i = 12 + programInfo; i + 5 <= s.length - 4; ) {
      streams.push({ type: s[i], pid: ((s[i + 1] & 0x1f) << 8) | s[i + 2] });
      i += 5 + (((s[i + 3] & 0x0f) << 8) | s[i + 4]);
    }
    this.streams = streams;
    const video = streams.find((e) => e.type === StreamType.H264) ?? streams.find((e) => VIDEO_TYPES.has(e.type));
    this.streamType = video ? video.type : -1;
    const pid = video && video.type === StreamType.H264 ? video.pid : -1;
    if (pid !== this.videoPid) {
      this.endPes(out);
      this.videoPid = pid;
      this.cc = -1;
      this.waitingForKey = true;
    }
  }
}

/** The next offset at or after `from` where two packets in a row start with the sync byte. */
function resync(/** @type {Uint8Array} */ data, /** @type {number} */ from) {
  for (let i = from; i + PACKET <= data.length; i++) {
    if (data[i] === SYNC && (i + PACKET >= data.length || data[i + PACKET] === SYNC)) return i;
  }
  return Math.max(from, data.length - PACKET + 1); // keep the tail: it may start a packet
}

/**
 * The first `n` bytes of `parts`, joined (a view when the first part holds them).
 * @param {Uint8Array[]} parts
 * @param {number} n
 */
function join(parts, n) {
  if (parts[0].length >= n) return parts[0].subarray(0, n);
  const out = new Uint8Array(n);
  let at = 0;
  for (const part of parts) {
    if (at >= n) break;
    const take = Math.min(part.length, n - at);
    out.set(part.subarray(0, take), at);
    at += take;
  }
  return out;
}

/** A 33-bit PTS/DTS at `i` (5 bytes with marker bits). @param {Uint8Array} b @param {number} i */
function timestamp(b, i) {
  return (
    ((b[i] >> 1) & 0x07) * 2 ** 30 + ((b[i + 1] << 7) | (b[i + 2] >> 1)) * 2 ** 15 + ((b[i + 3] << 7) | (b[i + 4] >> 1))
  );
}

/** @param {Uint8Array} a @param {Uint8Array} b */
function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
