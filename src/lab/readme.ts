/**
 * labReadme: the README.md committed in every lab, written for the research agents (and for
 * the human who reads along): what train.ts is, the rules it lives under, the TrainContext /
 * TrainedModel contract, the engine API it may call and the fixed profile constants. Every list
 * and type in it is generated from the running modules and their sources (see api-doc.ts), so
 * the README cannot drift from the engine or the harness. Pure: it writes nothing.
 */
import { PROFILES, type Profile, type ProfileConstants } from "../harness/constants.ts";
import { type ApiFunction, declarationText, engineApi, readSource } from "./api-doc.ts";
import { LabError, checkOptions, invalid } from "./errors.ts";

export interface LabReadmeOptions {
  /** The profile this lab's runs use; stated in the README (default: none marked). */
  profile?: Profile;
  /** The training budget in seconds when it is not the profile's TIME_BUDGET. */
  timeBudget?: number;
}

/** The harness contracts a train.ts is written against, in reading order. */
const CONTRACT_TYPES = [
  "TrainFunction",
  "TrainContext",
  "TrainedModel",
  "BudgetClock",
  "BatchLoader",
  "Batch",
  "TrainLogger",
  "StepReport",
] as const;

/** autoresearch's names for the profile constants, by ProfileConstants field. */
const CONSTANT_NAMES: Record<string, string> = {
  maxSeqLen: "MAX_SEQ_LEN",
  timeBudget: "TIME_BUDGET",
  evalTokens: "EVAL_TOKENS",
  vocabSize: "VOCAB_SIZE",
};

