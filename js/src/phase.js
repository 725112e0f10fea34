// The phases a tile shows (its badge text, its `rn-<phase>` class and its data-phase): the server's
// status phases (DESIGN §3: connecting, playing, paused, reconnecting, stopped, ended, error) and the
// widget's own. One frozen object of names, compared everywhere instead of string literals.

export const Phase = Object.freeze({
  CONNECTING: 'connecting',
  PLAYING: 'playing',
  PAUSED: 'paused',
  RECONNECTING: 'reconnecting',
  STOPPED: 'stopped',
  ENDED: 'ended',
  ERROR: 'error',
  OFFLINE: 'offline',
});

/** @typedef {typeof Phase[keyof typeof Phase]} PhaseName */

/** @type {ReadonlySet<string>} */
const KNOWN = new Set(Object.values(Phase));

/**
 * A phase name from the server, or `connecting` for one this widget does not know (a newer server).
 * @param {string} name
 * @returns {PhaseName}
 */
export function phaseOf(name) {
  return KNOWN.has(name) ? /** @type {PhaseName} */ (name) : Phase.CONNECTING;
}

/**
 * Shows a phase on a status badge: its text (the phase, then e.g. " (attempt 3)") and its `rn-<phase>`
 * colour class. A tile's badge and the expanded view's look alike for the same phase.
 * @param {HTMLElement} badge
 * @param {PhaseName} phase
 * @param {string} [suffix]
 */
export function showPhase(badge, phase, suffix = '') {
  badge.textContent = `${phase}${suffix}`;
  badge.className = `rn-badge rn-${phase}`;
}
