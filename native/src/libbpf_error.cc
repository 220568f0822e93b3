#include "libbpf_error.h"

#include <bpf/libbpf.h>
#include <errno.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>

namespace custody {
namespace {

std::mutex log_mutex;
std::string log_text;
constexpr size_t kLogKeep = 16 * 1024;
bool log_debug = false;

// Runs on whichever thread called into libbpf (main thread for open/load/attach).
int PrintFn(enum libbpf_print_level level, const char* fmt, va_list args) {
  if (level == LIBBPF_DEBUG && !log_debug) return 0;
  // The verifier log comes as one message, often far over a page: format it whole, since
  // the reason a program was rejected is at its end (the last kLogKeep bytes are kept).
  va_list copy;
  va_copy(copy, args);
  int n = vsnprintf(nullptr, 0, fmt, copy);
  va_end(copy);
  if (n < 0) return 0;
  std::string buf(static_cast<size_t>(n) + 1, '\0');
  va_copy(copy, args);
  vsnprintf(buf.data(), buf.size(), fmt, copy);
  va_end(copy);
  buf.resize(static_cast<size_t>(n));
  if (log_debug) fputs(buf.c_str(), stderr);
  if (level == LIBBPF_DEBUG) return 0;
  std::lock_guard<std::mutex> lock(log_mutex);
  log_text.append(buf);
  if (log_text.size() > kLogKeep) log_text.erase(0, log_text.size() - kLogKeep);
  return 0;
}

const char* Hint(int err) {
  switch (err) {
    case EPERM:
    case EACCES:
      return "Loading eBPF needs root (or CAP_BPF, CAP_PERFMON and CAP_SYS_RESOURCE): run as root.";
    case ENOENT:
    case ESRCH:
      return "A kernel type, tracepoint or file was not found: check that /sys/kernel/btf/vmlinux "
             "exists (kernel built with CONFIG_DEBUG_INFO_BTF=y) and that bpf/build/custody.bpf.o "
             "was built on this kernel family (npm run build:native).";
    case EINVAL:
    case E2BIG:
      return "The kernel rejected a program or map: see the libbpf/verifier log above; the kernel "
             "may be too old for this object.";
    case ENOMEM:
      return "Out of memory for BPF maps: use a smaller ring buffer.";
    case EOPNOTSUPP:
      return "This kernel lacks a needed eBPF feature (raw tracepoints, ring buffers).";
    default:
      return "";
  }
}

}  // namespace

void InstallLibbpfLog() {
  const char* dbg = getenv("CUSTODY_BPF_DEBUG");
  log_debug = dbg && *dbg && *dbg != '0';
  libbpf_set_print(PrintFn);
}

void ClearLibbpfLog() {
  std::lock_guard<std::mutex> lock(log_mutex);
  log_text.clear();
}

std::string TakeLibbpfLog() {
  std::lock_guard<std::mutex> lock(log_mutex);
  std::string out;
  out.swap(log_text);
  return out;
}

std::string LibbpfErrorMessage(const std::string& step, int err) {
  if (err < 0) err = -err;
  char text[256] = {0};
  libbpf_strerror(err, text, sizeof(text));
  std::string msg = step + ": " + text + " (errno " + std::to_string(err) + ").";
  const char* hint = Hint(err);
  if (*hint) msg += std::string(" ") + hint;
  std::string log = TakeLibbpfLog();
  if (!log.empty()) {
    // The tail is where the verifier says why.
    constexpr size_t kTail = 3000;
    if (log.size() > kTail) log = "..." + log.substr(log.size() - kTail);
    msg += "\nlibbpf log:\n" + log;
  }
  return msg;
}

}  // namespace custody
