// Feeds H.264 access units to a WebCodecs VideoDecoder and keeps it live: a picture is never shown late.
//
// Access units go to the decoder while it has at most `maxDecodeQueue` chunks waiting (its `dequeue` event
// hands over more), the rest wait here. When an IDR arrives and the decoder is behind — more than
// `maxLagUs` of pictures between the newest access unit and the newest decoded picture, or more than
// `maxBehind` chunks waiting — everything before the IDR is dropped (what the decoder holds, by closing it
// and starting a new one) and decoding goes on from the IDR, as js/src/pacer.js does for MPEG-1. A burst
// that the decoder gets through before the next IDR (the relay's cached GOP for a joining viewer) is
// decoded whole, so the newest picture shows at once.
//
// The decoder is configured from the IDR's SPS (Annex B: no `description`) once the browser says it
// supports it, and configured again when a new SPS comes. A decoder error closes the decoder: the next IDR
// starts a new one. Nothing here draws: decoded frames go to `onFrame`, which must close them.

/** @typedef {import('./tsdemux.js').AccessUnit} AccessUnit */
/** @typedef {import('./sps.js').SpsInfo} SpsInfo */

/**
 * The part of VideoDecoder this uses (a fake one in the unit tests).
 * @typedef {object} DecoderLike
 * @property {CodecState} state
 * @property {number} decodeQueueSize
 * @property {((event: Event) => void) | null} ondequeue
 * @property {(config: VideoDecoderConfig) => void} configure
 * @property {(chunk: EncodedVideoChunk) => void} decode
 * @property {() => void} close
 */

/**
 * @typedef {object} DecoderHooks
 * @property {(init: VideoDecoderInit) => DecoderLike} createDecoder
 * @property {(config: VideoDecoderConfig) => Promise<boolean>} isConfigSupported
 * @property {(data: Uint8Array, key: boolean, timestamp: number) => EncodedVideoChunk} makeChunk
 * @property {(frame: VideoFrame) => void} onFrame       a decoded picture (the callee closes it)
 * @property {(info: SpsInfo) => void} onConfigured      the decoder was configured for a stream
 * @property {(info: SpsInfo) => void} onUnsupported     the browser cannot decode this stream
 * @property {(message: string) => void} onError         the decoder failed; it restarts at the next IDR
 */

/**
 * @typedef {object} LiveDecoderOptions
 * @property {number} [maxDecodeQueue]  chunks handed to the decoder and not yet taken (decodeQueueSize)
 * @property {number} [maxBehind]       chunks waiting (here and in the decoder) that make an IDR a jump
 * @property {number} [maxLagUs]        microseconds of pictures between the newest access unit and the
 *                                      newest decoded picture that make an IDR a jump
 * @property {number} [maxQueue]        access units kept here at most (a stream that never sends an IDR)
 */

export class LiveDecoder {
  /**
   * @param {DecoderHooks} hooks
   * @param {LiveDecoderOptions} [options]
   */
  constructor(hooks, options = {}) {
    this.hooks = hooks;
    this.maxDecodeQueue = options.maxDecodeQueue ?? 3;
    this.maxBehind = options.maxBehind ?? 12;
    this.maxLagUs = options.maxLagUs ?? 500_000;
    this.maxQueue = options.maxQueue ?? 600;
    /** @type {DecoderLike | null} */
    this.decoder = null;
    /** @type {{sps: Uint8Array, info: SpsInfo} | null} what the decoder is configured for */
    this.current = null;
    /** @type {AccessUnit[]} waiting for the decoder */
    this.queue = [];
    this.waitingForKey = true;
    /** @type {Map<string, boolean>} isConfigSupported answers by codec string */
    this.support = new Map();
    this.checking = false; // an isConfigSupported answer is awaited: the queue waits
    this.generation = 0; // bumped by every reset: a late answer or frame of an older decoder is ignored
    this.submitted = 0; // chunks handed to the decoder
    this.decoded = 0; // frames the decoder returned
    this.dropped = 0; // access units dropped to stay live (or that could not be decoded)
    this.jumps = 0; // times a backlog was dropped at an IDR
    this.newestIn = -1; // highest timestamp received (µs)
    this.newestOut = -1; // highest timestamp decoded since the last reset, or the first one submitted
    this.closed = false;
  }

  /** Microseconds of pictures received but not decoded yet. */
  get lagUs() {
    return this.newestOut < 0 ? 0 : Math.max(0, this.newestIn - this.newestOut);
  }

  /** Access units waiting: here and in the decoder's queue. */
  get waiting() {
    return this.queue.length + (this.decoder ? this.decoder.decodeQueueSize : 0);
  }

  get behind() {
    return this.waiting > this.maxBehind || this.lagUs > this.maxLagUs;
  }

  /** @param {AccessUnit} unit */
  push(unit) {
    if (this.closed) return;
    this.newestIn = Math.max(this.newestIn, unit.timestamp);
    if (unit.key) {
      if (!unit.config || !unit.sps) {
        this.dropped += 1; // an IDR with no SPS seen yet: nothing to configure the decoder with
        return;
      }
      if (this.waitingForKey) {
        this.dropQueue();
      } else if (this.behind) {
        this.jumps += 1;
        this.dropQueue();
        if (this.decoder && this.decoder.decodeQueueSize > 0) this.resetDecoder();
      }
      this.waitingForKey = false;
    } else if (this.waitingForKey) {
      this.dropped += 1;
      return;
    }
    if (this.unsupported(unit)) {
      this.dropped += 1;
      this.waitingForKey = true;
      return;
    }
    this.queue.push(unit);
    if (this.queue.length > this.maxQueue) {
      this.dropQueue(); // no IDR for far too long: start again at the next
      this.waitingForKey = true;
    }
    this.pump();
  }

