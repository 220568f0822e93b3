#include "recorder.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "libbpf_error.h"

namespace custody {
namespace {

constexpr const char* kVmlinuxBtf = "/sys/kernel/btf/vmlinux";
constexpr int kBackpressure = -ECANCELED;  // OnSample -> ring_buffer__poll: stop and let JS catch up
constexpr uint64_t kMaxRate = 1000000;

// Programs attached only when their event kinds (or filters) need them.
// Optional ones may be missing on older kernels: a failed attach is a warning.
struct ProgramSpec {
  const char* name;
  bool optional;
};
constexpr ProgramSpec kPrograms[] = {
    {"handle_exec", false},
    {"handle_fork", false},
    {"handle_exit", false},
    {"handle_sys_enter", false},
    {"handle_sys_exit", false},
    {"handle_inet_sock_set_state", false},
    {"handle_tcp_send_reset", true},
    {"handle_tcp_receive_reset", true},
    {"handle_signal_generate", false},
};

Napi::Error ErrorWithCode(Napi::Env env, const std::string& message, const char* code) {
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

uint32_t GetUint(const Napi::Object& opts, const char* key, uint32_t dflt, uint32_t min, uint32_t max) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined()) return dflt;
  if (!v.IsNumber()) throw Napi::TypeError::New(opts.Env(), std::string("option ") + key + " must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d != static_cast<double>(static_cast<uint64_t>(d)) || d < min || d > max)
    throw Napi::RangeError::New(opts.Env(), std::string("option ") + key + " must be an integer in [" +
                                                std::to_string(min) + ", " + std::to_string(max) + "]");
  return static_cast<uint32_t>(d);
}

bool GetBool(const Napi::Object& opts, const char* key) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined()) return false;
  if (!v.IsBoolean()) throw Napi::TypeError::New(opts.Env(), std::string("option ") + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

Napi::Array GetArray(const Napi::Object& opts, const char* key) {
  Napi::Value v = opts.Get(key);
  if (v.IsUndefined()) return Napi::Array::New(opts.Env());
  if (!v.IsArray()) throw Napi::TypeError::New(opts.Env(), std::string("option ") + key + " must be an array");
  return v.As<Napi::Array>();
}

uint32_t ToTgid(Napi::Env env, const Napi::Value& v) {
  if (!v.IsNumber()) throw Napi::TypeError::New(env, "a pid must be a number");
  double d = v.As<Napi::Number>().DoubleValue();
  if (d < 1 || d > 4194304 || d != static_cast<double>(static_cast<uint32_t>(d)))
    throw Napi::RangeError::New(env, "a pid must be an integer in [1, 4194304]");
  return static_cast<uint32_t>(d);
}

uint64_t ToCgroupId(Napi::Env env, const Napi::Value& v) {
  if (v.IsBigInt()) {
    bool lossless = false;
    uint64_t id = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless || id == 0) throw Napi::RangeError::New(env, "a cgroup id must be a positive 64-bit integer");
    return id;
  }
  if (v.IsNumber()) {
    double d = v.As<Napi::Number>().DoubleValue();
    if (d < 1 || d > 9007199254740991.0 || d != static_cast<double>(static_cast<uint64_t>(d)))
      throw Napi::RangeError::New(env, "a cgroup id must be a positive integer");
    return static_cast<uint64_t>(d);
  }
  throw Napi::TypeError::New(env, "a cgroup id must be a bigint or a number");
}

std::string ToString(Napi::Env env, const Napi::Value& v, const char* what) {
  if (!v.IsString()) throw Napi::TypeError::New(env, std::string(what) + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

bool IsPowerOfTwo(uint32_t v) { return v && !(v & (v - 1)); }

}  // namespace

// Main thread.
Napi::Function Recorder::Init(Napi::Env env) {
  return DefineClass(env, "Recorder",
                     {
                         InstanceMethod<&Recorder::Start>("start"),
                         InstanceMethod<&Recorder::Stop>("stop"),
                         InstanceMethod<&Recorder::Counters>("counters"),
                         InstanceMethod<&Recorder::AddPid>("addPid"),
                         InstanceMethod<&Recorder::RemovePid>("removePid"),
                         InstanceMethod<&Recorder::AddCgroup>("addCgroup"),
                         InstanceMethod<&Recorder::AddComm>("addComm"),
                         InstanceMethod<&Recorder::SetCredPrefixes>("setCredPrefixes"),
                         InstanceMethod<&Recorder::SetRateLimit>("setRateLimit"),
                         InstanceMethod<&Recorder::RingFill>("ringFill"),
                         InstanceMethod<&Recorder::Info>("info"),
                     });
}

// Main thread. Opens, configures and loads the object (the verifier runs
// here), and fills the filter maps. Nothing is attached until start().
Recorder::Recorder(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Recorder>(info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) throw Napi::TypeError::New(env, "new Recorder(options): options object required");
  try {
    Load(env, info[0].As<Napi::Object>());
  } catch (...) {
    FreeBpf();  // the destructor does not run for a failed constructor
    throw;
  }
}

// Main thread (GC finalizer). A running recorder holds a reference to itself,
// so this only runs for one never started or already stopped.
Recorder::~Recorder() {
  if (thread_.joinable()) {
    DetachAll();
    running_.store(false);
    thread_.join();
  }
  FreeBpf();
}

// Main thread.
void Recorder::Load(Napi::Env env, const Napi::Object& opts) {
  Napi::Value path_v = opts.Get("objectPath");
  if (!path_v.IsString()) throw Napi::TypeError::New(env, "option objectPath (path to custody.bpf.o) is required");
  std::string path = path_v.As<Napi::String>().Utf8Value();

  Napi::Value cb = opts.Get("onBatch");
  if (!cb.IsFunction()) throw Napi::TypeError::New(env, "option onBatch must be a function (batch: Buffer) => void");
  on_batch_ = Napi::Persistent(cb.As<Napi::Function>());
  Napi::Value on_err = opts.Get("onError");
  if (on_err.IsFunction()) on_error_ = Napi::Persistent(on_err.As<Napi::Function>());

  const uint32_t all_kinds = ((1u << CUSTODY_EV_MAX) - 1) & ~1u;
  cfg_.kinds = GetUint(opts, "kinds", all_kinds, 0, all_kinds);
  if (cfg_.kinds & ~all_kinds) throw Napi::RangeError::New(env, "option kinds has unknown bits");
  cfg_.self_tgid = GetUint(opts, "selfTgid", static_cast<uint32_t>(getpid()), 0, 4194304);
  cfg_.filter_pid = GetBool(opts, "filterPid");
  cfg_.filter_cgroup = GetBool(opts, "filterCgroup");
  cfg_.filter_comm = GetBool(opts, "filterComm");
  page_size_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  ring_bytes_ = GetUint(opts, "ringBytes", 8u << 20, static_cast<uint32_t>(page_size_), 1u << 30);
  if (!IsPowerOfTwo(ring_bytes_))
    throw Napi::RangeError::New(env, "option ringBytes must be a power of two, at least the page size");
  batch_bytes_ = GetUint(opts, "batchBytes", 64 * 1024, 1024, 16u << 20);
  flush_ms_ = static_cast<int>(GetUint(opts, "flushMs", 5, 1, 1000));
  max_in_flight_ = static_cast<int>(GetUint(opts, "maxInFlight", 64, 1, 4096));

  if (access(kVmlinuxBtf, R_OK) != 0)
    throw ErrorWithCode(env,
                        std::string("kernel BTF missing: ") + kVmlinuxBtf +
                            " is not readable. custody's eBPF recorder needs a kernel built with "
                            "CONFIG_DEBUG_INFO_BTF=y (and root to read it).",
                        "ENOBTF");
  if (access(path.c_str(), R_OK) != 0)
    throw ErrorWithCode(env, "BPF object not found at " + path + ": run `npm run build:native`.", "ENOOBJ");

  ClearLibbpfLog();
  obj_ = bpf_object__open_file(path.c_str(), nullptr);
  if (!obj_) {
    int err = errno;
    throw ErrorWithCode(env, LibbpfErrorMessage("opening BPF object " + path, err), "ELIBBPF");
  }

  // .rodata: write custody_cfg at the offset BTF gives for it.
  bpf_map* rodata = nullptr;
  bpf_map* m;
  bpf_object__for_each_map(m, obj_) {
    const char* name = bpf_map__name(m);
    size_t len = strlen(name);
    if (len >= 7 && strcmp(name + len - 7, ".rodata") == 0) rodata = m;
  }
  const struct btf* btf = bpf_object__btf(obj_);
  int sec_id = btf ? btf__find_by_name_kind(btf, ".rodata", BTF_KIND_DATASEC) : -1;
  if (!rodata || sec_id < 0) throw Napi::Error::New(env, "BPF object has no .rodata section: rebuild it (npm run build:native)");
  const struct btf_type* sec = btf__type_by_id(btf, sec_id);
  const struct btf_var_secinfo* vsi = btf_var_secinfos(sec);
  long cfg_off = -1;
  for (int i = 0; i < btf_vlen(sec); i++) {
    const struct btf_type* var = btf__type_by_id(btf, vsi[i].type);
    if (strcmp(btf__name_by_offset(btf, var->name_off), "custody_cfg") == 0 && vsi[i].size == sizeof(custody_config))
      cfg_off = vsi[i].offset;
  }
  size_t ro_size = 0;
  const void* ro_init = bpf_map__initial_value(rodata, &ro_size);
  if (cfg_off < 0 || !ro_init || cfg_off + sizeof(custody_config) > ro_size)
    throw Napi::Error::New(env, "BPF object does not match custody_wire.h (custody_cfg): rebuild it (npm run build:native)");
  std::vector<uint8_t> ro(static_cast<const uint8_t*>(ro_init), static_cast<const uint8_t*>(ro_init) + ro_size);
  memcpy(ro.data() + cfg_off, &cfg_, sizeof(cfg_));
  int err = bpf_map__set_initial_value(rodata, ro.data(), ro.size());
  if (err) throw Napi::Error::New(env, LibbpfErrorMessage("setting BPF configuration", err));

  err = bpf_map__set_max_entries(MapByName(env, "events"), ring_bytes_);
  if (err) throw Napi::Error::New(env, LibbpfErrorMessage("sizing the ring buffer", err));

  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_) { bpf_program__set_autoload(prog, ProgramNeeded(bpf_program__name(prog))); }

  err = bpf_object__load(obj_);
  if (err) throw ErrorWithCode(env, LibbpfErrorMessage("loading BPF programs (verifier)", err), "ELIBBPF");

  MapRing(env);

  Napi::Array pids = GetArray(opts, "pids");
  for (uint32_t i = 0; i < pids.Length(); i++) PutPid(env, ToTgid(env, pids.Get(i)));
  Napi::Array cgroups = GetArray(opts, "cgroups");
  for (uint32_t i = 0; i < cgroups.Length(); i++) PutCgroup(env, ToCgroupId(env, cgroups.Get(i)));
  Napi::Array comms = GetArray(opts, "comms");
  for (uint32_t i = 0; i < comms.Length(); i++) PutComm(env, ToString(env, comms.Get(i), "a comm"));
  Napi::Array prefixes = GetArray(opts, "credPrefixes");
  std::vector<std::string> list;
  for (uint32_t i = 0; i < prefixes.Length(); i++) list.push_back(ToString(env, prefixes.Get(i), "a credential prefix"));
  PutCredPrefixes(env, list);
  Napi::Array rates = GetArray(opts, "rateLimits");
  for (uint32_t i = 0; i < rates.Length(); i++) {
    Napi::Value r = rates.Get(i);
    if (!r.IsObject()) throw Napi::TypeError::New(env, "rateLimits entries are {kind, perSec, burst}");
    Napi::Object o = r.As<Napi::Object>();
    PutRateLimit(env, GetUint(o, "kind", 0, 1, CUSTODY_EV_MAX - 1), GetUint(o, "perSec", 0, 0, kMaxRate),
                 GetUint(o, "burst", 0, 0, kMaxRate));
  }
}

// Main thread.
bool Recorder::ProgramNeeded(const char* name) const {
  auto on = [this](int kind) { return (cfg_.kinds & (1u << kind)) != 0; };
  const bool syscalls = on(CUSTODY_EV_CONNECT) || on(CUSTODY_EV_ACCEPT) || on(CUSTODY_EV_OPEN) || on(CUSTODY_EV_CRED);
  const std::string n(name);
  if (n == "handle_exec") return on(CUSTODY_EV_EXEC);
  if (n == "handle_fork") return on(CUSTODY_EV_FORK) || cfg_.filter_pid;  // the pid tree grows at fork
  if (n == "handle_exit") return on(CUSTODY_EV_EXIT) || cfg_.filter_pid || syscalls;  // ... shrinks at exit
  if (n == "handle_sys_enter" || n == "handle_sys_exit") return syscalls;
  if (n == "handle_inet_sock_set_state") return on(CUSTODY_EV_TCP_STATE) || on(CUSTODY_EV_TCP_RESET);  // socket owners
  if (n == "handle_tcp_send_reset" || n == "handle_tcp_receive_reset") return on(CUSTODY_EV_TCP_RESET);
  if (n == "handle_signal_generate") return on(CUSTODY_EV_SIGNAL);
  return false;
}

// Main thread. Read-only views of the ring's consumer and producer positions
// (libbpf 1.1 has no ring__avail_data_size).
void Recorder::MapRing(Napi::Env env) {
  int fd = bpf_map__fd(MapByName(env, "events"));
  cons_page_ = mmap(nullptr, page_size_, PROT_READ, MAP_SHARED, fd, 0);
  if (cons_page_ == MAP_FAILED) {
    cons_page_ = nullptr;
    throw Napi::Error::New(env, std::string("mapping the ring buffer: ") + strerror(errno));
  }
  prod_page_ = mmap(nullptr, page_size_, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(page_size_));
  if (prod_page_ == MAP_FAILED) {
    prod_page_ = nullptr;
    throw Napi::Error::New(env, std::string("mapping the ring buffer: ") + strerror(errno));
  }
}

// Main thread.
bpf_map* Recorder::MapByName(Napi::Env env, const char* name) const {
  bpf_map* map = obj_ ? bpf_object__find_map_by_name(obj_, name) : nullptr;
  if (!map) throw Napi::Error::New(env, std::string("BPF map ") + name + " missing: rebuild the BPF object (npm run build:native)");
  return map;
}

// Main thread.
void Recorder::CheckOpen(Napi::Env env) const {
  if (!obj_) throw Napi::Error::New(env, "recorder is stopped");
}

// Main thread.
void Recorder::PutPid(Napi::Env env, uint32_t tgid) {
  uint32_t one = 1;
  int err = bpf_map__update_elem(MapByName(env, "tracked_tgids"), &tgid, sizeof(tgid), &one, sizeof(one), BPF_ANY);
  if (err) throw Napi::Error::New(env, LibbpfErrorMessage("adding pid " + std::to_string(tgid), err));
}

// Main thread.
void Recorder::PutCgroup(Napi::Env env, uint64_t id) {
  uint8_t one = 1;
  int err = bpf_map__update_elem(MapByName(env, "allowed_cgroups"), &id, sizeof(id), &one, sizeof(one), BPF_ANY);
  if (err) throw Napi::Error::New(env, LibbpfErrorMessage("adding cgroup " + std::to_string(id), err));
}

// Main thread. The kernel keeps 15 bytes of comm; so does the key.
void Recorder::PutComm(Napi::Env env, const std::string& comm) {
  char key[CUSTODY_COMM_LEN] = {0};
  if (comm.empty()) throw Napi::RangeError::New(env, "a comm must not be empty");
  memcpy(key, comm.data(), std::min(comm.size(), sizeof(key) - 1));
  uint8_t one = 1;
  int err = bpf_map__update_elem(MapByName(env, "allowed_comms"), key, sizeof(key), &one, sizeof(one), BPF_ANY);
  if (err) throw Napi::Error::New(env, LibbpfErrorMessage("adding comm " + comm, err));
}

// Main thread. Replaces the prefix set: new entries are written before stale
// ones are removed, so a prefix present in both lists is never unmatched.
void Recorder::PutCredPrefixes(Napi::Env env, const std::vector<std::string>& prefixes) {
  bpf_map* map = MapByName(env, "cred_prefixes");
  std::set<std::string> wanted;
  for (uint32_t i = 0; i < prefixes.size(); i++) {
    const std::string& p = prefixes[i];
    if (p.empty() || p[0] != '/' || p.size() > CUSTODY_PREFIX_LEN)
      throw Napi::RangeError::New(env, "credential prefix \"" + p + "\" must be an absolute path of at most " +
                                           std::to_string(CUSTODY_PREFIX_LEN) + " bytes");
    custody_prefix_key key{};
    key.prefixlen = static_cast<uint32_t>(p.size() * 8);
    memcpy(key.data, p.data(), p.size());
    int err = bpf_map__update_elem(map, &key, sizeof(key), &i, sizeof(i), BPF_ANY);
    if (err) throw Napi::Error::New(env, LibbpfErrorMessage("adding credential prefix " + p, err));
    wanted.insert(p);
  }
  std::vector<custody_prefix_key> stale;
  custody_prefix_key key{}, next{};
  const void* prev = nullptr;
  while (bpf_map__get_next_key(map, prev, &next, sizeof(next)) == 0) {
    std::string p(reinterpret_cast<const char*>(next.data), std::min<uint32_t>(next.prefixlen / 8, CUSTODY_PREFIX_LEN));
    if (!wanted.count(p)) stale.push_back(next);
    key = next;
    prev = &key;
  }
  for (const auto& k : stale) bpf_map__delete_elem(map, &k, sizeof(k), 0);
}

// Main thread.
void Recorder::PutRateLimit(Napi::Env env, uint32_t kind, uint64_t per_sec, uint64_t burst) {
  custody_rate rate{per_sec, burst ? burst : per_sec};
  int err = bpf_map__update_elem(MapByName(env, "rate_limits"), &kind, sizeof(kind), &rate, sizeof(rate), BPF_ANY);
  if (err) throw Napi::Error::New(env, LibbpfErrorMessage("setting a rate limit", err));
}

// Main thread. Sums the per-CPU counters; index = kind.
std::vector<custody_counters> Recorder::ReadCounters() const {
  std::vector<custody_counters> out(CUSTODY_EV_MAX);
  bpf_map* map = obj_ ? bpf_object__find_map_by_name(obj_, "counters") : nullptr;
  int ncpu = libbpf_num_possible_cpus();
  if (!map || ncpu <= 0) return out;
  std::vector<custody_counters> percpu(static_cast<size_t>(ncpu));
  for (uint32_t kind = 0; kind < CUSTODY_EV_MAX; kind++) {
    if (bpf_map__lookup_elem(map, &kind, sizeof(kind), percpu.data(), percpu.size() * sizeof(custody_counters), 0))
      continue;
    for (const auto& c : percpu) {
      out[kind].emitted += c.emitted;
      out[kind].ring_full += c.ring_full;
      out[kind].rate_limited += c.rate_limited;
      out[kind].filtered += c.filtered;
    }
  }
  return out;
}

// Main thread.
void Recorder::DetachAll() {
  for (bpf_link* link : links_) bpf_link__destroy(link);
  links_.clear();
}

// Main thread (after the poll thread has been joined).
void Recorder::FreeBpf() {
  DetachAll();
  if (rb_) ring_buffer__free(rb_);
  rb_ = nullptr;
  if (cons_page_) munmap(cons_page_, page_size_);
  if (prod_page_) munmap(prod_page_, page_size_);
  cons_page_ = prod_page_ = nullptr;
  if (obj_) bpf_object__close(obj_);
  obj_ = nullptr;
}

// Main thread. Attaches the loaded programs, starts the poll thread.
Napi::Value Recorder::Start(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != State::Loaded) throw Napi::Error::New(env, "start(): the recorder was already started");

