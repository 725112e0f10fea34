// Arms one resume measurement on the tile of `label`: a click on its Play button → its next data-frames
// change (resumed.js reads it).
(label) => {
  const tile = Array.from(document.querySelectorAll('.rn-tile'))
    .find((el) => el.querySelector('.rn-label').textContent === label);
  const play = tile.querySelector(`button[aria-label="Play ${label}"]`);
  const rec = {click: null, frame: null, framesAtClick: null};
  window.__rnResume = rec;
  tile.addEventListener('click', (event) => {
    if (event.target.closest('button') !== play || rec.click !== null) return;
    rec.click = performance.now();
    rec.framesAtClick = Number(tile.dataset.frames || 0);
  }, {capture: true});
  const observer = new MutationObserver(() => {
    if (rec.click !== null && rec.frame === null && Number(tile.dataset.frames) > rec.framesAtClick) {
      rec.frame = performance.now();
      observer.disconnect();
    }
  });
  observer.observe(tile, {attributes: true, attributeFilter: ['data-frames']});
}
