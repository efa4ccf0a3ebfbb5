/**
 * The builtin agent and its strategy block: parsing and validation of program.md's
 * nightshift-strategy block, the recipe's knobs, proposals applied to the real baseline
 * train.ts, the history replay, and CMA-ES against random search on a synthetic objective fed
 * back through the agent's own history. No device, no network: pure TypeScript.
 */
import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { BuiltinAgent, BuiltinAgentError, checkBuiltinSetup, formatChanges, parseChanges, readRecipeConstants } from "../../src/agents/builtin/index.ts";
import { cmaInit, cmaParameters, cmaSample, cmaUpdate, symmetricEigen } from "../../src/agents/builtin/cmaes.ts";
import { replayHistory } from "../../src/agents/builtin/history.ts";
import { toUnit } from "../../src/agents/builtin/knobs.ts";
import { SeededRandom } from "../../src/agents/builtin/random.ts";
import { applyEdits } from "../../src/agents/edits.ts";
import { StrategyError, parseStrategy, type KnobSpec, type Strategy } from "../../src/agents/strategy.ts";
import type { AgentContext, HistoryEntry, Proposal } from "../../src/agents/types.ts";

const RECIPE = readFileSync(new URL("../../src/recipe/train.ts", import.meta.url), "utf8");
const PROGRAM_MD = readFileSync(new URL("../../program.md", import.meta.url), "utf8");

/** A program.md whose strategy block is `json`, after some prose (the block starts on line 5). */
function programWith(json: string): string {
  return `# org\n\nSome prose.\n\n\`\`\`nightshift-strategy\n${json}\n\`\`\`\n\nMore prose.\n`;
}
const BLOCK_FIRST_LINE = 6;

function strategyMd(strategy: Partial<Strategy> & { knobs: KnobSpec[] }): string {
  return programWith(JSON.stringify(strategy, null, 2));
}

function strategyError(programMd: string): StrategyError {
  try {
    parseStrategy(programMd);
  } catch (e) {
    if (e instanceof StrategyError) return e;
    throw e;
  }
  throw new Error("expected a StrategyError");
}

const THREE_KNOBS: KnobSpec[] = [
  { name: "MATRIX_LR", kind: "log", min: 0.005, max: 0.2 },
  { name: "WARMDOWN_RATIO", kind: "linear", min: 0, max: 1 },
  { name: "WEIGHT_DECAY", kind: "linear", min: 0, max: 0.4 },
];

function context(programMd: string, overrides: Partial<AgentContext> = {}): AgentContext {
  return { programMd, trainTs: RECIPE, labReadme: "", history: [], seed: 1, ...overrides };
}

async function proposal(programMd: string, overrides: Partial<AgentContext> = {}): Promise<Proposal> {
  const result = await new BuiltinAgent().propose(context(programMd, overrides));
  expect(result.proposal).not.toBeNull();
  return result.proposal!;
}