  bpf_program* prog;
  bpf_object__for_each_program(prog, obj_) {
    if (!bpf_program__autoload(prog)) continue;
    const char* name = bpf_program__name(prog);
    bool optional = false;
    for (const auto& spec : kPrograms)
      if (strcmp(spec.name, name) == 0) optional = spec.optional;
    ClearLibbpfLog();
    bpf_link* link = bpf_program__attach(prog);
    if (!link) {
      int err = errno;
      if (optional) {
        warnings_.push_back(std::string(name) + " not attached: " + strerror(err));
        continue;
      }
      DetachAll();
      throw ErrorWithCode(env, LibbpfErrorMessage(std::string("attaching ") + name, err), "ELIBBPF");
    }
    links_.push_back(link);
    attached_.push_back(name);
  }

  rb_ = ring_buffer__new(bpf_map__fd(MapByName(env, "events")), &Recorder::OnSample, this, nullptr);
  if (!rb_) {
    int err = errno;
    DetachAll();
    throw ErrorWithCode(env, LibbpfErrorMessage("opening the ring buffer", err), "ELIBBPF");
  }

  // Unlimited queue: the poll thread never blocks on JS (stop() joins it from
  // the JS thread); in_flight_ bounds it instead.
  tsfn_ = Tsfn::New(env, on_batch_.Value(), "custody_bpf.batch", 0, 1, this, &Recorder::OnTsfnFinalize,
                    static_cast<void*>(nullptr));
  Ref();  // alive until the TSFN is finalized
  napi_add_env_cleanup_hook(env, &Recorder::EnvCleanup, this);
  batch_.reserve(batch_bytes_ + sizeof(custody_exec));
  running_.store(true);
  state_ = State::Running;
  thread_ = std::thread([this] { PollLoop(); });
  return env.Undefined();
}

