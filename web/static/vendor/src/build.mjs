// Builds ../codemirror-<version>.min.js from entry.mjs (npm install && npm run build).
// <version> is @codemirror/view's: the package the editor's behaviour follows most.
import { build } from "esbuild";
import { readFileSync } from "node:fs";

const version = JSON.parse(readFileSync("node_modules/@codemirror/view/package.json", "utf8")).version;
await build({
  entryPoints: ["entry.mjs"],
  bundle: true,
  minify: true,
  format: "iife",
  globalName: "CM6",
  target: ["es2020"],
  legalComments: "eof",
  outfile: `../codemirror-${version}.min.js`,
});
console.log(`built ../codemirror-${version}.min.js`);
