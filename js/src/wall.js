// The full-screen wall: the grid in the browser's full-screen mode (or, where the browser refuses it, over
// the whole page), its tiles sized so all of them fit the screen without scrolling, and their controls out
// of the way until the pointer moves. The Wall button, `w` on the grid, or `Grid(fullscreen=True)` enter;
// Escape (or the button again) leaves.

const CONTROLS_SHOWN_MS = 2500; // after the pointer last moved
const GAP = 4; // px between tiles on the wall (styles.css: .rn-wallmode .rn-grid)

/**
 * Columns and rows that show `count` pictures of `aspect` (width / height) as large as they can be in a
 * `width` x `height` box, `gap` px apart; `columns` fixes the number of columns instead.
 * @param {number} count
 * @param {number} width
 * @param {number} height
 * @param {{aspect?: number, gap?: number, columns?: number | null}} [options]
 * @returns {{columns: number, rows: number, tileWidth: number, tileHeight: number}}
 */
export function wallShape(count, width, height, { aspect = 16 / 9, gap = GAP, columns = null } = {}) {
  const n = Math.max(1, count);
  const fit = (/** @type {number} */ c) => {
    const rows = Math.ceil(n / c);
    const cellWidth = (width - gap * (c - 1)) / c;
    const cellHeight = (height - gap * (rows - 1)) / rows;
    const tileWidth = Math.max(0, Math.min(cellWidth, cellHeight * aspect));
    return { columns: c, rows, tileWidth, tileHeight: tileWidth / aspect };
  };
  if (columns) return fit(Math.max(1, Math.min(columns, n)));
  let best = fit(1);
  for (let c = 2; c <= n; c++) {
    const shape = fit(c);
    if (shape.tileWidth > best.tileWidth + 0.5) best = shape;
  }
  return best;
}

export class Wall {
  /**
   * @param {HTMLElement} root      the grid's root: what goes full screen
   * @param {HTMLElement} grid      the tiles' container
   * @param {() => {count: number, columns: number | null}} layout  how many tiles, and fixed columns if any
   * @param {(on: boolean) => void} changed  the wall was entered or left (by the page or the user)
   * @param {AbortSignal} signal
   */
  constructor(root, grid, layout, changed, signal) {
    this.root = root;
    this.grid = grid;
    this.layout = layout;
    this.changed = changed;
    this.signal = signal;
    this.on = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.idleTimer = undefined;
    this.resizes = new ResizeObserver(() => this.arrange());
    signal.addEventListener('abort', () => this.resizes.disconnect(), { once: true });
    document.addEventListener(
      'fullscreenchange',
      () => {
        if (this.on && document.fullscreenElement !== root) this.leave();
      },
      { signal },
    );
    document.addEventListener(
      'keydown',
      (event) => {
        if (this.on && event.key === 'Escape' && !document.querySelector('dialog[open]')) {
          event.preventDefault();
          this.leave();
        }
      },
      { signal },
    );
    root.addEventListener('pointermove', () => this.showControls(), { signal });
  }

  /** Puts the grid on the wall; asks for the browser's full screen (refused without a user gesture). */
  enter() {
    if (this.on) return;
    this.on = true;
    this.root.classList.add('rn-wallmode');
    this.root.dataset.wall = 'page';
    this.resizes.observe(this.root);
    this.arrange();
    this.showControls();
    this.changed(true);
    if (document.fullscreenElement !== this.root && this.root.requestFullscreen) {
      this.root.requestFullscreen({ navigationUI: 'hide' }).then(
        () => {
          if (this.on) this.root.dataset.wall = 'fullscreen';
        },
        () => {
          // no user gesture (a Python cell set fullscreen=True): the wall covers the page instead
        },
      );
    }
  }

  leave() {
    if (!this.on) return;
    this.on = false;
    clearTimeout(this.idleTimer);
    this.resizes.unobserve(this.root);
    this.root.classList.remove('rn-wallmode', 'rn-pointer');
    delete this.root.dataset.wall;
    this.grid.style.removeProperty('--rn-wall-columns');
    this.grid.style.removeProperty('--rn-wall-tile-height');
    this.grid.style.removeProperty('--rn-wall-tile-width');
    if (document.fullscreenElement === this.root) document.exitFullscreen().catch(() => {});
    this.changed(false);
  }

  toggle() {
    if (this.on) this.leave();
    else this.enter();
  }

  /** Sizes the tiles for the screen (called again when it or the number of tiles changes). */
  arrange() {
    if (!this.on) return;
    const { count, columns } = this.layout();
    const box = this.root.getBoundingClientRect();
    const shape = wallShape(count, box.width, box.height, { columns });
    this.grid.style.setProperty('--rn-wall-columns', String(shape.columns));
    this.grid.style.setProperty('--rn-wall-tile-height', `${Math.floor(shape.tileHeight)}px`);
    this.grid.style.setProperty('--rn-wall-tile-width', `${Math.floor(shape.tileWidth)}px`);
    this.root.dataset.wallShape = `${shape.columns}x${shape.rows}`;
  }

  /** The tiles' labels and buttons show while the pointer moves, and hide again after a while. */
  showControls() {
    if (!this.on) return;
    this.root.classList.add('rn-pointer');
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.root.classList.remove('rn-pointer'), CONTROLS_SHOWN_MS);
  }
}
