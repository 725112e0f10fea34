// "Record N s" and "Save last N s": a clip of the camera's own video made by the server (POST
// streams/{id}/clips; DESIGN's clips contract), followed until it is written, then downloaded. "Save last"
// needs the stream's prebuffer (`prebuffer_s`) and saves all of it; "Record" takes the next N seconds.
// Shown in the expanded view and the info panel. Over the kernel's comm the file stays where the kernel
// runs, and the view says its name.

import { button, h } from './dom.js';
import { errorText } from './dialogs.js';

const POLL_MS = 500;
const SLACK_S = 30; // past the clip's own length, how long to wait for the server to finish it

/** @typedef {import('./server.js').Backend} Backend */
/** @typedef {import('./server.js').Stream} Stream */

/**
 * @typedef {{id: string, stream_id: string, status: 'recording' | 'done' | 'failed', file: string,
 *   seconds?: number, bytes?: number, error?: string | null}} ClipJob
 */

/** @param {number} ms  @param {AbortSignal} signal */
function pause(ms, signal) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        reject(signal.reason);
      },
      { once: true },
    );
  });
}

/** The prebuffer a stream keeps (its `prebuffer_s` option), 0 when none. @param {Stream} stream */
export function prebufferOf(stream) {
  const value = Number(stream.options?.prebuffer_s ?? 0);
  return Number.isFinite(value) && value > 0 ? value : 0;
}

export class ClipControls {
  /**
   * @param {Backend} api
   * @param {Stream} stream
   * @param {number} recordSeconds  how long "Record" records
   * @param {AbortSignal} signal
   */
  constructor(api, stream, recordSeconds, signal) {
    this.api = api;
    this.stream = stream;
    this.recordSeconds = recordSeconds;
    this.signal = signal;
    this.busy = false;
    this.recordButton = button('Record', 'record', () => this.make(0, this.recordSeconds), signal);
    this.saveButton = button('Save', 'clip', () => this.make(prebufferOf(this.stream), 0), signal);
    for (const el of [this.recordButton, this.saveButton]) el.append(h('span', { class: 'rn-button-text' }));
    this.notice = h('span', { class: 'rn-notice', role: 'status' });
    this.el = h('span', { class: 'rn-clips' }, [this.recordButton, this.saveButton, this.notice]);
    this.update(stream);
  }

  /** @param {Stream} stream  its label and prebuffer may have changed */
  update(stream) {
    this.stream = stream;
    const kept = prebufferOf(stream);
    const record = `Record ${this.recordSeconds} s`;
    const save = `Save last ${kept} s`;
    this.recordButton.setAttribute('aria-label', `${record} of ${stream.label}`);
    this.recordButton.title = `${record} of ${stream.label}: the camera's own video as an MP4 download`;
    /** @type {HTMLElement} */ (this.recordButton.lastChild).textContent = record;
    this.saveButton.hidden = kept <= 0; // nothing is kept without a prebuffer (cam.update(prebuffer_s=30))
    this.saveButton.setAttribute('aria-label', `${save} of ${stream.label}`);
    this.saveButton.title = `${save} of ${stream.label}: what the prebuffer keeps, as an MP4 download`;
    /** @type {HTMLElement} */ (this.saveButton.lastChild).textContent = save;
  }

  /**
   * Asks the server for a clip, follows it, downloads it.
   * @param {number} before
   * @param {number} after
   */
  async make(before, after) {
    if (this.busy) return;
    this.busy = true;
    this.recordButton.disabled = this.saveButton.disabled = true;
    const signal = this.signal;
    try {
      const id = encodeURIComponent(this.stream.id);
      /** @type {ClipJob} */
      let job = await this.api.request('POST', `streams/${id}/clips`, { before, after }, signal);
      this.say(after ? `Recording ${job.file}…` : `Saving ${job.file}…`);
      const deadline = performance.now() + (before + after + SLACK_S) * 1000;
      while (job.status === 'recording') {
        if (performance.now() > deadline) throw new Error(`${job.file} is not finished after ${before + after + SLACK_S} s`);
        await pause(POLL_MS, signal);
        job = await this.api.request('GET', `clips/${encodeURIComponent(job.id)}`, undefined, signal);
        if (job.status === 'recording' && job.seconds) this.say(`Recording ${job.file}… ${Math.floor(job.seconds)} s`);
      }
      if (job.status !== 'done') throw new Error(job.error || `${job.file} failed`);
      if (!this.api.download) {
        this.say(`Saved ${job.file} where the kernel runs`);
      } else {
        const blob = await this.api.download(`clips/${encodeURIComponent(job.id)}/file`, signal);
        const url = URL.createObjectURL(blob);
        const link = h('a', { href: url, download: job.file, hidden: true });
        this.el.append(link);
        link.click();
        link.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60_000);
        this.say(`Saved ${job.file}`);
      }
      this.el.dataset.clips = String(Number(this.el.dataset.clips || 0) + 1);
    } catch (error) {
      if (!signal.aborted) this.say(`No clip: ${errorText(error)}`);
    } finally {
      this.busy = false;
      this.recordButton.disabled = this.saveButton.disabled = false;
    }
  }

  /** @param {string} text */
  say(text) {
    this.notice.textContent = text;
    this.notice.title = text;
  }
}
