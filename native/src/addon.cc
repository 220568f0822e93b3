// custody_bpf: node-addon-api wrapper around libbpf for the custody recorder.
//   Recorder  load/attach/poll one custody BPF object (recorder.cc)
//   layout()  wire struct sizes and offsets (layout.cc)
//   clocks()  CLOCK_BOOTTIME and CLOCK_REALTIME read back to back, in ns
#include <napi.h>
#include <time.h>

#include "layout.h"
#include "libbpf_error.h"
#include "recorder.h"

namespace {

// Main thread. Lets JS map the records' boot-time ns to wall-clock time.
Napi::Value Clocks(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  struct timespec boot, real;
  clock_gettime(CLOCK_BOOTTIME, &boot);
  clock_gettime(CLOCK_REALTIME, &real);
  auto ns = [](const struct timespec& ts) -> uint64_t {
    return static_cast<uint64_t>(ts.tv_sec) * uint64_t{1000000000} + static_cast<uint64_t>(ts.tv_nsec);
  };
  Napi::Object out = Napi::Object::New(env);
  out.Set("boottimeNs", Napi::BigInt::New(env, ns(boot)));
  out.Set("realtimeNs", Napi::BigInt::New(env, ns(real)));
  return out;
}

// Main thread, once per process.
Napi::Object Init(Napi::Env env, Napi::Object exports) {
  custody::InstallLibbpfLog();
  exports.Set("Recorder", custody::Recorder::Init(env));
  exports.Set("layout", Napi::Function::New(env, custody::Layout, "layout"));
  exports.Set("clocks", Napi::Function::New(env, Clocks, "clocks"));
  return exports;
}

}  // namespace

NODE_API_MODULE(custody_bpf, Init)