// Main thread. Detach (no new records) -> stop and join the poll thread (it
// drains the ring and queues the last batches) -> snapshot counters -> free
// libbpf objects -> release the TSFN last. The promise resolves once every
// queued batch has been delivered to onBatch; then nothing keeps Node alive.
Napi::Value Recorder::Stop(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (state_ != State::Running) {
    if (state_ == State::Loaded) {
      final_counters_ = ReadCounters();
      FreeBpf();
      state_ = State::Stopped;
    }
    Napi::Promise::Deferred done = Napi::Promise::Deferred::New(env);
    done.Resolve(env.Undefined());
    return done.Promise();
  }
  napi_remove_env_cleanup_hook(env, &Recorder::EnvCleanup, this);
  Shutdown();
  stopped_ = new Napi::Promise::Deferred(env);
  Napi::Value promise = stopped_->Promise();
  tsfn_.Release();
  return promise;
}

// Main thread (from stop() or the environment's cleanup).
void Recorder::Shutdown() {
  DetachAll();
  running_.store(false);
  if (thread_.joinable()) thread_.join();
  final_counters_ = ReadCounters();
  FreeBpf();
  state_ = State::Stopped;
}

// Main thread, while Node tears the environment down without stop() (e.g.
// process.exit()): stop the poll thread before the TSFN goes away.
void Recorder::EnvCleanup(void* arg) {
  auto* self = static_cast<Recorder*>(arg);
  self->tearing_down_ = true;
  if (self->state_ == State::Running) self->Shutdown();
}

