// A tile's info panel: what `hub.stats()` and `hub.events()` say of its stream, over the picture. Uptime,
// restarts, viewers, the server's rate and the bytes it dropped for slow viewers, the pictures this page
// skipped to catch up, and the stream's recent events (reconnects with their reasons), newest first. It
// reads `streams/{id}/stats` and `events` (the same calls over the kernel's comm) while it is open.

import { ClipControls } from './clips.js';
import { h } from './dom.js';

const REFRESH_MS = 2000;
const EVENTS_SHOWN = 8;

/** @typedef {import('./server.js').Backend} Backend */

/**
 * The figures of `GET streams/{id}/stats` this panel shows.
 * @typedef {{state: string, viewers: number, uptime_s: number, restarts: number, fps: number, kbps: number,
 *   dropped_bytes: number, last_error: string | null}} StreamStats
 */

/**
 * One record of `GET events` (RelayEvent.as_dict).
 * @typedef {{at: number | string, stream_id: string, profile: string, kind: string, state: string,
 *   code: string | null, message: string | null, attempt: number | null}} StreamEvent
 */

/** @param {number} seconds  e.g. "2 h 05 min", "3 min 12 s", "41 s" */
export function duration(seconds) {
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, '0')} min`;
}

/** @param {number | string} at  epoch seconds or an ISO time */
function clock(at) {
  const when = typeof at === 'number' ? new Date(at * 1000) : new Date(at);
  return Number.isNaN(when.getTime()) ? String(at) : when.toLocaleTimeString();
}

/** @param {number} bytes */
function size(bytes) {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(0)} kB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

/**
 * "12:01:03 reconnecting: the camera closed the connection (attempt 2)"
 * @param {StreamEvent} event
 */
export function eventText(event) {
  const what = event.state || event.kind;
  const why = event.message ? `: ${event.message}` : '';
  const attempt = event.attempt ? ` (attempt ${event.attempt})` : '';
  return `${clock(event.at)} ${what}${why}${attempt}`;
}

export class InfoPanel {
  /**
   * @param {Backend} api
   * @param {import('./server.js').Stream} stream
   * @param {() => {dropped: number, path: string, size: string}} page  what the tile knows: pictures it
   *   skipped, its path tag, the picture's size
   * @param {number} clipSeconds  how long its Record button records
   * @param {AbortSignal} signal  the tile's
   */
  constructor(api, stream, page, clipSeconds, signal) {
    this.api = api;
    this.streamId = stream.id;
    this.clips = new ClipControls(api, stream, clipSeconds, signal);
    this.page = page;
    this.signal = signal;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.timer = undefined;
    this.figures = h('dl', { class: 'rn-info-figures' });
    this.events = h('ol', { class: 'rn-info-events', 'aria-label': 'Recent events' });
    this.el = h('section', { class: 'rn-infopanel', hidden: true, 'aria-label': 'Stream info' }, [
      this.figures,
      h('h4', { text: 'Recent events' }),
      this.events,
      this.clips.el,
    ]);
    signal.addEventListener('abort', () => clearInterval(this.timer), { once: true });
  }

  get open() {
    return !this.el.hidden;
  }

  toggle() {
    if (this.open) this.close();
    else this.show();
    return this.open;
  }

  show() {
    this.el.hidden = false;
    this.load();
    clearInterval(this.timer);
    this.timer = setInterval(() => this.load(), REFRESH_MS);
  }

  close() {
    this.el.hidden = true;
    clearInterval(this.timer);
  }

  async load() {
    const id = encodeURIComponent(this.streamId);
    try {
      const [stats, events] = await Promise.all([
        this.api.request('GET', `streams/${id}/stats`, undefined, this.signal),
        this.api.request('GET', 'events', undefined, this.signal),
      ]);
      if (this.signal.aborted || !this.open) return;
      this.render(stats, /** @type {StreamEvent[]} */ (events).filter((e) => e.stream_id === this.streamId));
    } catch (error) {
      if (this.signal.aborted) return;
      this.figures.replaceChildren(h('dd', { text: `No figures: ${error instanceof Error ? error.message : error}` }));
    }
  }

  /**
   * @param {StreamStats} stats
   * @param {StreamEvent[]} events  this stream's, oldest first
   */
  render(stats, events) {
    const page = this.page();
    /** @type {[string, string][]} */
    const rows = [
      ['state', stats.state],
      ['uptime', stats.uptime_s ? duration(stats.uptime_s) : '—'],
      ['restarts', String(stats.restarts)],
      ['viewers', String(stats.viewers)],
      ['path', [page.path, page.size].filter(Boolean).join(', ') || '—'],
      ['server', `${stats.fps.toFixed(1)} fps · ${Math.round(stats.kbps)} kb/s`],
      ['dropped', `${page.dropped} pictures here · ${size(stats.dropped_bytes)} on the server`],
    ];
    if (stats.last_error) rows.push(['last error', stats.last_error]);
    this.figures.replaceChildren(...rows.flatMap(([name, value]) => [h('dt', { text: name }), h('dd', { text: value })]));
    this.el.dataset.restarts = String(stats.restarts);
    const recent = events.slice(-EVENTS_SHOWN).reverse();
    this.events.replaceChildren(
      ...(recent.length ? recent.map((e) => h('li', { text: eventText(e) })) : [h('li', { text: 'none yet' })]),
    );
    this.el.dataset.events = String(events.length);
  }
}
