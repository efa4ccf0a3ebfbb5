/**
 * A real tournament for the report tests: two small orgs (one program.md carries a hostile
 * `<script>` line, as agent-written text might), two nights of 1 s trainings on the small
 * recipe lab over a tiny dataset (two nights: a child is bred after night 1 only when another
 * night follows), run through the real CLI — then a second, empty tournament
 * (started, no night finished) added through the store API. Test support only.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { openStore } from "../../src/store/index.ts";
import { initSmallLab } from "../support/small-lab.ts";
import { writeTinyDataset } from "../support/tiny-dataset.ts";
import { TEST_ORGS } from "../tournament/orgs.ts";

export const HOSTILE_PROGRAM_LINE = "<script>window.__pwned = 5</script> and <b>bold</b> | pipes";
const BIN = fileURLToPath(new URL("../../bin/nightshift.js", import.meta.url));

function writeOrgs(dir: string): void {
  for (const name of ["lr", "wd"]) {
    mkdirSync(join(dir, name), { recursive: true });
    const strategy = JSON.stringify(TEST_ORGS[name], null, 2);
    writeFileSync(join(dir, name, "program.md"), `# nightshift — the ${name} org\n\n${HOSTILE_PROGRAM_LINE}\n\n\`\`\`nightshift-strategy\n${strategy}\n\`\`\`\n`);
  }
}

/** Runs tournament `t1` (2 nights, 2 orgs) in `root`/ws and adds an empty tournament `empty`. */
export async function buildTournamentWorkspace(root: string): Promise<string> {
  const dataset = join(root, "data");
  const ws = join(root, "ws");
  const orgs = join(root, "orgs");
  writeTinyDataset(dataset, { docs: { val: 100, test: 200 } });
  await initSmallLab(ws, { detuned: true });
  writeOrgs(orgs);
  const r = spawnSync(
    process.execPath,
    [BIN, "tournament", "start", "t1", "--nights", "2", "--experiments", "4", "--orgs", orgs, "--time-budget", "1", "--dataset", dataset, "--max-seeds", "2", "--profile", "cpu", "--workspace", ws],
    { encoding: "utf8", env: { ...process.env, NIGHTSHIFT_HOME: root }, timeout: 240_000 },
  );
  if (r.status !== 0) throw new Error(`the tournament failed (${r.status}): ${r.stderr}`);
  const store = openStore(join(ws, "nightshift.db"));
  try {
    const t1 = store.getTournamentByName("t1")!;
    const orgIds = store.listMembers(t1.id).slice(0, 2).map((m) => m.org.id);
    const empty = store.createTournament({ name: "empty", nights: 2, baseCommit: t1.baseCommit, orgIds });
    store.startNight(empty.id, 1);
  } finally {
    store.close();
  }
  return ws;
}
