// Child-process script for core.test.ts: tensors dropped without dispose() outside any scope
// are released once the GC has run and the event loop has turned. Prints JSON.
import { liveHandles, memoryStats, zeros } from "../../src/engine/index.ts";

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with --expose-gc");
const before = { handles: liveHandles(), bytes: memoryStats().liveBytes };
(() => {
  for (let i = 0; i < 1000; i++) zeros([256]); // never disposed, never scoped
})();
const during = liveHandles();
for (let round = 0; round < 5 && liveHandles() > before.handles; round++) {
  gc();
  await new Promise((resolve) => setImmediate(resolve));
}
console.log(JSON.stringify({ before, during, after: { handles: liveHandles(), bytes: memoryStats().liveBytes } }));
