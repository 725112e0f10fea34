// The order of a grid's tiles and its large tile (the focus layout): the server's order, or the one Python
// asked for (`streams`), or the user's (`order`: drag a tile by its header onto another, or Alt+Left /
// Alt+Right on a tile), with the `focus` tile first and twice the size. Changes made here are told to the
// widget (its `order`, `streams` and `focus` traits), so Python sees them and the next grid starts from them.

/** @typedef {import('./tile.js').Tile} Tile */
/** @typedef {import('./grid.js').GridOptions} GridOptions */
/** @typedef {{order?: string[], streams?: string[], focus?: string | null}} LayoutChange */

export class TileOrder {
  /**
   * @param {HTMLElement} grid          the tiles' container
   * @param {Map<string, Tile>} tiles   the grid's tiles by stream id (the grid's own map)
   * @param {GridOptions} options       the grid's options (the same object: read and written here)
   * @param {(change: LayoutChange) => void} changed  the user changed the layout
   * @param {AbortSignal} signal
   */
  constructor(grid, tiles, options, changed, signal) {
    this.grid = grid;
    this.tiles = tiles;
    this.options = options;
    this.changed = changed;
    /** @type {string[]} the listed streams' ids, in the server's (or the requested) order */
    this.listed = [];
    /** @type {string | null} the tile being dragged */
    this.dragging = null;
    this.listenForDrags(signal);
  }

  /** The tiles' ids in the order shown: the large one first, then the requested or the user's order, then
   * the server's. */
  orderedIds() {
    const listed = this.listed.filter((id) => this.tiles.has(id));
    const others = [...this.tiles.keys()].filter((id) => !listed.includes(id)); // ended tiles keep a place
    const all = [...listed, ...others];
    const rank = new Map((this.options.streams.length ? [] : (this.options.order ?? [])).map((id, i) => [id, i]));
    const focus = this.options.focus ?? null;
    const key = (/** @type {string} */ id) => (id === focus ? -1 : (rank.get(id) ?? 1e6 + all.indexOf(id)));
    return all.sort((a, b) => key(a) - key(b));
  }

  /** Puts the tiles in order in the page and marks the large one. */
  arrange() {
    this.orderedIds().forEach((id, i) => {
      const el = /** @type {Tile} */ (this.tiles.get(id)).el;
      if (this.grid.children[i] !== el) this.grid.insertBefore(el, this.grid.children[i] ?? null);
    });
    for (const [id, tile] of this.tiles) tile.setFocused(id === (this.options.focus ?? null));
    this.grid.dataset.order = this.orderedIds().join(' ');
  }

  /**
   * The user's new order of the tiles: kept in `streams` when Python chose which tiles to show, else in
   * `order`; told to the widget.
   * @param {string[]} ids
   */
  reorder(ids) {
    const order = [...ids];
    if (this.options.streams.length) {
      this.options.streams = order.filter((id) => this.options.streams.includes(id));
      this.changed({ streams: this.options.streams });
    } else {
      this.options.order = order;
      this.changed({ order });
    }
    this.arrange();
  }

  /**
   * Moves a tile `step` places (Alt+Left / Alt+Right on a tile).
   * @param {string} id
   * @param {number} step
   */
  move(id, step) {
    const ids = this.orderedIds();
    const from = ids.indexOf(id);
    const to = Math.max(0, Math.min(ids.length - 1, from + step));
    if (from < 0 || to === from) return;
    ids.splice(to, 0, ...ids.splice(from, 1));
    const focus = this.options.focus;
    if (focus && ids[0] !== focus) this.setFocus(null, false); // the large tile left the front
    this.reorder(ids);
  }

  /**
   * @param {string | null} id  the tile to show large (null: none)
   * @param {boolean} [arrange]
   */
  setFocus(id, arrange = true) {
    this.options.focus = id;
    this.changed({ focus: id });
    if (arrange) this.arrange();
  }

  /** Drag a tile by its header and drop it on another: it takes that tile's place. @param {AbortSignal} signal */
  listenForDrags(signal) {
    const tileOf = (/** @type {EventTarget | null} */ target) =>
      target instanceof Element ? /** @type {HTMLElement | null} */ (target.closest('.rn-tile')) : null;
    this.grid.addEventListener(
      'dragstart',
      (event) => {
        const el = tileOf(event.target);
        if (!el || !event.dataTransfer) return;
        this.dragging = el.dataset.streamId ?? null;
        event.dataTransfer.effectAllowed = 'move';
        event.dataTransfer.setData('text/plain', el.getAttribute('aria-label') ?? '');
        el.classList.add('rn-dragging');
      },
      { signal },
    );
    this.grid.addEventListener(
      'dragover',
      (event) => {
        if (!this.dragging || !tileOf(event.target)) return;
        event.preventDefault();
        if (event.dataTransfer) event.dataTransfer.dropEffect = 'move';
      },
      { signal },
    );
    this.grid.addEventListener(
      'drop',
      (event) => {
        const target = tileOf(event.target);
        const dragged = this.dragging;
        if (!dragged || !target || !target.dataset.streamId) return;
        event.preventDefault();
        const ids = this.orderedIds().filter((id) => id !== dragged);
        const at = ids.indexOf(target.dataset.streamId);
        const box = target.getBoundingClientRect();
        const after = event.clientX > box.left + box.width / 2; // dropped on its right half: after it
        ids.splice(at + (after ? 1 : 0), 0, dragged);
        if (this.options.focus && ids[0] !== this.options.focus) this.setFocus(null, false);
        this.reorder(ids);
      },
      { signal },
    );
    this.grid.addEventListener(
      'dragend',
      () => {
        this.dragging = null;
        for (const el of this.grid.querySelectorAll('.rn-dragging')) el.classList.remove('rn-dragging');
      },
      { signal },
    );
  }
}