// Main thread, once the TSFN is released and its queue is empty.
void Recorder::OnTsfnFinalize(Napi::Env env, void*, Recorder* self) {
  if (self->tearing_down_) return;
  if (self->stopped_) {
    self->stopped_->Resolve(env.Undefined());
    delete self->stopped_;
    self->stopped_ = nullptr;
  }
  self->Unref();
}

// Main thread. An error from the poll thread or from onBatch goes to onError
// when given, else it is raised as an uncaught exception (never swallowed).
void Recorder::ReportError(Napi::Env env, Napi::Value err) {
  if (!on_error_.IsEmpty()) {
    try {
      on_error_.Call({err});
      return;
    } catch (const Napi::Error& e) {
      err = e.Value();
    }
  }
  napi_fatal_exception(env, err);
}

// Main thread, for each batch the poll thread queued.
void Recorder::CallJs(Napi::Env env, Napi::Function on_batch, Recorder* self, Batch* batch) {
  self->in_flight_.fetch_sub(1);
  if (!env || !batch || self->tearing_down_) {
    delete batch;
    return;
  }
  if (!batch->error.empty()) {
    Napi::Error err = ErrorWithCode(env, batch->error, "EPOLL");
    delete batch;
    self->ReportError(env, err.Value());
    return;
  }
  // Zero copy: the Buffer owns the batch and frees it when collected.
  Napi::Buffer<uint8_t> buf = Napi::Buffer<uint8_t>::New(
      env, batch->bytes.data(), batch->bytes.size(), [](Napi::Env, uint8_t*, Batch* b) { delete b; }, batch);
  try {
    on_batch.Call({buf});
  } catch (const Napi::Error& e) {
    self->ReportError(env, e.Value());
  }
}

