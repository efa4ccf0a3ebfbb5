/** Whether a process is alive, for cleaning up what a killed process left behind. */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0); // signal 0: checks existence and permission, sends nothing
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM"; // alive, just not ours
  }
}
