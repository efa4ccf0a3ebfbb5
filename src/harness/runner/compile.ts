/**
 * Builds the program a run executes: one ESM bundle holding the child entry (child.ts), the
 * harness, the engine's TypeScript and the train.ts, which the child imports lazily (after the
 * harness is set up, so its load errors are reported as the run's). `nightshift/engine` and
 * `nightshift/harness` resolve to the harness's own source files, so train.ts and the harness
 * share one engine module — one native addon, one scope stack. The .node addon is not bundled;
 * the engine loads it from its usual place at run time. Compiling never runs train.ts.
 *
 * Why a bundle built in the parent, and not tsx in the child: tsx transforms through esbuild's
 * service process, and a child that started one left it behind as an orphan (a zombie wherever
 * PID 1 does not reap) on every run that missed tsx's cache. Here one esbuild service in the
 * parent serves every run, the child is plain Node, and a syntax error is reported without
 * spawning anything.
 */
import { readFileSync, realpathSync } from "node:fs";
import { createRequire } from "node:module";
import { basename, dirname, join, relative, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { RunnerError, TrainLoadError } from "./errors.ts";

const RUNNER_DIR = dirname(fileURLToPath(import.meta.url));
// The nightshift src/ folder (this file is src/harness/runner/compile.ts).
const SRC_ROOT = realpathSync(resolve(RUNNER_DIR, "..", ".."));
const CHILD_MODULE = join(RUNNER_DIR, "child.ts");

/** Bare specifiers a train.ts may use, and the source file each one means. */
export const NIGHTSHIFT_MODULES: Readonly<Record<string, string>> = {
  "nightshift/engine": join(SRC_ROOT, "engine", "index.ts"),
  "nightshift/harness": join(SRC_ROOT, "harness", "runner", "train-api.ts"),
};

// The slice of esbuild's API used here. Declared locally because esbuild is tsx's dependency,
// not ours: its types are not guaranteed to be resolvable from this package.
interface EsbuildMessage {
  text: string;
  location: { file: string; line: number; column: number } | null;
}
type OnResolveResult = { path: string } | undefined;
interface EsbuildPluginBuild {
  onResolve(options: { filter: RegExp }, callback: (args: { path: string }) => OnResolveResult): void;
  onLoad(
    options: { filter: RegExp },
    callback: (args: { path: string }) => { contents: string; loader: string; resolveDir: string } | undefined,
  ): void;
}
interface Esbuild {
  build(options: Record<string, unknown>): Promise<unknown>;
  stop(): Promise<void>;
}

function loadEsbuild(): Esbuild {
  const here = createRequire(import.meta.url);
  try {
    return here("esbuild") as Esbuild;
  } catch {
    // Not hoisted: take the copy tsx itself depends on.
    return createRequire(here.resolve("tsx/package.json"))("esbuild") as Esbuild;
  }
}

function isInside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel !== "" && !rel.startsWith("..") && resolve(root, rel) === path;
}

const IMPORT_META_URL = /\bimport\.meta\.url\b/;
const LOADERS: Record<string, string> = { ".ts": "ts", ".mts": "ts", ".cts": "ts", ".js": "js", ".mjs": "js", ".cjs": "js" };

// Inside the bundle every module's import.meta.url would be the bundle's (in a temp folder);
// the engine finds its addon, and the data code its packages, relative to their own source
// file. So each source file outside node_modules gets its own URL back, as a string literal.
const keepModuleUrls = {
  name: "nightshift-module-urls",
  setup(build: EsbuildPluginBuild) {
    build.onLoad({ filter: /\.[cm]?[jt]s$/ }, (args) => {
      if (args.path.includes("/node_modules/")) return undefined;
      const source = readFileSync(args.path, "utf8");
      if (!IMPORT_META_URL.test(source)) return undefined;
      const extension = /\.[cm]?[jt]s$/.exec(args.path)![0];
      return {
        contents: source.replaceAll(new RegExp(IMPORT_META_URL, "g"), JSON.stringify(pathToFileURL(args.path).href)),
        loader: LOADERS[extension]!,
        resolveDir: dirname(args.path),
      };
    });
  },
};

const nightshiftModules = {
  name: "nightshift-modules",
  setup(build: EsbuildPluginBuild) {
    build.onResolve({ filter: /^nightshift\/(engine|harness)$/ }, (args) => ({ path: NIGHTSHIFT_MODULES[args.path]! }));
  },
};

function where(message: EsbuildMessage, trainFile: string): string {
  const loc = message.location;
  return loc ? `${basename(loc.file) || basename(trainFile)}:${loc.line}:${loc.column + 1}: ` : "";
}

/**
 * Bundles the run program for `trainFile` into `outfile` (ESM, inline source maps so stack
 * traces name the original lines). A train.ts that does not compile throws TrainLoadError
 * TRAIN_COMPILE with its first error; a failure inside the harness itself, RunnerError.
 */
export async function bundleRun(trainFile: string, outfile: string): Promise<void> {
  const esbuild = loadEsbuild();
  buildsInFlight += 1;
  try {
    await build(esbuild, trainFile, outfile);
  } finally {
    buildsInFlight -= 1;
    // esbuild's service process would otherwise outlive this process as an orphan; stopped now,
    // while the run that follows keeps this process alive, it is reaped here. Restarting it
    // for the next run costs milliseconds.
    if (buildsInFlight === 0) await esbuild.stop();
  }
}

let buildsInFlight = 0;

async function build(esbuild: Esbuild, trainFile: string, outfile: string): Promise<void> {
  const entry =
    `import { runChild } from ${JSON.stringify(CHILD_MODULE)};\n` +
    `await runChild(() => import(${JSON.stringify(trainFile)}));\n`;
  try {
    await esbuild.build({
      stdin: { contents: entry, resolveDir: RUNNER_DIR, sourcefile: "nightshift-run.ts", loader: "ts" },
      outfile,
      bundle: true,
      format: "esm",
      platform: "node",
      target: "node20",
      sourcemap: "inline",
      logLevel: "silent",
      // CommonJS packages bundled into ESM still call require() for Node builtins.
      banner: {
        js: 'import { createRequire as __nightshiftRequire } from "node:module"; ' +
          "const require = __nightshiftRequire(import.meta.url);",
      },
      // A fixed tsconfig: whatever tsconfig.json sits near a lab's train.ts must not change how
      // it compiles (verbatimModuleSyntax would keep type-only imports and break at run time).
      tsconfigRaw: { compilerOptions: {} },
      plugins: [nightshiftModules, keepModuleUrls],
    });
  } catch (err) {
    const errors = (err as { errors?: EsbuildMessage[] }).errors ?? [];
    const first = errors[0];
    if (!first)
      throw new RunnerError("HARNESS_FAILED", `cannot bundle ${trainFile}: ${(err as Error).message}`, { cause: err });
    // An error located in the harness's own files (not the train file) is the harness's bug.
    const loc = first.location;
    const file = loc ? realpathOr(resolve(loc.file)) : realpathOr(trainFile);
    if (loc && file !== realpathOr(trainFile) && isInside(SRC_ROOT, file))
      throw new RunnerError("HARNESS_FAILED", `the harness does not compile: ${loc.file}:${loc.line}: ${first.text}`);
    const more = errors.length > 1 ? ` (and ${errors.length - 1} more error${errors.length > 2 ? "s" : ""})` : "";
    throw new TrainLoadError("TRAIN_COMPILE", `compile error in ${where(first, trainFile)}${first.text}${more}`);
  }
}

function realpathOr(path: string): string {
  try {
    return realpathSync(path);
  } catch {
    return path;
  }
}