// Poll thread.
void Recorder::PollLoop() {
  while (running_.load()) {
    if (in_flight_.load() >= max_in_flight_) {
      // JS is behind: leave records in the ring. If it overflows, the BPF
      // side counts ring_full per kind; nothing is dropped silently here.
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
      continue;
    }
    // The BPF side wakes this thread only when the ring fills up (see submit() in
    // bpf/common.bpf.h): a timeout is the normal way out of the poll, and what the
    // ring holds is consumed after it either way.
    int n = ring_buffer__poll(rb_, flush_ms_);
    if (n >= 0 || n == -EINTR) n = ring_buffer__consume(rb_);
    if (n < 0 && n != -EINTR && n != kBackpressure) {
      Flush(true);
      char text[128] = {0};
      libbpf_strerror(-n, text, sizeof(text));
      auto* batch = new Batch{{}, std::string("ring buffer poll failed: ") + text + "; recording stopped"};
      in_flight_.fetch_add(1);
      if (tsfn_.NonBlockingCall(batch) != napi_ok) {
        in_flight_.fetch_sub(1);
        delete batch;
      }
      return;
    }
    Flush(false);
  }
  // The programs are detached: what is in the ring now is all there will be.
  draining_ = true;
  while (ring_buffer__consume(rb_) > 0) {
  }
  Flush(true);
}

