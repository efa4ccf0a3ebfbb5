#!/usr/bin/env bash
# Bundles what a GPU machine without npm runs into .gpu/ (git-ignored), next to what
# ../shared/gpu/pack.sh puts there (Node, the Node-API headers, activate.sh). Run it here, from
# any folder of the checkout, after `npm install`; it only writes under .gpu/.
#
#   bash test/gpu/bundle.sh
#
# It writes:
#   .gpu/cuda-tests.mjs   test/gpu/cuda-tests.entry.ts + test/engine/cuda.test.ts, with `vitest`
#                         aliased to test/support/vitest-lite.ts
#   .gpu/cuda-train.mjs   bench/cuda-train.ts
#   .gpu/nightshift.mjs   the CLI (src/cli.ts, what bin/nightshift.js runs through tsx)
#   .gpu/cuda-*.mjs.map   source maps without sources: they point at ../src, ../test, ../bench,
#                         which travel with the tree (run with node --enable-source-maps)
#   .gpu/node_modules/esbuild/   esbuild's JS API, and .gpu/esbuild.xz its Linux x64 binary.
#                         `nightshift train` bundles the train.ts it runs with esbuild at run
#                         time (src/harness/runner/compile.ts loads it with require("esbuild")),
#                         so the box needs it: run.sh unpacks the binary and sets NODE_PATH and
#                         ESBUILD_BINARY_PATH.
#
# Every source file outside node_modules that reads import.meta.url gets its own URL back,
# computed from the bundle's location (e.g. new URL("../src/engine/native.ts", import.meta.url)),
# so the engine finds its addon, the CLI the recipe and the runner its src/ folder wherever the
# tree lands — but the .mjs files must stay in .gpu/ of a checkout. The native addons (the
# engine, better-sqlite3) are not bundled: the engine is built on the box, and better-sqlite3 is
# only loaded when a store is opened, which `nightshift train` never does.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

esbuild_pkg=node_modules/esbuild
if [ ! -f "$esbuild_pkg/lib/main.js" ]; then
  echo "bundle.sh: $esbuild_pkg not found: run npm install first (esbuild comes with tsx)" >&2
  exit 1
fi
esbuild_version=$(node -p "require('./$esbuild_pkg/package.json').version")
esbuild_bin=node_modules/@esbuild/linux-x64/bin/esbuild
if [ ! -x "$esbuild_bin" ]; then
  echo "bundle.sh: $esbuild_bin not found: the GPU box is x86-64 Linux and needs that binary" >&2
  exit 1
fi
[ -f .gpu/node.xz ] || echo "bundle.sh: note: .gpu/node.xz is missing; run bash ../shared/gpu/pack.sh too" >&2
mkdir -p .gpu

node --input-type=module - <<'JS'
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, relative, resolve } from "node:path";

const esbuild = createRequire(resolve("package.json"))("esbuild");
const outDir = resolve(".gpu");

// Strings, template literals and comments are kept as they are; only code's import.meta.url is
// rewritten (src/harness/runner/compile.ts holds "import.meta.url" inside a string that must
// stay as written: it becomes part of the program the runner bundles at run time).
const TOKENS = /("(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`|\/\/[^\n]*|\/\*[\s\S]*?\*\/)|\bimport\.meta\.url\b/g;
const LOADERS = { ".ts": "ts", ".mts": "ts", ".cts": "ts", ".js": "js", ".mjs": "js", ".cjs": "js" };
const moduleUrlsFromBundle = {
  name: "module-urls-from-bundle",
  setup(build) {
    build.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
      if (args.path.includes("/node_modules/")) return undefined;
      const source = readFileSync(args.path, "utf8");
      if (!source.includes("import.meta.url")) return undefined;
      const rel = relative(outDir, args.path).split("\\").join("/");
      const url = `new URL(${JSON.stringify(rel)}, import.meta.url).href`;
      return {
        contents: source.replace(TOKENS, (match, kept) => (kept === undefined ? url : match)),
        loader: LOADERS[/\.[cm]?[jt]s$/.exec(args.path)[0]],
        resolveDir: dirname(args.path),
      };
    });
  },
};

const common = {
  bundle: true,
  format: "esm",
  platform: "node",
  target: "node20",
  sourcemap: "linked",
  sourcesContent: false,
  logLevel: "warning",
  metafile: true,
  // CommonJS packages bundled into ESM still call require() for Node builtins.
  banner: {
    js: 'import { createRequire as __bundleRequire } from "node:module"; const require = __bundleRequire(import.meta.url);',
  },
  plugins: [moduleUrlsFromBundle],
};

const bundles = [
  { entryPoints: ["test/gpu/cuda-tests.entry.ts"], outfile: ".gpu/cuda-tests.mjs", alias: { vitest: "./test/support/vitest-lite.ts" } },
  { entryPoints: ["bench/cuda-train.ts"], outfile: ".gpu/cuda-train.mjs" },
  // No map for the CLI (3.4 MB, mostly npm packages that do not travel); its unminified code
  // keeps esbuild's "// src/..." file markers, and the program a run executes gets its own map.
  { entryPoints: ["src/cli.ts"], outfile: ".gpu/nightshift.mjs", sourcemap: false },
];
for (const b of bundles) {
  const result = await esbuild.build({ ...common, ...b });
  const packages = new Set();
  for (const input of Object.keys(result.metafile.inputs)) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(input);
    if (m) packages.add(m[1]);
  }
  // A test or bench bundle pulling in npm packages would be a surprise worth seeing.
  console.log(`${b.outfile}: ${packages.size} npm package(s) bundled${packages.size && packages.size < 10 ? `: ${[...packages].join(", ")}` : ""}`);
}
JS

# esbuild for the runner: the JS API as published, and its binary compressed (~11 MB -> ~4 MB).
rm -rf .gpu/node_modules/esbuild
mkdir -p .gpu/node_modules/esbuild
cp -r "$esbuild_pkg/package.json" "$esbuild_pkg/lib" "$esbuild_pkg/LICENSE.md" .gpu/node_modules/esbuild/
if [ ! -f .gpu/esbuild.xz ] || [ "$(cat .gpu/esbuild.version 2>/dev/null)" != "$esbuild_version" ]; then
  xz -T2 -6 -c "$esbuild_bin" > .gpu/esbuild.xz
  echo "$esbuild_version" > .gpu/esbuild.version
fi

[ -d .gpu/home/datasets ] || echo "bundle.sh: note: no .gpu/home/datasets yet; see test/gpu/README.md (prepare --profile gpu)" >&2
echo
echo "sizes (MiB):"
for f in .gpu/*; do
  printf '  %7.2f  %s\n' "$(du -sb "$f" | awk '{print $1 / 1048576}')" "$f"
done
total=$(du -sb .gpu | awk '{print $1}')
tree=$(git ls-files -z -co --exclude-standard | du -cb --files0-from=- 2>/dev/null | tail -1 | awk '{print $1}')
printf '  %7.2f  .gpu total\n  %7.2f  the rest of the tree that travels\n' "$(awk -v b="$total" 'BEGIN{print b/1048576}')" "$(awk -v b="$tree" 'BEGIN{print b/1048576}')"
if [ $((total + tree)) -gt $((60 * 1048576)) ]; then
  echo "bundle.sh: warning: over 60 MiB together; a device call carries at most 64 MiB" >&2
fi
