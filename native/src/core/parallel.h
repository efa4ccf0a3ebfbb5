// A persistent thread pool for data-parallel kernels. Sized to the machine's cores, or to
// NIGHTSHIFT_NUM_THREADS when set. Work is split into static, contiguous ranges; calls made
// from inside a worker run inline (no nested parallelism, no deadlock).
#pragma once
#include <cstdint>
#include <functional>

namespace ns {

int num_threads();
void set_num_threads(int n);

// Runs fn(begin, end) over [0, n) in at most num_threads() ranges of at least `grain` items.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

// Runs fn(i) for i in [0, count) across the pool. Use a count that does not depend on the
// thread count when results are combined afterwards: reductions stay bit-identical whatever
// NIGHTSHIFT_NUM_THREADS says.
void parallel_tasks(int64_t count, const std::function<void(int64_t)>& fn);

}  // namespace ns
