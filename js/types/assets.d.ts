// Stylesheets imported for their side effect (`import './styles.css'`); esbuild bundles them into widget.css.
declare module '*.css' {}
