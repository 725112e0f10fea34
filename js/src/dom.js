import { icon } from './icons.js';

// A tiny element builder. Text always goes in as text (textContent), never as HTML: labels and
// messages come from users and cameras.

/**
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | boolean | number | null | undefined>} [attrs]
 *   `class`, `text` (textContent) and any attribute; false / null / undefined leave it out
 * @param {(Node | null | undefined)[]} [children]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function h(tag, attrs = {}, children = []) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'text') el.textContent = String(value);
    else if (name === 'class') el.className = String(value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) if (child) el.append(child);
  return el;
}

/**
 * A button with an accessible name, a tooltip and an icon.
 * @param {string} name   accessible name, e.g. "Pause Door"
 * @param {import('./icons.js').IconName} glyph
 * @param {(event: MouseEvent) => void} onClick
 * @param {AbortSignal} signal  removes the listener when the view goes
 */
export function button(name, glyph, onClick, signal) {
  const el = h('button', { type: 'button', class: `rn-button rn-${glyph}`, 'aria-label': name, title: name });
  el.append(icon(glyph));
  el.addEventListener('click', onClick, { signal });
  return el;
}
