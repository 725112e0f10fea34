// Whether the page shows `count` tiles and each decoded at least `frames` pictures.
({count, frames}) => {
  const tiles = Array.from(document.querySelectorAll('.rn-tile'));
  return tiles.length === count && tiles.every((el) => Number(el.dataset.frames || 0) >= frames);
}