// Poll thread (inside ring_buffer__poll/consume), once per record.
int Recorder::OnSample(void* ctx, void* data, size_t len) {
  auto* self = static_cast<Recorder*>(ctx);
  const auto* bytes = static_cast<const uint8_t*>(data);
  size_t size = len;
  if (len >= sizeof(custody_hdr)) {
    uint16_t declared = reinterpret_cast<const custody_hdr*>(bytes)->size;  // records with a tail are trimmed
    if (declared >= sizeof(custody_hdr) && declared <= len) size = declared;
  }
  if (self->batch_.empty()) self->batch_started_ = std::chrono::steady_clock::now();
  self->batch_.insert(self->batch_.end(), bytes, bytes + size);
  self->batch_.resize((self->batch_.size() + 7) & ~size_t{7}, 0);
  if (self->batch_.size() >= self->batch_bytes_) {
    self->Flush(true);
    if (!self->draining_ && self->in_flight_.load() >= self->max_in_flight_) return kBackpressure;
  }
  return 0;
}

// Poll thread. Hands the current batch to JS when forced, full, or old enough.
void Recorder::Flush(bool force) {
  if (batch_.empty()) return;
  if (!force && batch_.size() < batch_bytes_ &&
      std::chrono::steady_clock::now() - batch_started_ < std::chrono::milliseconds(flush_ms_))
    return;
  auto* batch = new Batch;
  batch->bytes.swap(batch_);
  batch_.reserve(batch_bytes_ + sizeof(custody_exec));
  in_flight_.fetch_add(1);
  if (tsfn_.NonBlockingCall(batch) != napi_ok) {  // only while Node is shutting down
    in_flight_.fetch_sub(1);
    delete batch;
  }
}

