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
 * A button with an accessible name, a tooltip and a text glyph.
 * @param {string} name   accessible name, e.g. "Pause Door"
 * @param {string} glyph  what the button shows
 * @param {string} cls
 * @param {(event: MouseEvent) => void} onClick
 * @param {AbortSignal} signal  removes the listener when the view goes
 */
export function button(name, glyph, cls, onClick, signal) {
  const el = h('button', { type: 'button', class: `rn-button ${cls}`, 'aria-label': name, title: name, text: glyph });
  el.addEventListener('click', onClick, { signal });
  return el;
}
