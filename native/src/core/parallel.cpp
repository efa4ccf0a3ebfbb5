// Thread pool: workers sleep on a condition variable; the caller takes tasks too, so a pool of
// N threads uses N-1 workers plus the calling thread.
#include "core/parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace ns {
namespace {

thread_local bool in_worker = false;

// One call of run(): its own counters, so that a worker still finishing (or waking late for) an
// earlier job can never take or count an item of the next one. With shared counters, a worker
// preempted between two resets could add its completion to the old count just before the reset
// (or take an item twice), and the caller waited forever with every thread idle.
struct Job {
  const std::function<void(int64_t)>* fn;
  int64_t count;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
};

class ThreadPool {
 public:
  explicit ThreadPool(int n) { resize(n); }
  ~ThreadPool() { stop_workers(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int n) {
    stop_workers();
    n = std::max(1, n);
    stopping_ = false;
    for (int i = 0; i < n - 1; ++i) workers_.emplace_back([this] { worker_loop(); });
  }

  void run(int64_t count, const std::function<void(int64_t)>& fn) {
    if (count <= 0) return;
    if (count == 1 || workers_.empty() || in_worker) {
      for (int64_t i = 0; i < count; ++i) fn(i);
      return;
    }
    std::lock_guard<std::mutex> serial(run_mutex_);  // one job at a time
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->count = count;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      current_ = job;
      error_ = nullptr;
      ++generation_;
    }
    cv_.notify_all();
    in_worker = true;
    drain(*job);
    in_worker = false;
    std::unique_lock<std::mutex> lock(mutex_);
    done_cv_.wait(lock, [&] { return job->done.load() == job->count; });
    current_.reset();
    if (error_) std::rethrow_exception(error_);
  }

 private:
  // Every item is taken once (next) and counted once (done); fn is only called for items taken
  // while the job is running, so a late worker never touches a finished job's fn.
  void drain(Job& job) {
    for (;;) {
      int64_t i = job.next.fetch_add(1);
      if (i >= job.count) break;
      try {
        (*job.fn)(i);
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
      }
      if (job.done.fetch_add(1) + 1 == job.count) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_cv_.notify_all();
      }
    }
  }

  void worker_loop() {
    in_worker = true;
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        cv_.wait(lock, [&] { return stopping_ || (generation_ != seen && current_ != nullptr); });
        if (stopping_) return;
        seen = generation_;
        job = current_;
      }
      drain(*job);
    }
  }

  void stop_workers() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex run_mutex_, mutex_;
  std::condition_variable cv_, done_cv_;
  std::shared_ptr<Job> current_;
  uint64_t generation_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

int default_threads() {
  if (const char* env = std::getenv("NIGHTSHIFT_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw ? static_cast<int>(hw) : 1;
}

ThreadPool& pool() {
  static ThreadPool p(default_threads());
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }
void set_num_threads(int n) { pool().resize(n); }

void parallel_tasks(int64_t count, const std::function<void(int64_t)>& fn) { pool().run(count, fn); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t chunks = std::min<int64_t>(num_threads(), (n + grain - 1) / grain);
  if (chunks <= 1 || in_worker) {
    fn(0, n);
    return;
  }
  const int64_t per = (n + chunks - 1) / chunks;
  pool().run(chunks, [&](int64_t c) {
    int64_t b = c * per, e = std::min(n, b + per);
    if (b < e) fn(b, e);
  });
}

}  // namespace ns
