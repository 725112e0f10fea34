// "Record N s" and "Save last N s": a clip of the camera's own video made by the server (POST
// streams/{id}/clips; DESIGN's clips contract), followed until it is written, then downloaded. "Save last"
// needs the stream's prebuffer (`prebuffer_s`) and saves all of it; "Record" takes the next N seconds, and
// while it records it is "Stop recording" (POST clips/{id}/stop: the clip ends with what it wrote). A view
// closed while a clip records stops it too; the file stays in the server's clips folder.
// Shown in the expanded view and the info panel. Over the kernel's comm the file stays where the kernel
// runs, and the view says its name.

import { button, h } from './dom.js';
import { icon } from './icons.js';
import { errorText } from './dialogs.js';

const POLL_MS = 500;
const SLACK_S = 30; // past the clip's own length, how long to wait for the server to finish it

/** @typedef {import('./server.js').Backend} Backend */
/** @typedef {import('./server.js').Stream} Stream */

/**
 * @typedef {{id: string, stream_id: string, status: 'recording' | 'done' | 'failed', file: string,
 *   before: number, after: number, seconds?: number, bytes?: number, error?: string | null}} ClipJob
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
    /** @type {ClipJob | null} the clip being made */
    this.job = null;
    this.recordButton = button(
      'Record',
      'record',
      () => (this.job?.status === 'recording' && this.job.after > 0 ? this.stop() : this.make(0, this.recordSeconds)),
      signal,
    );
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
    this.labelRecord();
    const save = `Save last ${kept} s`;
    this.saveButton.hidden = kept <= 0; // nothing is kept without a prebuffer (cam.update(prebuffer_s=30))
    this.saveButton.setAttribute('aria-label', `${save} of ${this.stream.label}`);
    this.saveButton.title = `${save} of ${this.stream.label}: what the prebuffer keeps, as an MP4 download`;
    /** @type {HTMLElement} */ (this.saveButton.lastChild).textContent = save;
  }

  /** "Record N s", or "Stop recording" while a recording runs. */
  labelRecord() {
    const stream = this.stream;
    const recording = this.job?.status === 'recording' && this.job.after > 0;
    if (this.recordButton.dataset.recording !== String(recording)) {
      this.recordButton.firstChild?.replaceWith(icon(recording ? 'stop' : 'record')); // a red square stops
    }
    this.recordButton.dataset.recording = String(recording);
    if (recording) {
      this.recordButton.setAttribute('aria-label', `Stop recording ${stream.label}`);
      this.recordButton.title = `Stop recording ${stream.label}: the clip ends now and downloads what it has`;
      /** @type {HTMLElement} */ (this.recordButton.lastChild).textContent = 'Stop recording';
      return;
    }
    const record = `Record ${this.recordSeconds} s`;
    this.recordButton.setAttribute('aria-label', `${record} of ${stream.label}`);
    this.recordButton.title = `${record} of ${stream.label}: the camera's own video as an MP4 download`;
    /** @type {HTMLElement} */ (this.recordButton.lastChild).textContent = record;
  }

  /** Ends the running recording early: the server writes what it has, and make() downloads it. */
  async stop() {
    const job = this.job;
    if (!job || job.status !== 'recording') return;
    this.recordButton.disabled = true;
    this.say(`Stopping ${job.file}…`);
    try {
      await this.api.request('POST', `clips/${encodeURIComponent(job.id)}/stop`, undefined, this.signal);
    } catch (error) {
      if (!this.signal.aborted) this.say(`Could not stop ${job.file}: ${errorText(error)}`);
    }
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
      this.job = job;
      this.say(after ? `Recording ${job.file}…` : `Saving ${job.file}…`);
      if (after > 0) {
        this.recordButton.disabled = false; // it stops the recording now
        this.labelRecord();
      }
      const deadline = performance.now() + (before + after + SLACK_S) * 1000;
      while (job.status === 'recording') {
        if (performance.now() > deadline) throw new Error(`${job.file} is not finished after ${before + after + SLACK_S} s`);
        await pause(POLL_MS, signal);
        job = this.job = await this.api.request('GET', `clips/${encodeURIComponent(job.id)}`, undefined, signal);
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
      else if (this.job?.status === 'recording') {
        // the view closed: the recording ends with what it has (kept in the server's clips folder)
        const url = `clips/${encodeURIComponent(this.job.id)}/stop`;
        this.api.request('POST', url, undefined, new AbortController().signal).catch(() => {});
      }
    } finally {
      this.busy = false;
      this.job = null;
      this.recordButton.disabled = this.saveButton.disabled = false;
      this.labelRecord();
    }
  }

  /** @param {string} text */
  say(text) {
    this.notice.textContent = text;
    this.notice.title = text;
  }
}
