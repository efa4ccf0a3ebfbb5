/**
 * lab/: the git workspace of train.ts variants — the only part of nightshift that touches git
 * (through simple-git). It does not run train.ts, talk to agents or write the store.
 *
 *   const lab = await Lab.init(dir, { trainTs: baselineTrainTs(), readme: labReadme({ profile }) });
 *   const { branch, head } = await lab.startBranch(tag, org, baseCommit);   // nightshift/<tag>/<org>
 *
 * The loop's way, any number of slots on one run (each on nightshift-slots/<tag>/<org>/slot-<n>):
 *   const wt = await lab.addSlot(slot, branch);                             // <dir>/.worktrees/slot-<n>
 *   await lab.recover(wt, head);                                            // the slot starts at the run's head
 *   const { commit, parent, diff } = await lab.commitExperiment(wt, newTrainTs, description);
 *   //   ... run <wt.path>/train.ts, measure ...
 *   await lab.advanceBranch(branch, parent, commit);   // keep: compare-and-swap of the run branch
 *   await lab.resetBranch(branch, recordedHead);       // after a kill: the store's head is the truth
 *
 * Or one worktree on the run branch itself:
 *   const wt = await lab.addWorktree(slot, branch);
 *   const { commit, parent } = await lab.commitExperiment(wt, newTrainTs, description);
 *   await lab.keep(wt, commit);            // asserts the branch is at commit (nothing moves)
 *   await lab.discard(wt, parent);         // reset --hard parent + clean (a crash too)
 *
 * After a restart (kill -9 at any moment):
 *   const wt = await lab.addWorktree(slot, branch);   // reuses the slot, rebuilds a half-made one
 *   const fixed = await lab.recover(wt, lastRecordedHead);
 *
 * Guarantees:
 * - On a run branch only train.ts changes: commitExperiment reverts any other change in the
 *   worktree and throws LabError LAB_FOREIGN_CHANGE naming the files.
 * - Discarded commits stay in the repository, reachable by hash (gc never prunes: see
 *   LOCAL_CONFIG in lab.ts), so diffs and reruns of any experiment remain possible.
 * - recover leaves `git status` clean at the expected head, removing only locks that no live
 *   git process holds.
 * - One Lab per lab directory per process: calls on one worktree are serialized, slots run in
 *   parallel. Two processes must not drive the same lab at once.
 *
 * Someone else's repository (an autoresearch run to import) is read, never written, through
 * ForeignRepo (foreign-repo.ts): `await ForeignRepo.open(dir)`, then branchHead, findCommits
 * (branch, then reflog, then loose objects), diff and fileAt.
 *
 * Errors: LabError with a stable `code` (errors.ts), one line each.
 */
export { Lab, TRAIN_FILE, README_FILE, MAIN_BRANCH, WORKTREES_DIR } from "./lab.ts";
export type {
  LabInitOptions,
  StartBranchOptions,
  RunBranch,
  Worktree,
  WorktreeInfo,
  ExperimentCommit,
  CommitExperimentOptions,
  BranchLogOptions,
  RecoverOptions,
  Recovery,
  LogEntry,
} from "./types.ts";
export { LabError, type LabErrorCode } from "./errors.ts";
export { ForeignRepo, type ForeignCommit, type CommitFoundIn } from "./foreign-repo.ts";
export { BRANCH_PREFIX, SLOT_BRANCH_PREFIX, runBranchName, slotBranchName } from "./names.ts";
export { labReadme, type LabReadmeOptions } from "./readme.ts";
export { engineApi, type EngineApi, type ApiFunction, type ApiClass } from "./api-doc.ts";
export { baselineTrainTs, sourceTreeImports, toLabTrainTs } from "./recipe.ts";