  /** Whether a key unit's stream is one the browser said it cannot decode. @param {AccessUnit} unit */
  unsupported(unit) {
    return unit.key && unit.config !== null && this.support.get(unit.config.codecString) === false;
  }

  /** Hands waiting access units to the decoder while its queue is short. */
  pump() {
    while (!this.closed && !this.checking && this.queue.length) {
      const unit = this.queue[0];
      if (unit.key && unit.sps && unit.config && !this.configuredFor(unit.sps)) {
        if (!this.configure(unit.sps, unit.config)) return; // waiting for isConfigSupported
      }
      const decoder = this.decoder;
      if (!decoder || decoder.state !== 'configured') {
        this.dropQueue(); // no decoder to take them (closed by an error): wait for the next IDR
        this.waitingForKey = true;
        return;
      }
      if (decoder.decodeQueueSize >= this.maxDecodeQueue) return; // `dequeue` calls pump again
      this.queue.shift();
      if (this.newestOut < 0) this.newestOut = unit.timestamp;
      try {
        decoder.decode(this.hooks.makeChunk(unit.data, unit.key, unit.timestamp));
        this.submitted += 1;
      } catch (error) {
        this.fail(error);
        return;
      }
    }
  }

  /** @param {Uint8Array} sps */
  configuredFor(sps) {
    const { current, decoder } = this;
    return current !== null && decoder !== null && decoder.state === 'configured' && sameBytes(current.sps, sps);
  }

  /**
   * Configures the decoder (a new one if it has none or it closed) for an SPS; false while the answer of
   * isConfigSupported is awaited (pump runs again when it comes).
   * @param {Uint8Array} sps
   * @param {SpsInfo} info
   * @returns {boolean}
   */
  configure(sps, info) {
    const config = configFor(info);
    const supported = this.support.get(info.codecString);
    if (supported === undefined) {
      this.checking = true;
      const generation = this.generation;
      this.hooks.isConfigSupported(config).then(
        (yes) => this.answer(generation, info, yes),
        () => this.answer(generation, info, false),
      );
      return false;
    }
    if (!supported) {
      this.dropQueue();
      this.waitingForKey = true;
      return false;
    }
    if (!this.decoder || this.decoder.state === 'closed') this.decoder = this.newDecoder();
    try {
      this.decoder.configure(config);
    } catch (error) {
      this.fail(error);
      return false;
    }
    this.current = { sps, info };
    this.hooks.onConfigured(info);
    return true;
  }

  /**
   * @param {number} generation
   * @param {SpsInfo} info
   * @param {boolean} supported
   */
  answer(generation, info, supported) {
    if (this.closed || generation !== this.generation) return;
    this.checking = false;
    this.support.set(info.codecString, supported);
    if (!supported) {
      this.dropQueue();
      this.waitingForKey = true;
      this.hooks.onUnsupported(info);
      return;
    }
    this.pump();
  }

  /** @returns {DecoderLike} */
  newDecoder() {
    const generation = this.generation;
    const decoder = this.hooks.createDecoder({
      output: (frame) => {
        if (this.closed || generation !== this.generation || decoder !== this.decoder) {
          frame.close();
          return;
        }
        this.decoded += 1;
        this.newestOut = Math.max(this.newestOut, frame.timestamp);
        this.hooks.onFrame(frame);
      },
      error: (error) => {
        if (this.closed || decoder !== this.decoder) return;
        this.fail(error);
      },
    });
    decoder.ondequeue = () => {
      if (decoder === this.decoder) this.pump();
    };
    return decoder;
  }

  /** A decoder error (or a refused chunk or config): report it, drop the decoder, wait for the next IDR. */
  fail(/** @type {unknown} */ error) {
    const decoder = this.decoder;
    this.decoder = null;
    this.current = null;
    this.generation += 1;
    this.checking = false;
    if (decoder && decoder.state !== 'closed') {
      try {
        decoder.close();
      } catch {
        // closing a decoder that just failed can throw: it is dropped either way
      }
    }
    this.dropQueue();
    this.waitingForKey = true;
    this.newestOut = -1;
    this.hooks.onError(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
  }

  /** Drops what the decoder holds (closing it: frames of its chunks still on their way are ignored); the
   * next IDR configures a new one. */
  resetDecoder() {
    this.generation += 1;
    this.checking = false;
    const decoder = this.decoder;
    this.decoder = null;
    this.current = null;
    this.newestOut = -1;
    if (decoder && decoder.state !== 'closed') {
      this.dropped += decoder.decodeQueueSize;
      decoder.close();
    }
  }

  dropQueue() {
    this.dropped += this.queue.length;
    this.queue.length = 0;
  }

  /** Forgets everything (a pause or stop; the next bytes start at the relay's keyframe cache). */
  reset() {
    this.dropQueue();
    if (this.decoder) this.resetDecoder();
    this.waitingForKey = true;
    this.newestIn = -1;
  }

  close() {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    const decoder = this.decoder;
    this.decoder = null;
    if (decoder && decoder.state !== 'closed') decoder.close();
  }
}

/**
 * The VideoDecoder config of a stream: Annex B (no `description`: SPS and PPS come in band), tuned for
 * latency, with the coded size as a hint.
 * @param {SpsInfo} info
 * @returns {VideoDecoderConfig}
 */
export function configFor(info) {
  return {
    codec: info.codecString,
    codedWidth: info.codedWidth,
    codedHeight: info.codedHeight,
    optimizeForLatency: true,
  };
}

/** @param {Uint8Array} a @param {Uint8Array} b */
function sameBytes(a, b) {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
