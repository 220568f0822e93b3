#pragma once
#include <napi.h>

namespace custody {
// layout(): sizeof/offsetof of every wire struct field, as compiled from
// bpf/custody_wire.h, plus the kind numbers and bounds. Main thread.
Napi::Value Layout(const Napi::CallbackInfo& info);
}  // namespace custody
