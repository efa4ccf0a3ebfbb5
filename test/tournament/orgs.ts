/** Test support: four small orgs whose strategy blocks name knobs of the small recipe. */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const org = (name: string, strategy: object) => `# nightshift — the ${name} org\n\nA test org.\n\n\`\`\`nightshift-strategy\n${JSON.stringify(strategy, null, 2)}\n\`\`\`\n`;

export const TEST_ORGS: Record<string, object> = {
  lr: { stepSize: 0.3, explorationRate: 0.5, knobs: [{ name: "MATRIX_LR", kind: "log", min: 0.00001, max: 0.1 }, { name: "UNEMBEDDING_LR", kind: "log", min: 0.000001, max: 0.01 }] },
  wd: { stepSize: 0.2, knobs: [{ name: "WEIGHT_DECAY", kind: "linear", min: 0, max: 0.4 }] },
  warm: { stepSize: 0.2, knobs: [{ name: "WARMDOWN_RATIO", kind: "linear", min: 0.2, max: 0.8 }] },
  betas: { stepSize: 0.2, knobs: [{ name: "ADAM_BETAS[0]", kind: "linear", min: 0.7, max: 0.95 }] },
};

export function writeTestOrgs(dir: string, names = Object.keys(TEST_ORGS)): string {
  for (const name of names) {
    mkdirSync(join(dir, name), { recursive: true });
    writeFileSync(join(dir, name, "program.md"), org(name, TEST_ORGS[name]!));
  }
  return dir;
}