export function labReadme(options: LabReadmeOptions = {}): string {
  checkOptions("labReadme", options, ["profile", "timeBudget"]);
  if (options.profile !== undefined && !Object.hasOwn(PROFILES, options.profile))
    invalid(`labReadme: profile must be one of ${Object.keys(PROFILES).join(", ")}, got ${JSON.stringify(options.profile)}`);
  if (options.timeBudget !== undefined && !(Number.isFinite(options.timeBudget) && options.timeBudget > 0))
    invalid(`labReadme: timeBudget must be a positive number of seconds, got ${options.timeBudget}`);

  const harnessTypes = readSource("../harness/types.ts");
  const constantsSource = readSource("../harness/constants.ts");
  const api = engineApi();
  const budget = options.timeBudget ?? (options.profile ? PROFILES[options.profile].timeBudget : undefined);

  const out: string[] = [];
  const line = (s = "") => out.push(s);

  line("# nightshift lab");
  line();
  line("This repository is a nightshift lab: a git history of `train.ts` variants. `train.ts` holds the whole");
  line("training recipe — the GPT model, the optimizers, the schedules and the training loop — written on the");
  line("nightshift engine. The harness (fixed, outside this repository) gives it data, a seed and a wall-clock");
  line("budget, then measures the model it returns. Your job is to make that measurement, `val_bpb`, lower.");
  line();
  line("Each research run has its own branch, `nightshift/<tag>/<org>`. Every experiment is one commit on it:");
  line("a kept experiment stays (the branch advances), a discarded or crashed one is reset away. Every");
  line("experiment's diff, log and outcome is recorded outside the repository, kept or not.");
  line();

  line("## The rules");
  line();
  line("1. **Only `train.ts` may change.** An experiment that touches any other file — adding, editing or");
  line("   deleting one — is rejected before it runs. This README is not yours to edit.");
  line("2. **The entry point:** `train.ts` must `export default async function train(ctx)`, that is");
  line("   `(ctx: TrainContext) => Promise<TrainedModel>` (the contract is below).");
  line('3. **Imports:** only `"nightshift/engine"` (tensors, ops, optimizers) and `"nightshift/harness"`');
  line("   (the contract types and the profile constants). No other packages, no files, no network, no");
  line("   child processes.");
  line("4. **The harness owns the data, the seed, the budget and the metric.** The metric is `val_bpb`,");
  line("   validation bits per byte: **lower is better**. The harness computes it itself from the logits");
  line("   of `model.logits(idx)` on its pinned validation split; a loss that train.ts computes is shown");
  line("   in the progress line and never trusted.");
  line("5. **The budget:** train until `ctx.clock.expired()`, then return the model. Startup and the");
  line("   evaluation are not counted; a run that overshoots the budget is reported as over budget and");
  line("   discarded, never as a result. Steps slow down when the machine is busy, so do not start a step");
  line("   that would end past the budget: the baseline's `fitsAnotherStep` predicts the next step from");
  line("   the slowest of the recent ones. The step in flight may end a little late: the harness allows a");
  line("   grace of about two steps, at least max(1 s, 5%) and at most 10% of the budget.");
  line("6. **The seed:** derive every random choice from `ctx.seed` (e.g. `new Generator(ctx.seed)`); the");
  line("   data loader is already seeded. The same seed must give the same run: claimed improvements are");
  line("   rerun with fresh seeds, and a gain inside the noise does not survive.");
  line("7. **Memory:** tensors are freed deterministically, not by the garbage collector. The baseline runs");
  line("   each training step inside `scope(() => ...)`, which frees every tensor made in it when it returns.");
  line("   Make the weights and the optimizer state before the loop; `keep(t)` a tensor made in a step that a");
  line("   later step needs (and `dispose()` the one it replaces); return numbers from a step, not tensors.");
  line("8. **Progress:** call `ctx.logger.step({ step, loss, tokens, ... })` once per optimizer step.");
  line("9. **Outcomes:** a crash, a non-finite `val_bpb` or a run over budget is discarded (a crash may get");
  line("   a few fix attempts with its log tail). An experiment is **kept** only when its `val_bpb` is lower");
  line("   than the branch head's, within the budget and finite; the org's program.md may also ask for a");
  line("   minimum improvement per unit of added complexity. Simpler is better at equal `val_bpb`.");
  line("10. **Causal models only:** the logits at position t may depend only on tokens 0..t; the evaluator checks and marks look-ahead `invalid`.");
  line("11. **Held-out data is out of reach:** `train.ts` trains in a sandbox with the train split only — no val/test, store, lab `.git` or network.");
  line();

  line("## The contract (`nightshift/harness`)");
  line();
  line("```ts");
  line('import type { TrainContext, TrainedModel } from "nightshift/harness";');
  line("export default async function train(ctx: TrainContext): Promise<TrainedModel> { ... }");
  line("```");
  line();
  line("```ts");
  for (const name of CONTRACT_TYPES) {
    const text = declarationText(harnessTypes, name);
    if (!text) throw new LabError("LAB_README", `src/harness/types.ts declares no ${name}: the README generator needs updating`);
    line(text.trim());
    line();
  }
  out.pop();
  line("```");
  line();
  line("What a finished run reports (autoresearch's summary block, printed as `name: value` lines):");
  line();
  line("```ts");
  line((declarationText(harnessTypes, "RunSummary") ?? "").trim());
  line("```");
  line();

  line("## The engine API (`nightshift/engine`)");
  line();
  const importable = [...api.top.map((f) => f.name), ...api.classes.map((c) => c.name), "ops", "optim"].sort();
  line("```ts");
  line(`import { ${importable.join(", ")} } from "nightshift/engine";`);
  line("```");
  line();
  line("Tensors live on the run's device; attention tensors are `(B, T, H, D)`. Every op validates its");
  line("arguments and throws `EngineError` (with a `code`) on a bad shape or dtype.");
  line();
  line("### Top level");
  line();
  for (const f of api.top) line(entry("", f));
  line();
  for (const c of api.classes) {
    line(`### class ${c.name}`);
    line();
    if (c.doc) {
      line(c.doc);
      line();
    }
    for (const m of c.members) line(entry("", m));
    line();
  }
  line(`### ops (${api.ops.length} functions, differentiable)`);
  line();
  for (const f of api.ops) line(entry("ops.", f));
  line();
  line(`### optim (${api.optim.length} functions, in place, outside autograd)`);
  line();
  for (const f of api.optim) line(entry("optim.", f));
  line();
  if (api.types.length > 0) {
    line("### Types used above");
    line();
    line("```ts");
    line(api.types.join("\n\n"));
    line("```");
    line();
  }

  line("## The profile constants (`nightshift/harness`: `PROFILES`)");
  line();
  line("Fixed by the harness per profile. Runs under different profiles or budgets are never compared.");
  if (options.profile) {
    line(
      `**This lab runs under the \`${options.profile}\` profile` +
        (budget !== undefined ? ` with a training budget of ${budget} s` : "") +
        "** (`ctx.profile`, `ctx.constants`, `ctx.clock.budgetSeconds`).",
    );
  }
  line();
  const keys = Object.keys(Object.values(PROFILES)[0] ?? {}) as (keyof ProfileConstants)[];
  line(`| profile | ${keys.map((k) => `${CONSTANT_NAMES[k] ?? k} (\`${k}\`)`).join(" | ")} |`);
  line(`|---|${keys.map(() => "---:").join("|")}|`);
  for (const [name, constants] of Object.entries(PROFILES)) {
    const mark = name === options.profile ? " (this lab)" : "";
    line(`| ${name}${mark} | ${keys.map((k) => String(constants[k])).join(" | ")} |`);
  }
  line();
  line("```ts");
  line((declarationText(constantsSource, "ProfileConstants") ?? "").trim());
  line("```");
  line();
  return out.join("\n");
}

function entry(prefix: string, f: ApiFunction): string {
  return `- \`${prefix}${f.signature}\`${f.doc ? ` — ${f.doc}` : ""}`;
}