// Main thread. [kind] -> {emitted, ringFull, rateLimited, filtered}; index 0 unused.
Napi::Value Recorder::Counters(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<custody_counters> sums = state_ == State::Stopped ? final_counters_ : ReadCounters();
  Napi::Array out = Napi::Array::New(env, CUSTODY_EV_MAX);
  for (uint32_t kind = 0; kind < CUSTODY_EV_MAX; kind++) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("emitted", Napi::Number::New(env, static_cast<double>(sums[kind].emitted)));
    o.Set("ringFull", Napi::Number::New(env, static_cast<double>(sums[kind].ring_full)));
    o.Set("rateLimited", Napi::Number::New(env, static_cast<double>(sums[kind].rate_limited)));
    o.Set("filtered", Napi::Number::New(env, static_cast<double>(sums[kind].filtered)));
    out.Set(kind, o);
  }
  return out;
}

// Main thread.
Napi::Value Recorder::AddPid(const Napi::CallbackInfo& info) {
  CheckOpen(info.Env());
  PutPid(info.Env(), ToTgid(info.Env(), info[0]));
  return info.Env().Undefined();
}

// Main thread.
Napi::Value Recorder::RemovePid(const Napi::CallbackInfo& info) {
  CheckOpen(info.Env());
  uint32_t tgid = ToTgid(info.Env(), info[0]);
  bpf_map__delete_elem(MapByName(info.Env(), "tracked_tgids"), &tgid, sizeof(tgid), 0);
  return info.Env().Undefined();
}

