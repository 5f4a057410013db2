// Bundles the page into dist/ with esbuild: dist/index.html, app.js, styles.css.
import { copyFileSync, mkdirSync } from "node:fs";
import { build } from "esbuild";

const here = new URL(".", import.meta.url).pathname;
mkdirSync(`${here}dist`, { recursive: true });
await build({
  entryPoints: [`${here}src/main.ts`],
  bundle: true,
  format: "esm",
  target: "es2022",
  outfile: `${here}dist/app.js`,
  sourcemap: true,
  minify: true,
  logLevel: "warning",
});
for (const f of ["index.html", "styles.css"]) copyFileSync(`${here}src/${f}`, `${here}dist/${f}`);
