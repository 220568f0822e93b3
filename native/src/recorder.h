// Recorder: one loaded custody BPF object, its attachments, and the thread
// that polls its ring buffer and hands batches of raw wire records to JS.
//
// Threads: "main" is the JavaScript thread (constructor, methods, CallJs,
// the TSFN finalizer); "poll" is the one thread this class starts.
#pragma once

#include <napi.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "custody_wire.h"

struct bpf_object;
struct bpf_link;
struct bpf_map;
struct ring_buffer;

namespace custody {

// What the poll thread hands to JS: concatenated raw records (each starting
// with a custody_hdr, each a multiple of 8 bytes), or an error text.
struct Batch {
  std::vector<uint8_t> bytes;
  std::string error;
};

class Recorder : public Napi::ObjectWrap<Recorder> {
 public:
  static Napi::Function Init(Napi::Env env);
  explicit Recorder(const Napi::CallbackInfo& info);
  ~Recorder() override;

 private:
  static void CallJs(Napi::Env env, Napi::Function on_batch, Recorder* self, Batch* batch);
  static void OnTsfnFinalize(Napi::Env env, void* unused, Recorder* self);
  static void EnvCleanup(void* self);
  void ReportError(Napi::Env env, Napi::Value err);
  using Tsfn = Napi::TypedThreadSafeFunction<Recorder, Batch, CallJs>;

  Napi::Value Start(const Napi::CallbackInfo& info);
  Napi::Value Stop(const Napi::CallbackInfo& info);
  Napi::Value Counters(const Napi::CallbackInfo& info);
  Napi::Value AddPid(const Napi::CallbackInfo& info);
  Napi::Value RemovePid(const Napi::CallbackInfo& info);
  Napi::Value AddCgroup(const Napi::CallbackInfo& info);
  Napi::Value AddComm(const Napi::CallbackInfo& info);
  Napi::Value SetCredPrefixes(const Napi::CallbackInfo& info);
  Napi::Value SetRateLimit(const Napi::CallbackInfo& info);
  Napi::Value RingFill(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);

  void Load(Napi::Env env, const Napi::Object& opts);
  bool ProgramNeeded(const char* name) const;
  void MapRing(Napi::Env env);
  bpf_map* MapByName(Napi::Env env, const char* name) const;
  void CheckOpen(Napi::Env env) const;
  void PutPid(Napi::Env env, uint32_t tgid);
  void PutCgroup(Napi::Env env, uint64_t id);
  void PutComm(Napi::Env env, const std::string& comm);
  void PutCredPrefixes(Napi::Env env, const std::vector<std::string>& prefixes);
  void PutRateLimit(Napi::Env env, uint32_t kind, uint64_t per_sec, uint64_t burst);
  std::vector<custody_counters> ReadCounters() const;
  void DetachAll();
  void FreeBpf();
  void Shutdown();

  void PollLoop();
  static int OnSample(void* ctx, void* data, size_t len);
  void Flush(bool force);

  // configuration (fixed after the constructor)
  custody_config cfg_{};
  uint32_t ring_bytes_ = 0;
  size_t batch_bytes_ = 0;
  int flush_ms_ = 0;
  int max_in_flight_ = 0;

  // libbpf objects: created on main, used by poll only between Start and the join in Stop
  bpf_object* obj_ = nullptr;
  std::vector<bpf_link*> links_;
  std::vector<std::string> attached_;
  std::vector<std::string> warnings_;
  ring_buffer* rb_ = nullptr;
  void* cons_page_ = nullptr;  // read-only maps of the ring's consumer/producer positions
  void* prod_page_ = nullptr;
  size_t page_size_ = 0;

  // poll thread state
  std::thread thread_;
  std::atomic<bool> running_{false};
  std::atomic<int> in_flight_{0};
  std::vector<uint8_t> batch_;
  std::chrono::steady_clock::time_point batch_started_;
  bool draining_ = false;  // after stop: consume everything, ignore in_flight_

  // JS side
  Napi::FunctionReference on_batch_;
  Napi::FunctionReference on_error_;
  Tsfn tsfn_;
  Napi::Promise::Deferred* stopped_ = nullptr;  // resolved when the TSFN is finalized
  enum class State { Loaded, Running, Stopped } state_ = State::Loaded;
  bool tearing_down_ = false;
  std::vector<custody_counters> final_counters_;
};

}  // namespace custody
