/**
 * Integrity flag: a kept diff of train.ts that changes only a seed, comments or whitespace is
 * trivial (flagged, never credited); anything else is code.
 */
import { describe, expect, it } from "vitest";
import { classifyDiff } from "../../src/stats/index.ts";

/** A git-format diff of train.ts with one hunk built from [mark, text] lines. */
function gitDiff(lines: [" " | "-" | "+", string][], start = 10): string {
  const old = lines.filter(([m]) => m !== "+").length;
  const neu = lines.filter(([m]) => m !== "-").length;
  return [
    "diff --git a/train.ts b/train.ts",
    "index 3b18e51..a1c2d3f 100644",
    "--- a/train.ts",
    "+++ b/train.ts",
    `@@ -${start},${old} +${start},${neu} @@ export default async function train(ctx: TrainContext) {`,
    ...lines.map(([m, t]) => m + t),
    "",
  ].join("\n");
}

describe("classifyDiff", () => {
  it("flags autoresearch's 'random seed 42 → 137'", () => {
    const r = classifyDiff(
      gitDiff([
        [" ", "const DEPTH = 8;"],
        ["-", "const SEED = 42;"],
        ["+", "const SEED = 137;"],
        [" ", "const LR = 0.04;"],
      ]),
    );
    expect(r).toMatchObject({ trivial: true, kind: "seed", seedNames: ["SEED"] });
    expect(r.reason).toBe("only the seed constant SEED changed");
  });

  it("flags seed changes in typed declarations, object properties and fields, with comments", () => {
    const r = classifyDiff(
      gitDiff([
        ["-", "export const RANDOM_SEED: number = 42; // fixed"],
        ["+", "export const RANDOM_SEED: number = 1337; // lucky"],
        [" ", "const opts = {"],
        ["-", "  dataSeed: 1,"],
        ["+", "  dataSeed: 2,"],
        [" ", "};"],
        ["-", "this.initSeed = ctx.seed;"],
        ["+", "this.initSeed = ctx.seed + 1;"],
      ]),
    );
    expect(r.trivial).toBe(true);
    expect(r.seedNames).toEqual(["RANDOM_SEED", "dataSeed", "initSeed"]);
  });

  it("flags comment and whitespace edits, block comments included", () => {
    const r = classifyDiff(
      gitDiff([
        ["-", "// warm up the learning rate"],
        ["+", "// Warm up the learning rate linearly (see Goyal et al.)"],
        ["-", "const WARMUP=0.1;"],
        ["+", "const WARMUP = 0.1;   /* fraction of the budget */"],
        ["+", ""],
        ["+", "/**"],
        ["+", " * Muon for matrices, AdamW for the rest."],
        ["+", " */"],
        [" ", "const LR = 0.04;"],
      ]),
    );
    expect(r).toMatchObject({ trivial: true, kind: "whitespace-or-comments" });
  });

  it("recognises a hunk inside a long doc comment", () => {
    const r = classifyDiff(
      gitDiff([
        [" ", " * The schedule: linear warm-up, constant, then"],
        ["-", " * cosine decay to zero."],
        ["+", " * linear decay to 10% of the peak."],
        [" ", " * Every knob is a constant below."],
        [" ", " */"],
        [" ", "const LR = 0.04;"],
      ]),
    );
    expect(r.trivial).toBe(true);
  });

  it("credits a real change: a learning rate, a seed plus a code change, a string", () => {
    const lr = classifyDiff(
      gitDiff([
        ["-", "const LR = 0.04;"],
        ["+", "const LR = 0.05;"],
      ]),
    );
    expect(lr).toMatchObject({ trivial: false, kind: "code" });
    expect(lr.reason).toMatch(/const LR = 0\.05 ;/);

    const mixed = classifyDiff(
      gitDiff([
        ["-", "const SEED = 42;"],
        ["+", "const SEED = 137;"],
        ["-", "const DEPTH = 8;"],
        ["+", "const DEPTH = 10;"],
      ]),
    );
    expect(mixed.trivial).toBe(false);

    const oneLine = classifyDiff(
      gitDiff([
        ["-", "const SEED = 42; const LR = 0.04;"],
        ["+", "const SEED = 7; const LR = 0.05;"],
      ]),
    );
    expect(oneLine.trivial).toBe(false);

    const spaceInString = classifyDiff(
      gitDiff([
        ["-", 'const NAME = "a b";'],
        ["+", 'const NAME = "a  b";'],
      ]),
    );
    expect(spaceInString.trivial).toBe(false);

    const joined = classifyDiff(
      gitDiff([
        ["-", "return a + b;"],
        ["+", "return ab;"],
      ]),
    );
    expect(joined.trivial).toBe(false);
  });

  it("does not take // inside a string for a comment", () => {
    const r = classifyDiff(
      gitDiff([
        ["-", 'const URL = "http://a"; // x'],
        ["+", 'const URL = "http://b"; // x'],
      ]),
    );
    expect(r.trivial).toBe(false);
  });

  it("handles several hunks, CRLF line ends and 'no newline' markers", () => {
    const diff = [
      "diff --git a/train.ts b/train.ts",
      "--- a/train.ts",
      "+++ b/train.ts",
      "@@ -1,2 +1,2 @@",
      "-// v1",
      "+// v2",
      " const A = 1;",
      "@@ -40 +40 @@",
      "-const SEED = 1;",
      "\\ No newline at end of file",
      "+const SEED = 2;",
      "\\ No newline at end of file",
    ].join("\r\n");
    expect(classifyDiff(diff)).toMatchObject({
      trivial: true,
      kind: "seed",
      reason: "only the seed constant SEED changed (besides comments or whitespace)",
    });
  });

  it("calls an empty diff trivial and a binary one code", () => {
    expect(classifyDiff("")).toMatchObject({ trivial: true, kind: "empty" });
    expect(classifyDiff("diff --git a/train.ts b/train.ts\nBinary files a/train.ts and b/train.ts differ\n").kind).toBe(
      "code",
    );
  });

  it("refuses text that is not a unified diff, or a truncated one", () => {
    expect(() => classifyDiff("const SEED = 42;")).toThrow(expect.objectContaining({ code: "STATS_INVALID_DIFF" }));
    const truncated = gitDiff([
      ["-", "const A = 1;"],
      ["+", "const A = 2;"],
      [" ", "x"],
    ])
      .split("\n")
      .slice(0, -2)
      .join("\n");
    expect(() => classifyDiff(truncated)).toThrow(/ends early/);
    expect(() => classifyDiff(42 as never)).toThrow(expect.objectContaining({ code: "STATS_INVALID_DIFF" }));
  });
});
