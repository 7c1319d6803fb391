// Threads for the kernels: the OpenMP runtime PyTorch uses when the build has OpenMP, else a small
// persistent thread pool. Kernels get their thread count from the caller (Python passes
// torch.get_num_threads()). Calls from several Python threads at once are safe: only one caller
// drives the workers at a time, the others run their tasks on their own thread instead of waiting.
#include <algorithm>
#include <atomic>
#include <exception>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <unistd.h>
#include <vector>

#include "nnslim/gemm.h"

namespace nnslim {

#ifndef _OPENMP
namespace {

constexpr int kSpinIterations = 20000;  // ~50-100 us of pause instructions

inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

class ThreadPool {
 public:
  ~ThreadPool() {
    {
      std::lock_guard<std::mutex> lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    for (auto& t : workers_) t.join();
  }

  // Returns false when another caller is using the pool.
  bool run(int ntasks, int nthreads, const std::function<void(int)>& fn) {
    std::unique_lock<std::mutex> owner(owner_mu_, std::try_to_lock);
    if (!owner.owns_lock()) return false;
    grow(nthreads - 1);
    {
      std::lock_guard<std::mutex> lk(mu_);
      fn_ = &fn;
      ntasks_ = ntasks;
      next_.store(0);
      helpers_wanted_ = nthreads - 1;
      helpers_active_ = 0;
      ++generation_;
      published_.store(generation_, std::memory_order_release);
    }
    cv_.notify_all();
    work();
    std::unique_lock<std::mutex> lk(mu_);
    helpers_wanted_ = 0;  // latecomers of this generation must not start
    done_cv_.wait(lk, [&] { return helpers_active_ == 0; });
    fn_ = nullptr;
    return true;
  }

 private:
  void grow(int n) {
    while (int(workers_.size()) < n) workers_.emplace_back([this] { loop(); });
  }

  void work() {
    for (int t = next_.fetch_add(1); t < ntasks_; t = next_.fetch_add(1)) (*fn_)(t);
  }

  void loop() {
    uint64_t seen = 0;
    std::unique_lock<std::mutex> lk(mu_);
    for (;;) {
      if (!stop_ && generation_ == seen) {
        // Layers run back to back: spin briefly before sleeping, since a futex wake-up on a busy VM
        // can arrive tens of microseconds late (or on the caller's core) and halve the 2-thread gain.
        lk.unlock();
        for (int i = 0; i < kSpinIterations && published_.load(std::memory_order_acquire) == seen; ++i)
          spin_pause();
        lk.lock();
      }
      cv_.wait(lk, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      if (helpers_wanted_ <= 0) continue;
      --helpers_wanted_;
      ++helpers_active_;
      lk.unlock();
      work();
      lk.lock();
      if (--helpers_active_ == 0) done_cv_.notify_all();
    }
  }

  std::mutex owner_mu_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* fn_ = nullptr;
  int ntasks_ = 0;
  std::atomic<int> next_{0};
  int helpers_wanted_ = 0, helpers_active_ = 0;
  uint64_t generation_ = 0;
  std::atomic<uint64_t> published_{0};  // generation_, readable without the lock while spinning
  bool stop_ = false;
};

ThreadPool* pool_for_this_process() {
  // A forked child inherits the pool object but not its threads: give it a fresh one (the old one
  // is deliberately leaked, joining threads that do not exist would hang).
  static pid_t owner_pid = 0;
  static ThreadPool* pool = nullptr;
  static std::mutex mu;
  std::lock_guard<std::mutex> lk(mu);
  if (pool == nullptr || owner_pid != getpid()) {
    pool = new ThreadPool();
    owner_pid = getpid();
  }
  return pool;
}

}  // namespace
#endif  // !_OPENMP

int clamp_threads(int num_threads) {
  static const int hw_threads = std::max(1, int(std::thread::hardware_concurrency()));
  return std::max(1, std::min(num_threads, 4 * hw_threads));
}

void parallel_for(int ntasks, int num_threads, const std::function<void(int)>& fn) {
  if (ntasks <= 0) return;
  if (num_threads > ntasks) num_threads = ntasks;
  // More threads than the machine has only adds contention (and an absurd request would start them).
  static const int hw_threads = std::max(1, int(std::thread::hardware_concurrency()));
  if (num_threads > 4 * hw_threads) num_threads = 4 * hw_threads;
  if (num_threads <= 1) {
    for (int t = 0; t < ntasks; ++t) fn(t);
    return;
  }
  // An exception must not leave a worker (std::terminate under OpenMP): keep the first, rethrow here.
  std::exception_ptr error;
  std::mutex error_mu;
  auto guarded = [&](int t) {
    try {
      fn(t);
    } catch (...) {
      std::lock_guard<std::mutex> lk(error_mu);
      if (!error) error = std::current_exception();
    }
  };
#ifdef _OPENMP
  // With OpenMP the kernels run on the same libgomp team as PyTorch (nnslim imports torch first, so
  // the loader resolves libgomp.so.1 to torch's copy). A private pool would compete with torch's
  // workers, which spin for milliseconds after every torch op: measured, it cost the second thread.
  // Static chunks: thread i always takes the i-th contiguous range of tasks, so a layer's output rows
  // and the next layer's reads of them stay in the same core's L2 (dynamic scheduling scattered them
  // and paid cross-core transfers: measured 8-11% of ResNet-18 / MobileNetV2 at 2 threads, AMX Xeon).
#pragma omp parallel for schedule(static) num_threads(num_threads)
  for (int t = 0; t < ntasks; ++t) guarded(t);
#else
  const std::function<void(int)> task = guarded;
  if (!pool_for_this_process()->run(ntasks, num_threads, task)) {
    for (int t = 0; t < ntasks; ++t) guarded(t);
  }
#endif
  if (error) std::rethrow_exception(error);
}

}  // namespace nnslim
