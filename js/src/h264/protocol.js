// The messages between H264Player (the page) and its Worker. Types only.

/**
 * @typedef {object} WorkerOptions
 * @property {number} [maxLagMs]     see LiveDecoderOptions.maxLagUs
 * @property {number} [maxBehind]    see LiveDecoderOptions.maxBehind
 */

/**
 * Page → Worker. `init` comes first and once; `data` transfers its buffer (whole TS packets);
 * `reset` forgets what is queued and waits for the next IDR (the stream was paused or stopped); `fit` is
 * the box the canvas is shown in (device pixels; 0 by 0: no box): pictures are drawn no larger than it;
 * `snapshot` asks for a JPEG of the picture shown (answered by a `snapshot` with the same id).
 * @typedef {{type: 'init', canvas: OffscreenCanvas, options: WorkerOptions}
 *   | {type: 'data', buffer: ArrayBuffer}
 *   | {type: 'fit', width: number, height: number}
 *   | {type: 'snapshot', id: number}
 *   | {type: 'reset'}} ToWorker
 */

/**
 * What the SPS says about the stream the decoder was configured for.
 * @typedef {object} StreamInfo
 * @property {string} codecString   e.g. 'avc1.64001f'
 * @property {number} width         the picture, after the SPS's cropping
 * @property {number} height
 * @property {number} profileIdc
 * @property {number} levelIdc
 */

/**
 * Counters since the Worker started (sent at most once per animation frame, when one changed).
 * @typedef {object} WorkerStats
 * @property {number} units     access units demuxed
 * @property {number} decoded   pictures decoded
 * @property {number} drawn     pictures drawn (at most one per animation frame: the newest)
 * @property {number} dropped   access units dropped: before the first IDR, after a lost packet, to catch up
 * @property {number} jumps     times a backlog was dropped at an IDR
 * @property {number} waiting   access units waiting to be decoded
 * @property {number} lagMs     the newest access unit's PTS minus the newest decoded picture's
 * @property {number} drawnTimestamp  the drawn picture's timestamp (µs; -1 before the first)
 */

/**
 * Worker → page. `ready` once the Worker runs; `info` when the decoder is configured for a stream (again
 * after a new SPS); `unsupported` when the browser cannot decode it (or it is not H.264); `error` for a
 * decoder error (decoding restarts at the next IDR).
 * @typedef {{type: 'ready'}
 *   | {type: 'info', info: StreamInfo}
 *   | {type: 'stats', stats: WorkerStats}
 *   | {type: 'unsupported', codecString: string, message: string}
 *   | {type: 'snapshot', id: number, blob: Blob | null, message: string}
 *   | {type: 'error', message: string}} FromWorker
 */

export {};