// Main thread.
Napi::Value Recorder::AddCgroup(const Napi::CallbackInfo& info) {
  CheckOpen(info.Env());
  PutCgroup(info.Env(), ToCgroupId(info.Env(), info[0]));
  return info.Env().Undefined();
}

// Main thread.
Napi::Value Recorder::AddComm(const Napi::CallbackInfo& info) {
  CheckOpen(info.Env());
  PutComm(info.Env(), ToString(info.Env(), info[0], "a comm"));
  return info.Env().Undefined();
}

// Main thread.
Napi::Value Recorder::SetCredPrefixes(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  if (!info[0].IsArray()) throw Napi::TypeError::New(env, "setCredPrefixes(prefixes: string[])");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<std::string> list;
  for (uint32_t i = 0; i < arr.Length(); i++) list.push_back(ToString(env, arr.Get(i), "a credential prefix"));
  PutCredPrefixes(env, list);
  return env.Undefined();
}

// Main thread. setRateLimit(kind, perSec, burst); perSec 0 removes the limit.
Napi::Value Recorder::SetRateLimit(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  CheckOpen(env);
  Napi::Object o = Napi::Object::New(env);
  o.Set("kind", info[0]);
  o.Set("perSec", info[1]);
  o.Set("burst", info[2]);
  PutRateLimit(env, GetUint(o, "kind", 0, 1, CUSTODY_EV_MAX - 1), GetUint(o, "perSec", 0, 0, kMaxRate),
               GetUint(o, "burst", 0, 0, kMaxRate));
  return env.Undefined();
}

// Main thread. Bytes written by the kernel and not yet consumed / ring size.
Napi::Value Recorder::RingFill(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!cons_page_ || !prod_page_) return Napi::Number::New(env, 0);
  uint64_t cons = __atomic_load_n(static_cast<const uint64_t*>(cons_page_), __ATOMIC_ACQUIRE);
  uint64_t prod = __atomic_load_n(static_cast<const uint64_t*>(prod_page_), __ATOMIC_ACQUIRE);
  return Napi::Number::New(env, static_cast<double>(prod - cons) / ring_bytes_);
}

// Main thread.
Napi::Value Recorder::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  auto strings = [&env](const std::vector<std::string>& v) {
    Napi::Array a = Napi::Array::New(env, v.size());
    for (uint32_t i = 0; i < v.size(); i++) a.Set(i, v[i]);
    return a;
  };
  std::vector<std::string> loaded;
  if (obj_) {
    bpf_program* prog;
    bpf_object__for_each_program(prog, obj_) {
      if (bpf_program__autoload(prog)) loaded.push_back(bpf_program__name(prog));
    }
  }
  out.Set("state", state_ == State::Loaded ? "loaded" : state_ == State::Running ? "running" : "stopped");
  out.Set("loaded", strings(loaded));
  out.Set("attached", strings(attached_));
  out.Set("warnings", strings(warnings_));
  out.Set("kinds", Napi::Number::New(env, cfg_.kinds));
  out.Set("ringBytes", Napi::Number::New(env, ring_bytes_));
  out.Set("selfTgid", Napi::Number::New(env, cfg_.self_tgid));
  return out;
}

}  // namespace custody
