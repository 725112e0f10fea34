// Whether the screenshot's four tiles play, decoded 45 pictures each and show at least `fps` in their footer.
(fps) => {
  const tiles = Array.from(document.querySelectorAll('.rn-tile'));
  return tiles.length === 4 && tiles.every((el) => el.dataset.phase === 'playing'
    && Number(el.dataset.frames || 0) >= 45
    && parseFloat(el.querySelector('.rn-detail').textContent) >= fps);
}
