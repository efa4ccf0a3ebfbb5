/**
 * The baseline train.ts a new lab starts from: src/recipe/train.ts with its imports rewritten
 * from the nightshift source tree ("../engine/index.ts") to the bare specifiers a lab's train.ts
 * uses ("nightshift/engine", "nightshift/harness"), which the runner resolves. It only rewrites
 * text; it neither compiles nor runs the recipe.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { LabError } from "./errors.ts";

/** Source-tree modules a recipe may import, and the bare specifier each becomes in a lab. */
const LAB_SPECIFIERS: Readonly<Record<string, string>> = {
  "../engine/index.ts": "nightshift/engine",
  "../harness/constants.ts": "nightshift/harness",
  "../harness/types.ts": "nightshift/harness",
  "../harness/runner/train-api.ts": "nightshift/harness",
};

const IMPORT_FROM = /(\bfrom\s*|\bimport\s*)(["'])([^"']+)\2/g;

/**
 * Rewrites a recipe's imports for a lab. Any other relative import is an error
 * (LAB_INVALID_ARGUMENT): a lab's train.ts is a single file and cannot reach the source tree.
 */
export function toLabTrainTs(recipeSource: string): string {
  return recipeSource.replace(IMPORT_FROM, (whole, lead: string, quote: string, specifier: string) => {
    const mapped = LAB_SPECIFIERS[specifier];
    if (mapped) return `${lead}${quote}${mapped}${quote}`;
    if (specifier.startsWith(".") || specifier.startsWith("/"))
      throw new LabError(
        "LAB_INVALID_ARGUMENT",
        `the recipe imports ${JSON.stringify(specifier)}: a lab's train.ts may import only nightshift/engine and nightshift/harness`,
      );
    return whole;
  });
}

/** The source-tree modules (e.g. "../engine/index.ts") a recipe imports, in import order. */
export function sourceTreeImports(recipeSource: string): string[] {
  return [...recipeSource.matchAll(IMPORT_FROM)].map((m) => m[3]!).filter((specifier) => specifier in LAB_SPECIFIERS);
}

/** The baseline recipe (src/recipe/train.ts) as a lab's first train.ts. */
export function baselineTrainTs(): string {
  const file = fileURLToPath(new URL("../recipe/train.ts", import.meta.url));
  return toLabTrainTs(readFileSync(file, "utf8"));
}
