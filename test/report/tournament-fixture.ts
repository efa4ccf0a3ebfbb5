/**
 * A tournament for the report tests: two small orgs (one program.md carries a hostile
 * `<script>` line, as agent-written text might), two nights (a child is bred after night 1 only
 * when another night follows), driven in process with the fake trainer (val_bpb a bowl around
 * tuned learning rates, the lab detuned, so there is a real gain to verify) — then a second,
 * empty tournament (started, no night finished) added through the store API. Test support only.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Lab, labReadme } from "../../src/lab/index.ts";
import { driveTournament, loadPopulation, startTournament } from "../../src/tournament/index.ts";
import { openWorkspace } from "../../src/workspace/workspace.ts";
import { FAKE_TRAIN_TS, fakeTrainer } from "../support/fake-trainer.ts";
import { fakeTournamentSettings } from "../support/fake-tournament.ts";
import { TEST_ORGS } from "../tournament/orgs.ts";

export const HOSTILE_PROGRAM_LINE = "<script>window.__pwned = 5</script> and <b>bold</b> | pipes";

function writeOrgs(dir: string): void {
  for (const name of ["lr", "wd"]) {
    mkdirSync(join(dir, name), { recursive: true });
    const strategy = JSON.stringify(TEST_ORGS[name], null, 2);
    writeFileSync(join(dir, name, "program.md"), `# nightshift — the ${name} org\n\n${HOSTILE_PROGRAM_LINE}\n\n\`\`\`nightshift-strategy\n${strategy}\n\`\`\`\n`);
  }
}

/** Runs tournament `t1` (2 nights, 2 orgs) in `root`/ws and adds an empty tournament `empty`. */
export async function buildTournamentWorkspace(root: string): Promise<string> {
  const dir = join(root, "ws");
  const orgs = join(root, "orgs");
  const detuned = FAKE_TRAIN_TS.replace("MATRIX_LR = 0.04;", "MATRIX_LR = 0.0004;");
  await Lab.init(join(dir, "lab"), { trainTs: detuned, readme: labReadme({ profile: "cpu" }) });
  writeOrgs(orgs);
  const ws = await openWorkspace(dir, "cpu", { trainer: fakeTrainer({ noiseSd: 0.002, optima: { MATRIX_LR: 0.04 } }).train });
  try {
    const settings = fakeTournamentSettings(join(root, "data"), { experimentsPerNight: 4, verify: { maxSeeds: 4, minSeeds: 2, alpha: 0.05, effect: 0.002, championAlpha: 0.01, confirmSeeds: 3 } });
    const t1 = await startTournament(ws, { name: "t1", nights: 2, population: loadPopulation(orgs), settings });
    await driveTournament(ws, t1, { slots: [{ slot: 0, label: "cpu", env: {} }] });
    const orgIds = ws.store.listMembers(t1.id).slice(0, 2).map((m) => m.org.id);
    const empty = ws.store.createTournament({ name: "empty", nights: 2, baseCommit: t1.baseCommit, orgIds });
    ws.store.startNight(empty.id, 1);
  } finally {
    ws.store.close();
  }
  return dir;
}
