// Closes JupyterLab's left side bar (the CPU pages and the screenshot want the width).
() => {
  const app = window.jupyterapp;
  if (!app.shell.leftCollapsed) app.commands.execute('application:toggle-left-area');
}
