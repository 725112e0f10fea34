// A view's figures line: the tag of the path it plays (H.264 or MPEG-1, why in its tooltip), then a
// detail: the stream's rates ("H.264 · 25.0 fps · 812 kb/s"; the stylesheet puts the "·" after the tag) or
// what the view says instead (an error, what the server waits for). Shared by a tile and the expanded view.

import { PATH_LABELS, pathTitle } from './codec.js';
import { h } from './dom.js';
import { RateWindow } from './rate.js';

/** @typedef {import('./codec.js').PathName} PathName */

const SHOW_EVERY_MS = 1000; // how often the rates are rewritten

export class Figures {
  constructor() {
    this.tag = h('span', { class: 'rn-codec', hidden: true });
    this.detail = h('span', { class: 'rn-detail' });
    this.el = h('span', { class: 'rn-figures' }, [this.tag, this.detail]);
    this.rate = new RateWindow();
    this.shownAt = 0;
    /** @type {number | null} the MPEG-1 transcode's bitrate ceiling (video_start's max_kbps), shown after the rate */
    this.maxKbps = null;
  }

  /**
   * @param {PathName} path    how the view plays now
   * @param {string} reason    why MPEG-1, when it is
   * @param {HTMLElement} owner  gets `data-codec` (what the tests read)
   */
  showPath(path, reason, owner) {
    owner.dataset.codec = path;
    this.tag.textContent = PATH_LABELS[path];
    this.tag.title = pathTitle(path, reason);
    this.tag.hidden = false;
  }

  /** @param {string} text */
  setDetail(text) {
    this.detail.textContent = text;
    this.detail.title = text;
  }

  /** A new player or a resume: the rates start over. */
  reset() {
    this.rate.reset();
  }

  /**
   * A picture was decoded: the rates' text when it is time to show them again (and `show`), else null.
   * @param {{bytes: number, catchingUp: boolean, shown: number | null}} player  `shown`: the pictures its
   *   decoder has drawn so far, when it counts them (H.264), else null (each call is one picture)
   * @param {number} now
   * @param {boolean} [show]  false: count the picture, show nothing (the view says something else)
   * @returns {string | null}
   */
  picture(player, now, show = true) {
    if (player.shown !== null) this.rate.shown(now, player.shown, player.bytes, player.catchingUp);
    else this.rate.picture(now, player.bytes, player.catchingUp);
    const rates = this.rate.rates();
    if (!rates || !show || now - this.shownAt < SHOW_EVERY_MS) return null;
    this.shownAt = now;
    const ceiling = this.maxKbps ? ` (max ${this.maxKbps})` : '';
    return `${rates.fps.toFixed(1)} fps · ${Math.round(rates.kbps)} kb/s${ceiling}`;
  }
}
