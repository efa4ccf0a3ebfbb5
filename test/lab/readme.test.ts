/**
 * The agents' README and the lab's baseline train.ts: the README states the rules, documents
 * exactly the ops and optimizer kernels the engine exports (compared with the modules' own
 * exports), the harness contract and the profile constants; the baseline recipe, rewritten for
 * a lab, bundles with the runner's own compiler.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as engine from "../../src/engine/index.ts";
import * as ops from "../../src/engine/ops.ts";
import * as optim from "../../src/engine/optim.ts";
import { PROFILES } from "../../src/harness/constants.ts";
import { bundleRun } from "../../src/harness/runner/compile.ts";
import { Lab, LabError, baselineTrainTs, engineApi, labReadme, toLabTrainTs } from "../../src/lab/index.ts";

let readme: string;
let root: string;
beforeAll(() => {
  readme = labReadme({ profile: "cpu", timeBudget: 60 });
  root = mkdtempSync(join(tmpdir(), "nightshift-readme-"));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

describe("labReadme", () => {
  it("states the rules", () => {
    expect(readme).toMatch(/Only `train\.ts` may change/);
    expect(readme).toContain("export default async function train(ctx)");
    expect(readme).toMatch(/harness owns the data, the seed, the budget and the metric/);
    expect(readme).toMatch(/`val_bpb`[\s\S]*lower is better/);
    expect(readme).toContain("ctx.clock.expired()");
    // The budget rule names the baseline's own guard, which the lab's train.ts must then have.
    expect(readme).toContain("`fitsAnotherStep`");
    expect(baselineTrainTs()).toContain("export function fitsAnotherStep(");
    expect(readme).toContain("new Generator(ctx.seed)");
    expect(readme).toMatch(/kept\*\* only when its `val_bpb` is lower/);
    expect(readme).toMatch(/Causal models only:\*\* the logits at position t may depend only on tokens 0\.\.t;.*`invalid`/);
    expect(readme).toMatch(/Held-out data is out of reach:\*\* `train\.ts` trains in a sandbox with the train split only/);
  });

  it("lists exactly the ops and optimizer kernels the engine exports", () => {
    const listed = (prefix: string) =>
      new Set([...readme.matchAll(new RegExp(`^- \`${prefix}\\.(\\w+)\\(`, "gm"))].map((m) => m[1]!));
    expect([...listed("ops")].sort()).toEqual(Object.keys(ops).sort());
    expect([...listed("optim")].sort()).toEqual(Object.keys(optim).sort());
    expect(readme).toContain(`### ops (${Object.keys(ops).length} functions`);
    // Names from the runtime exports, signatures and docs from the source.
    expect(readme).toContain("- `ops.add(a: Tensor, b: Operand): Tensor` — a + b with numpy broadcasting");
    expect(readme).toContain("- `ops.attention(q: Tensor, k: Tensor, v: Tensor, options: AttentionOptions = {}): Tensor`");
    expect(readme).toContain(
      "- `optim.muonStep(params: Tensor[], grads: Tensor[], momentumBuffer: Tensor, secondMomentumBuffer: Tensor, h: MuonHyper): void`",
    );
    expect(readme).toContain("type Operand = Tensor | number;");
    expect(readme).toMatch(/export interface AttentionOptions \{/);
    expect(readme).toMatch(/export interface MuonHyper \{/);
  });

  it("documents every other export of nightshift/engine, and the public Tensor API only", () => {
    const importLine = readme.split("\n").find((l) => l.startsWith("import {") && l.endsWith('from "nightshift/engine";'))!;
    const imported = importLine.slice("import { ".length, importLine.indexOf(" }")).split(", ");
    expect(imported.sort()).toEqual(Object.keys(engine).sort());
    expect(readme).toContain("- `scope<R>(fn: () => R): R`");
    expect(readme).toContain("- `noGrad<R>(fn: () => R): R` — Runs fn with autograd off");
    expect(readme).toContain("### class Tensor");
    expect(readme).toContain("- `backward(grad?: Tensor): void` — Backpropagates from this tensor.");
    expect(readme).toContain("- `shape: number[]`");
    expect(readme).toContain("- `new Generator(seed: number | bigint)`");
    expect(readme).not.toMatch(/^- `(native|unscoped)\b/m); // @internal members stay out
    const api = engineApi();
    for (const f of [...api.ops, ...api.optim, ...api.top]) expect(f.signature).toMatch(new RegExp(`^${f.name}\\b`));
  });

  it("lists the ops installed as Tensor methods under class Tensor, and the parameter registry", () => {
    const tensorSection = readme.slice(readme.indexOf("### class Tensor"), readme.indexOf("\n### ", readme.indexOf("### class Tensor") + 1));
    const listed = new Set([...tensorSection.matchAll(/^- `(\w+)\(/gm)].map((m) => m[1]!));
    const { Tensor } = engine;
    const installed = Object.getOwnPropertyNames(Tensor.prototype).filter((name) => {
      const value: unknown = Object.getOwnPropertyDescriptor(Tensor.prototype, name)?.value;
      return typeof value === "function" && Symbol.for("nightshift.tensorMethod") in value;
    });
    expect(installed.length).toBeGreaterThan(20);
    for (const name of installed) expect(listed, name).toContain(name);
    expect(tensorSection).toContain("- `linear(w: Tensor): Tensor` — this @ w^T");
    expect(tensorSection).toContain("`x.add(y)` is `ops.add(x, y)`");
    expect(readme).toContain("### class ParamRegistry");
    expect(readme).toContain("- `add(name: string, shape: number[], init: Init, group: G): Tensor` — Declares a float32 parameter");
    expect(readme).toMatch(/export type Init =\n {2}\| \{ normal: number, mean\?: number \}\n[^;]*\| \(\(param: Tensor, gen: Generator\) => void\);/);
  });

  it("quotes the harness contract and the profile constants", () => {
    for (const type of ["TrainContext", "TrainedModel", "BudgetClock", "BatchLoader", "TrainLogger", "StepReport", "RunSummary"])
      expect(readme).toMatch(new RegExp(`export interface ${type} \\{`));
    expect(readme).toContain("trainLoader(batchSize: number, seqLen?: number): BatchLoader;");
    expect(readme).toContain("logits(idx: Tensor): Tensor;");
    expect(readme).toContain("export type TrainFunction = (ctx: TrainContext) => Promise<TrainedModel>;");
    for (const [name, c] of Object.entries(PROFILES)) {
      const row = readme.split("\n").find((l) => l.startsWith(`| ${name}`))!;
      expect(row).toContain(`| ${c.maxSeqLen} | ${c.timeBudget} | ${c.evalTokens} | ${c.vocabSize} |`);
    }
    expect(readme).toContain("| cpu (this lab) |");
    expect(readme).toMatch(/`cpu` profile with a training budget of 60 s/);
    expect(readme).toContain("MAX_SEQ_LEN (`maxSeqLen`)");
  });

  it("checks its options", () => {
    expect(() => labReadme({ profile: "tpu" as never })).toThrow(LabError);
    expect(() => labReadme({ profil: "cpu" } as never)).toThrow(/did you mean 'profile'/);
    expect(() => labReadme({ timeBudget: -1 })).toThrow(/timeBudget/);
    expect(labReadme()).not.toContain("(this lab)");
  });
});

describe("the baseline train.ts of a lab", () => {
  it("imports only nightshift/engine and nightshift/harness", () => {
    const train = baselineTrainTs();
    const specifiers = [...train.matchAll(/from\s*"([^"]+)"/g)].map((m) => m[1]);
    expect(new Set(specifiers)).toEqual(new Set(["nightshift/engine", "nightshift/harness"]));
    expect(train).toContain("export default async function train(ctx: TrainContext): Promise<TrainedModel>");
    expect(() => toLabTrainTs('import { x } from "./helpers.ts";\n')).toThrow(/may import only nightshift\/engine/);
  });

  it("is committed in a new lab with the README and bundles with the runner's compiler", async () => {
    const lab = await Lab.init(join(root, "lab"), { trainTs: baselineTrainTs(), readme });
    const { branch } = await lab.startBranch("t", "o", "main");
    const wt = await lab.addWorktree(0, branch);
    const out = join(root, "bundle.mjs");
    await bundleRun(join(wt.path, "train.ts"), out);
    expect(existsSync(out)).toBe(true);
    expect((await lab.readTrainTs(wt)).length).toBeGreaterThan(1000);
  });
});
