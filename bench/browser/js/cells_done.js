// The recording once 'Run All Cells' (run_all.js) ended and the kernel of `path` is idle; false until then.
(path) => {
  const panel = window.__rnPanel(path);
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const rec = window.__rnBench;
  return (rec.runAll !== null || rec.runAllError !== null) && !!kernel && kernel.status === 'idle' && rec;
}