describe("parseStrategy", () => {
  it("parses a block with every key", () => {
    const s = parseStrategy(
      programWith(`{
  "optimizer": "random",
  "explorationRate": 0.25,
  "simplicityThreshold": 0.002,
  "stepSize": 0.2,
  "populationSize": 8,
  "maxChanges": 2,
  "knobs": [
    { "name": "MATRIX_LR", "kind": "log", "min": 0.01, "max": 0.1 },
    { "name": "ADAM_BETAS[0]", "kind": "linear", "min": 0.7, "max": 0.95 },
    { "name": "ASPECT_RATIO", "kind": "int", "min": 32, "max": 96 },
    { "name": "WINDOW_PATTERN", "kind": "choice", "choices": ["SSSL", "L"] }
  ]
}`),
    );
    expect(s).toEqual({
      optimizer: "random",
      explorationRate: 0.25,
      simplicityThreshold: 0.002,
      stepSize: 0.2,
      populationSize: 8,
      maxChanges: 2,
      knobs: [
        { name: "MATRIX_LR", kind: "log", min: 0.01, max: 0.1 },
        { name: "ADAM_BETAS[0]", kind: "linear", min: 0.7, max: 0.95 },
        { name: "ASPECT_RATIO", kind: "int", min: 32, max: 96 },
        { name: "WINDOW_PATTERN", kind: "choice", choices: ["SSSL", "L"] },
      ],
    });
  });

  it("fills the defaults of optional keys", () => {
    const s = parseStrategy(strategyMd({ knobs: [THREE_KNOBS[0]!] }))!;
    expect(s).toMatchObject({ optimizer: "cma-es", explorationRate: 0.1, simplicityThreshold: 0, stepSize: 0.3 });
    expect(s.populationSize).toBeUndefined();
    expect(s.maxChanges).toBeUndefined();
  });

  it("returns null when program.md has no strategy block, other fenced blocks notwithstanding", () => {
    expect(parseStrategy("# org\n\n```json\n{\"knobs\": []}\n```\n\n~~~\ntext\n~~~\n")).toBeNull();
    expect(parseStrategy("")).toBeNull();
  });

  it.each([
    ["a missing comma", '{\n  "knobs": []\n  "optimizer": "random"\n}', 2, /expected ',' or '}'/],
    ["a single-quoted string", "{\n  \"optimizer\": 'random'\n}", 1, /single quote/],
    ["an unquoted key", "{\n\n  knobs: []\n}", 2, /'knobs' \(keys and strings need double quotes\)/],
    ["a trailing comma", '{\n  "knobs": [1, 2,\n  ]\n}', 1, /trailing comma/],
    ["an unterminated string", '{\n  "knobs": "abc\n}', 1, /unterminated string/],
    ["an empty block", "", 0, /empty/],
    ["text after the object", '{ "knobs": [] }\n}', 1, /after the JSON value/],
  ])("reports bad JSON (%s) with its program.md line", (_name, json, offset, message) => {
    const err = strategyError(programWith(json));
    expect(err.code).toBe("STRATEGY_SYNTAX");
    expect(err.line).toBe(BLOCK_FIRST_LINE + offset);
    expect(err.message).toMatch(message);
    expect(err.message).toMatch(new RegExp(`^program.md line ${err.line}: `));
  });

  it("rejects an unknown key by name, with its line and the likely fix", () => {
    const err = strategyError(programWith('{\n  "knobs": [{ "name": "MATRIX_LR", "kind": "log", "min": 0.01, "max": 0.1 }],\n  "explorationRte": 0.2\n}'));
    expect(err.code).toBe("STRATEGY_UNKNOWN_KEY");
    expect(err.line).toBe(BLOCK_FIRST_LINE + 2);
    expect(err.message).toMatch(/unknown strategy key 'explorationRte' — did you mean 'explorationRate'\?/);
  });

  it("rejects an unknown knob key by name", () => {
    const err = strategyError(programWith('{\n  "knobs": [\n    { "name": "MATRIX_LR", "kind": "log", "min": 0.01, "maximum": 0.1 }\n  ]\n}'));
    expect(err.code).toBe("STRATEGY_UNKNOWN_KEY");
    expect(err.line).toBe(BLOCK_FIRST_LINE + 2);
    expect(err.message).toMatch(/unknown knob key 'maximum'/);
  });

  it.each([
    ["min above max", '{ "name": "MATRIX_LR", "kind": "linear", "min": 0.1, "max": 0.01 }', "STRATEGY_INVALID", /min 0.1 must be below max 0.01/],
    ["min equal to max", '{ "name": "MATRIX_LR", "kind": "linear", "min": 0.1, "max": 0.1 }', "STRATEGY_INVALID", /must be below max/],
    ["a log knob reaching 0", '{ "name": "MATRIX_LR", "kind": "log", "min": 0, "max": 0.1 }', "STRATEGY_INVALID", /log scale: 'min' must be > 0/],
    ["an int knob with a fractional bound", '{ "name": "ASPECT_RATIO", "kind": "int", "min": 32.5, "max": 96 }', "STRATEGY_INVALID", /'min' must be an integer/],
    ["a bound that is a string", '{ "name": "MATRIX_LR", "kind": "linear", "min": "0", "max": 1 }', "STRATEGY_INVALID", /'min' must be a number, got "0"/],
    ["a missing bound", '{ "name": "MATRIX_LR", "kind": "linear", "min": 0 }', "STRATEGY_MISSING_KEY", /needs 'max'/],
    ["an unknown kind", '{ "name": "MATRIX_LR", "kind": "exp", "min": 0, "max": 1 }', "STRATEGY_INVALID", /'kind' must be one of log, linear, int, choice/],
    ["a choice knob with one choice", '{ "name": "WINDOW_PATTERN", "kind": "choice", "choices": ["L"] }', "STRATEGY_INVALID", /at least two/],
    ["mixed choices", '{ "name": "WINDOW_PATTERN", "kind": "choice", "choices": ["L", 2] }', "STRATEGY_INVALID", /all numbers or all strings/],
    ["a choice knob with bounds", '{ "name": "WINDOW_PATTERN", "kind": "choice", "min": 0, "choices": ["L", "S"] }', "STRATEGY_INVALID", /takes 'choices', not 'min'/],
    ["a name that is not a constant", '{ "name": "matrix lr", "kind": "linear", "min": 0, "max": 1 }', "STRATEGY_INVALID", /constant's name/],
    ["two element suffixes", '{ "name": "DEPTH.cpu.x", "kind": "int", "min": 1, "max": 9 }', "STRATEGY_INVALID", /"DEPTH.cpu"/],
    ["an empty key", '{ "name": "DEPTH.", "kind": "int", "min": 1, "max": 9 }', "STRATEGY_INVALID", /constant's name/],
  ])("rejects a knob with %s, on its line", (_name, knob, code, message) => {
    const err = strategyError(programWith(`{\n  "knobs": [\n    ${knob}\n  ]\n}`));
    expect(err.code).toBe(code);
    expect(err.line).toBe(BLOCK_FIRST_LINE + 2);
    expect(err.message).toMatch(message);
  });

  it.each([
    ["explorationRate above 1", '"explorationRate": 1.5', /'explorationRate' must be a number from 0 to 1, got 1.5/],
    ["a negative simplicityThreshold", '"simplicityThreshold": -0.001', /'simplicityThreshold' must be a number ≥ 0/],
    ["an unknown optimizer", '"optimizer": "tpe"', /'optimizer' must be one of "cma-es", "random", got "tpe"/],
    ["a fractional populationSize", '"populationSize": 6.5', /'populationSize' must be an integer ≥ 2/],
    ["a zero stepSize", '"stepSize": 0', /'stepSize' must be a number in \(0, 1\]/],
  ])("rejects %s", (_name, entry, message) => {
    const err = strategyError(programWith(`{\n  "knobs": [{ "name": "MATRIX_LR", "kind": "log", "min": 0.01, "max": 0.1 }],\n  ${entry}\n}`));
    expect(err.code).toBe("STRATEGY_INVALID");
    expect(err.line).toBe(BLOCK_FIRST_LINE + 2);
    expect(err.message).toMatch(message);
  });

  it("rejects a strategy without knobs, a knob listed twice, two blocks and an unclosed block", () => {
    expect(strategyError(programWith('{ "optimizer": "random" }')).code).toBe("STRATEGY_MISSING_KEY");
    expect(strategyError(programWith('{ "knobs": [] }')).message).toMatch(/non-empty list/);
    const twice = strategyError(strategyMd({ knobs: [THREE_KNOBS[0]!, THREE_KNOBS[0]!] }));
    expect([twice.code, twice.message]).toEqual(["STRATEGY_DUPLICATE", expect.stringMatching(/knob 'MATRIX_LR' is listed twice/)]);
    const good = strategyMd({ knobs: [THREE_KNOBS[0]!] });
    const two = strategyError(`${good}\n\`\`\`nightshift-strategy\n{}\n\`\`\`\n`);
    expect(two.code).toBe("STRATEGY_DUPLICATE");
    expect(two.line).toBe(good.split("\n").length + 1);
    const unclosed = strategyError("# org\n\n```nightshift-strategy\n{}\n");
    expect([unclosed.code, unclosed.line]).toEqual(["STRATEGY_SYNTAX", 3]);
  });
});

describe("the default program.md", () => {
  it("states the keep rule and the simplicity criterion", () => {
    expect(PROGRAM_MD).toMatch(/lower than the branch head's/);
    expect(PROGRAM_MD).toMatch(/within the time budget/);
    expect(PROGRAM_MD).toMatch(/finite/);
    expect(PROGRAM_MD).toMatch(/simpler is better/);
    expect(PROGRAM_MD).toMatch(/removing something and getting equal or better results/);
    expect(PROGRAM_MD).toMatch(/commit\tval_bpb\tmemory_gb\tstatus\tdescription/);
    expect(PROGRAM_MD).toMatch(/Never stop/i);
  });

  it("has a valid strategy block whose knobs all exist in the recipe", () => {
    const strategy = parseStrategy(PROGRAM_MD)!;
    expect(strategy.knobs.length).toBeGreaterThanOrEqual(3);
    const knobs = checkBuiltinSetup(PROGRAM_MD, RECIPE);
    expect(knobs.map((k) => k.name)).toEqual(strategy.knobs.map((k) => k.name));
    // Every knob's current value lies in its search range, so the search starts at the recipe.
    for (const [i, spec] of strategy.knobs.entries()) {
      const value = knobs[i]!.value;
      if (spec.kind === "choice") expect(spec.choices).toContain(value);
      else {
        expect(value).toBeGreaterThanOrEqual(spec.min!);
        expect(value).toBeLessThanOrEqual(spec.max!);
      }
    }
  });
});

describe("the recipe's knobs", () => {
  it("finds the top-level constants of train.ts with their current values", () => {
    const constants = readRecipeConstants(RECIPE);
    const values = Object.fromEntries([...constants].map(([name, c]) => [name, c.value]));
    expect(values).toMatchObject({
      ASPECT_RATIO: 64,
      WINDOW_PATTERN: "SSSL",
      EMBEDDING_LR: 0.6,
      UNEMBEDDING_LR: 0.004,
      MATRIX_LR: 0.04,
      SCALAR_LR: 0.5,
      WEIGHT_DECAY: 0.2,
      ADAM_BETAS: [0.8, 0.95],
      WARMUP_RATIO: 0,
      WARMDOWN_RATIO: 0.5,
      FINAL_LR_FRAC: 0,
      DEPTH: { cpu: 4, gpu: 8 },
      HEAD_DIM: { cpu: 64, gpu: 128 },
      DEVICE_BATCH_SIZE: { cpu: 8, gpu: 32 },
      TOTAL_BATCH_SIZE: { cpu: 2048, gpu: 2 ** 19 },
    });
    expect(constants.get("MATRIX_LR")!.text).toBe("export const MATRIX_LR = 0.04; // matrix parameters (Muon)");
  });

  it("reads the literals a recipe may use and skips expressions", () => {
    const src = [
      "export const A = 1_000;",
      "export const B: number = -2.5e-3; // typed",
      "export const C = 'single';",
      "export const D = [1, 2, 3,];",
      "export const E = 2 ** 19;",
      "  export const F = 1; // not top level",
      "const G = 1; // not exported",
      "export const H = { cpu: 4, gpu: 8 }; // per profile",
      "export const I: Record<Profile, number> = { cpu: 1_024, gpu: -2.5e-3, };",
      "export const J = { cpu: { depth: 4 } };",
      "export const K = { 'cpu': 4 };",
      "export const L = { cpu: 4, cpu: 5 };",
      "export const M = { cpu: DEPTH };",
      "export const N = {};",
    ].join("\n");
    const values = Object.fromEntries([...readRecipeConstants(src)].map(([n, c]) => [n, c.value]));
    expect(values).toEqual({
      A: 1000,
      B: -0.0025,
      C: "single",
      D: [1, 2, 3],
      H: { cpu: 4, gpu: 8 },
      I: { cpu: 1024, gpu: -0.0025 },
    });
  });

  it("tunes one profile's value of a per-profile constant and leaves the rest of its line alone", async () => {
    const md = strategyMd({ knobs: [{ name: "DEPTH.cpu", kind: "int", min: 2, max: 12 }], explorationRate: 1 });
    expect(checkBuiltinSetup(md, RECIPE)).toEqual([{ name: "DEPTH.cpu", value: 4 }]);
    const p = await proposal(md, { seed: 5 });
    const [change] = parseChanges(p.description)!;
    expect(change).toMatchObject({ name: "DEPTH.cpu", from: 4 });
    expect(p.edits).toEqual([
      {
        file: "train.ts",
        search: "export const DEPTH: PerProfile = { cpu: 4, gpu: 8 }; // number of transformer layers",
        replace: `export const DEPTH: PerProfile = { cpu: ${change!.to}, gpu: 8 }; // number of transformer layers`,
      },
    ]);
    const after = readRecipeConstants(applyEdits(RECIPE, p.edits));
    expect(after.get("DEPTH")!.value).toEqual({ cpu: change!.to, gpu: 8 });
  });

  it("names a knob of the strategy that train.ts lacks", async () => {
    const md = strategyMd({ knobs: [THREE_KNOBS[0]!, { name: "DROPOUT", kind: "linear", min: 0, max: 0.5 }] });
    const err = await new BuiltinAgent().propose(context(md)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BuiltinAgentError);
    expect((err as BuiltinAgentError).code).toBe("KNOB_NOT_FOUND");
    expect((err as BuiltinAgentError).message).toMatch(/the strategy's knob 'DROPOUT' is not in train.ts/);
  });

  it.each([
    [{ name: "WINDOW_PATTERN", kind: "log", min: 1, max: 2 }, /a log knob but train.ts's value is the string "SSSL"/],
    [{ name: "ADAM_BETAS", kind: "linear", min: 0, max: 1 }, /is a list; name one element, e.g. 'ADAM_BETAS\[0\]'/],
    [{ name: "ADAM_BETAS[2]", kind: "linear", min: 0, max: 1 }, /has only 2 elements/],
    [{ name: "MATRIX_LR[0]", kind: "linear", min: 0, max: 1 }, /MATRIX_LR is not a list/],
    [{ name: "ASPECT_RATIO", kind: "choice", choices: ["a", "b"] }, /choices are strings but train.ts's value 64 is a number/],
    [{ name: "DEPTH", kind: "int", min: 1, max: 9 }, /DEPTH has one value per key \(cpu, gpu\); name one, e.g. 'DEPTH.cpu'/],
    [{ name: "DEPTH[0]", kind: "int", min: 1, max: 9 }, /name one, e.g. 'DEPTH.cpu'/],
    [{ name: "DEPTH.tpu", kind: "int", min: 1, max: 9 }, /DEPTH has no key 'tpu' \(keys: cpu, gpu\)/],
    [{ name: "MATRIX_LR.cpu", kind: "log", min: 0.01, max: 0.1 }, /MATRIX_LR is not an object of values/],
    [{ name: "ADAM_BETAS.cpu", kind: "linear", min: 0, max: 1 }, /ADAM_BETAS is a list; name an element by index/],
  ] as [KnobSpec, RegExp][])("rejects a knob whose kind does not fit the constant: %o", (spec, message) => {
    let err: unknown;
    try {
      checkBuiltinSetup(strategyMd({ knobs: [spec] }), RECIPE);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BuiltinAgentError);
    expect((err as BuiltinAgentError).code).toBe("KNOB_TYPE");
    expect((err as BuiltinAgentError).message).toMatch(message);
  });

  it("asks for a strategy block when program.md has none", async () => {
    const err = await new BuiltinAgent().propose(context("# org\nno block\n")).catch((e: unknown) => e);
    expect((err as BuiltinAgentError).code).toBe("NO_STRATEGY");
  });
});

describe("proposals", () => {
  const MIXED: KnobSpec[] = [
    ...THREE_KNOBS,
    { name: "ADAM_BETAS[0]", kind: "linear", min: 0.7, max: 0.95 },
    { name: "ADAM_BETAS[1]", kind: "linear", min: 0.9, max: 0.999 },
    { name: "ASPECT_RATIO", kind: "int", min: 32, max: 96 },
    { name: "WINDOW_PATTERN", kind: "choice", choices: ["SSSL", "SL", "L"] },
    { name: "DEPTH.cpu", kind: "int", min: 2, max: 8 },
    { name: "TOTAL_BATCH_SIZE.cpu", kind: "choice", choices: [1024, 2048, 4096] },
  ];

  /** The recipe's values, with list and object elements as their own entries (ADAM_BETAS[0], DEPTH.cpu). */
  function flatValues(trainTs: string): Map<string, number | string> {
    const out = new Map<string, number | string>();
    for (const [name, c] of readRecipeConstants(trainTs)) {
      if (Array.isArray(c.value)) c.value.forEach((v, i) => out.set(`${name}[${i}]`, v));
      else if (typeof c.value === "object") for (const [key, v] of Object.entries(c.value)) out.set(`${name}.${key}`, v);
      else out.set(name, c.value);
    }
    return out;
  }

  it("apply cleanly to the recipe and change exactly the named constants, to in-bounds values", async () => {
    const md = strategyMd({ knobs: MIXED, explorationRate: 0.5 });
    const before = flatValues(RECIPE);
    for (let seed = 0; seed < 40; seed++) {
      const p = await proposal(md, { seed });
      const after = applyEdits(RECIPE, p.edits);
      const changes = parseChanges(p.description)!;
      expect(changes.length).toBeGreaterThan(0);
      const values = flatValues(after);
      for (const [name, value] of values) {
        const change = changes.find((c) => c.name === name);
        if (!change) {
          expect(value, name).toEqual(before.get(name));
          continue;
        }
        expect(change.from).toEqual(before.get(name));
        expect(value).toEqual(change.to);
        expect(value).not.toEqual(change.from);
        const spec = MIXED.find((k) => k.name === name)!;
        if (spec.kind === "choice") expect(spec.choices).toContain(value);
        else {
          expect(value).toBeGreaterThanOrEqual(spec.min!);
          expect(value).toBeLessThanOrEqual(spec.max!);
        }
        if (spec.kind === "int") expect(Number.isInteger(value)).toBe(true);
      }
      // Only the constants' own lines differ.
      const oldLines = RECIPE.split("\n");
      const newLines = after.split("\n");
      expect(newLines.length).toBe(oldLines.length);
      const changedLines = newLines.filter((line, i) => line !== oldLines[i]);
      expect(changedLines.length).toBe(new Set(changes.map((c) => c.name.replace(/(\[\d+\]|\.\w+)$/, ""))).size);
      for (const line of changedLines)
        expect(line).toMatch(/^export const \w+(: \[number, number\]|: PerProfile)? = .+; \/\/|^export const ADAM_BETAS/);
      expect(p.hypothesis.length).toBeGreaterThan(10);
    }
  });

  it("are free and carry the builtin usage", async () => {
    const result = await new BuiltinAgent().propose(context(strategyMd({ knobs: THREE_KNOBS })));
    expect(result.usage).toEqual({ model: "builtin", calls: 1, inputTokens: 0, outputTokens: 0, costUsd: 0 });
    expect(result.attempts).toBe(1);
  });

  it("are deterministic for a seed and vary across seeds", async () => {
    const md = strategyMd({ knobs: MIXED });
    expect(await proposal(md, { seed: 7 })).toEqual(await proposal(md, { seed: 7 }));
    const descriptions = new Set<string>();
    for (let seed = 0; seed < 20; seed++) descriptions.add((await proposal(md, { seed })).description);
    expect(descriptions.size).toBe(20);
  });

  it("never propose a no-op, even where most draws round back to the current value", async () => {
    // Two choices, the current one among them, and a tiny step size: most CMA-ES draws land on
    // the current choice and must be drawn again.
    const md = strategyMd({
      knobs: [{ name: "WINDOW_PATTERN", kind: "choice", choices: ["SSSL", "L"] }],
      stepSize: 0.01,
      explorationRate: 0,
    });
    for (let seed = 0; seed < 20; seed++) {
      const p = await proposal(md, { seed });
      expect(p.description).toBe('WINDOW_PATTERN "SSSL" -> "L"');
      expect(applyEdits(RECIPE, p.edits)).toContain('export const WINDOW_PATTERN = "L"; // sliding window pattern');
    }
  });

  it("change at most maxChanges knobs, those the sample moves most", async () => {
    const md = strategyMd({ knobs: MIXED, maxChanges: 2, explorationRate: 1 });
    for (let seed = 0; seed < 20; seed++) {
      const changes = parseChanges((await proposal(md, { seed })).description)!;
      expect(changes.length).toBeGreaterThanOrEqual(1);
      expect(changes.length).toBeLessThanOrEqual(2);
    }
  });

  it("write a description that parses back to the changes made", async () => {
    const p = await proposal(strategyMd({ knobs: MIXED, explorationRate: 1 }), { seed: 3 });
    const changes = parseChanges(p.description)!;
    expect(formatChanges(changes)).toBe(p.description);
    expect(p.description).toMatch(/^[A-Z_]+(\[\d\]|\.cpu)? \S+ -> \S+(; [A-Z_]+(\[\d\]|\.cpu)? \S+ -> \S+)*$/);
    expect(parseChanges('MATRIX_LR 0.04 -> 0.05; WINDOW_PATTERN "SSSL" -> "S;L"; ADAM_BETAS[1] 0.95 -> 0.9; DEPTH.cpu 4 -> 6')).toEqual([
      { name: "MATRIX_LR", from: 0.04, to: 0.05 },
      { name: "WINDOW_PATTERN", from: "SSSL", to: "S;L" },
      { name: "ADAM_BETAS[1]", from: 0.95, to: 0.9 },
      { name: "DEPTH.cpu", from: 4, to: 6 },
    ]);
    for (const foreign of ["baseline", "increase LR to 0.04", "MATRIX_LR 0.04 -> fast", "MATRIX_LR 0.04 → 0.05", ""])
      expect(parseChanges(foreign), foreign).toBeNull();
  });

  it("decline to repair a crash, at no cost", async () => {
    const result = await new BuiltinAgent().propose(context(strategyMd({ knobs: THREE_KNOBS }), { crashLog: "Error: boom" }));
    expect(result.proposal).toBeNull();
    expect(result.error).toMatch(/cannot repair a crash/);
    expect(result.usage.costUsd).toBe(0);
  });
});

describe("history replay", () => {
  const entry = (description: string, status: HistoryEntry["status"], val_bpb: number | null): HistoryEntry => ({
    commit: "0000000",
    val_bpb,
    memory_gb: 0,
    status,
    description,
  });

  it("rebuilds every experiment's knob vector; kept experiments move the base", () => {
    // train.ts now: A = 3, B = "y" (after two kept changes).
    const current = new Map<string, number | string>([
      ["A", 3],
      ["B", "y"],
    ]);
    const history = [
      entry("baseline", "keep", 1.5),
      entry("A 1 -> 2", "keep", 1.4),
      entry('A 2 -> 9; B "x" -> "z"', "discard", 1.6),
      entry("A 2 -> 5", "crash", null),
      entry('A 2 -> 3; B "x" -> "y"', "keep", 1.3),
      entry("try a wider MLP", "discard", 1.35),
    ];
    const { observations, start } = replayHistory(history, current);
    expect(Object.fromEntries(start)).toEqual({ A: 1, B: "x" });
    expect(observations.map((o) => [Object.fromEntries(o.values), o.valBpb])).toEqual([
      [{ A: 1, B: "x" }, 1.5],
      [{ A: 2, B: "x" }, 1.4],
      [{ A: 9, B: "z" }, 1.6],
      [{ A: 5, B: "x" }, null],
      [{ A: 3, B: "y" }, 1.3],
    ]);
  });

  it("stops at a kept change it cannot read: what came before ran on another recipe", () => {
    const current = new Map<string, number | string>([["A", 2]]);
    const history = [entry("A 1 -> 3", "discard", 1.2), entry("rewrite attention", "keep", 1.1), entry("A 1 -> 2", "keep", 1.0)];
    const { observations, start } = replayHistory(history, current);
    expect(observations.map((o) => o.valBpb)).toEqual([1.0]);
    expect(Object.fromEntries(start)).toEqual({ A: 1 });
    // A kept change whose values do not match train.ts (someone edited it since) stops it too.
    expect(replayHistory([entry("A 1 -> 7", "keep", 1.0)], current).observations).toEqual([]);
  });
});

describe("CMA-ES", () => {
  it("decomposes a symmetric matrix exactly (A = B Λ Bᵀ, B orthonormal)", () => {
    const rng = new SeededRandom(5);
    const n = 6;
    const m = Array.from({ length: n }, () => Array.from({ length: n }, () => rng.normal()));
    const a = m.map((_, i) => m.map((_, j) => m[i]!.reduce((s, mik, k) => s + mik * m[j]![k]!, 0) + (i === j ? 0.1 : 0)));
    const { values, vectors } = symmetricEigen(a);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < n; j++) {
        const rebuilt = values.reduce((s, lambda, k) => s + vectors[i]![k]! * lambda * vectors[j]![k]!, 0);
        expect(rebuilt).toBeCloseTo(a[i]![j]!, 10);
        const dot = vectors.reduce((s, row) => s + row[i]! * row[j]!, 0);
        expect(dot).toBeCloseTo(i === j ? 1 : 0, 10);
      }
  });

  it("minimizes an ill-conditioned ellipsoid, learning its shape", () => {
    const d = 4;
    const target = [0.3, 0.6, 0.45, 0.7];
    const scales = [1, 10, 100, 1000];
    const f = (x: number[]) => x.reduce((s, xi, i) => s + scales[i]! * (xi - target[i]!) ** 2, 0);
    const params = cmaParameters(d);
    let state = cmaInit([0.5, 0.5, 0.5, 0.5], 0.3);
    const rng = new SeededRandom(11);
    for (let g = 0; g < 120; g++) {
      const points = Array.from({ length: params.lambda }, () => cmaSample(state, () => rng.normal()));
      state = cmaUpdate(state, params, points, points.map(f));
    }
    expect(f(state.mean)).toBeLessThan(1e-8);
    // The learned covariance is widest along the flattest axis.
    expect(state.cov[0]![0]!).toBeGreaterThan(100 * state.cov[3]![3]!);
  });
});

describe("learning from history", () => {
  /**
   * A quadratic bowl over three knobs in normalized space, its minimum drawn per seed: runs
   * `evaluations` proposals through the agent with the keep rule, feeding val_bpb back through
   * the history, and returns the best value reached.
   */
  async function bestAfter(optimizer: "cma-es" | "random", seed: number, evaluations: number): Promise<number> {
    const programMd = strategyMd({ knobs: THREE_KNOBS, optimizer, explorationRate: 0.1 });
    const optimumRng = new SeededRandom(424242, seed);
    const optimum = THREE_KNOBS.map(() => 0.1 + 0.8 * optimumRng.uniform());
    const objective = (trainTs: string): number => {
      const constants = readRecipeConstants(trainTs);
      return THREE_KNOBS.reduce((s, spec, i) => s + (toUnit(spec, constants.get(spec.name)!.value as number) - optimum[i]!) ** 2, 1);
    };
    const agent = new BuiltinAgent();
    let trainTs = RECIPE;
    let head = objective(trainTs);
    const history: HistoryEntry[] = [{ commit: "base", val_bpb: head, memory_gb: 0, status: "keep", description: "baseline" }];
    let best = head;
    for (let i = 0; i < evaluations; i++) {
      const { proposal } = await agent.propose({ programMd, trainTs, labReadme: "", history, seed: seed * 1000 + i });
      const candidate = applyEdits(trainTs, proposal!.edits);
      const value = objective(candidate);
      best = Math.min(best, value);
      const keep = value < head;
      if (keep) {
        trainTs = candidate;
        head = value;
      }
      history.push({ commit: `c${i}`, val_bpb: value, memory_gb: 0, status: keep ? "keep" : "discard", description: proposal!.description });
    }
    return best - 1; // the distance² to the optimum
  }

  it("CMA-ES beats random search on a quadratic bowl within 40 evaluations (mean over 12 seeds)", async () => {
    const seeds = Array.from({ length: 12 }, (_, i) => i + 1);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    const cma: number[] = [];
    const random: number[] = [];
    for (const seed of seeds) {
      cma.push(await bestAfter("cma-es", seed, 40));
      random.push(await bestAfter("random", seed, 40));
    }
    console.log(
      `quadratic bowl, 3 knobs, 40 evaluations, ${seeds.length} seeds: best distance² to the optimum, ` +
        `CMA-ES mean ${mean(cma).toExponential(3)}, random search mean ${mean(random).toExponential(3)}`,
    );
    expect(mean(cma)).toBeLessThan(mean(random));
  });
});
