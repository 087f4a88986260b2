// Persistent worker pool: created once per model, runs parallel_for regions
// with the calling thread taking part. Workers spin briefly (~100 µs) before
// sleeping so the many short regions of an encoder pass do not pay a futex
// wake each. Tasks are claimed dynamically and a worker joins a region only
// while it is open, so on a loaded machine the caller finishes the work itself
// instead of waiting for a descheduled worker to wake up.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace jepa {

class ThreadPool {
 public:
  // threads = total participants including the caller (>= 1).
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(task, thread) for task in [0, tasks); tasks are handed out
  // dynamically. thread is in [0, size()). Rethrows the first exception a
  // task threw after every participant has stopped. One region at a time
  // (callers serialise on the pool).
  void parallel_for(int64_t tasks, const std::function<void(int64_t, int)>& fn);

  static int hardware_threads();

 private:
  void worker_main(int index);
  void run_tasks(int thread);

  std::vector<std::thread> workers_;
  std::mutex region_mutex_;  // one region at a time
  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable done_;
  const std::function<void(int64_t, int)>* fn_ = nullptr;
  int64_t tasks_ = 0;
  std::atomic<int64_t> next_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<int> running_{0};  // workers inside the open region
  std::atomic<bool> open_{false};
  std::atomic<bool> failed_{false};
  std::exception_ptr error_;
  bool stop_ = false;
};

}  // namespace jepa
